"""Incoming calls: a caller dials one of the account's numbers."""

from __future__ import annotations

import aiohttp
import pytest

from elks_simulator import Account, Simulator

from .conftest import VOICE_NUMBER, Receiver

CALLER = "+46701111111"


@pytest.fixture
def number(sim: Simulator, account: Account, receiver: Receiver) -> str:
    """Point the voice number's calls at the receiver; return the number."""
    [found] = [n for n in sim.numbers.values() if n.number == VOICE_NUMBER]
    found.voice_start = receiver.url("/incoming")
    return VOICE_NUMBER


async def test_rejected_call_is_never_answered(
    sim: Simulator, receiver: Receiver, number: str
) -> None:
    """voice_start is asked as 46elks does; a busy first action answers nothing."""
    receiver.reply(
        "/incoming",
        {"hangup": "busy", "whenhangup": receiver.url("/hangup")},
    )
    result = await sim.dial_in(from_=CALLER, to=number)
    [asked] = receiver.forms("/incoming")
    assert asked == {
        "direction": "incoming",
        "callid": result.call.id,
        "from": CALLER,
        "to": number,
        "created": result.call.created,
    }
    assert not result.answered
    assert result.call.state == "busy"
    assert result.call.start is None
    [hangup] = receiver.forms("/hangup")
    assert hangup["id"] == result.call.id
    assert hangup["direction"] == "incoming"
    assert "start" not in hangup


async def test_answered_call_runs_the_actions(
    sim: Simulator, receiver: Receiver, number: str
) -> None:
    """An ivr answers the call; the caller's keys reach next; hanging up ends it."""
    receiver.reply(
        "/incoming",
        default={"ivr": "sound/beep", "digits": 1, "next": receiver.url("/next")},
    )
    receiver.reply("/next", default={"play": "sound/beep"})
    result = await sim.dial_in(from_=CALLER, to=number, presses=[(1.0, "5")])
    assert result.answered
    assert result.call.state == "success"
    assert [a["result"] for a in result.actions] == ["5", "success"]
    assert receiver.forms("/next")[0]["result"] == "5"
    gone = await sim.dial_in(from_=CALLER, to=number, hang_up_after=0.5)
    assert gone.answered
    assert gone.call.duration == 0


async def test_dial_in_over_http(
    sim: Simulator, receiver: Receiver, number: str, http: aiohttp.ClientSession
) -> None:
    """POST /sim/dial_in runs the same; a number that takes no calls is a 400."""
    receiver.reply("/incoming", default={"hangup": "reject"})
    assert sim.root_url is not None
    async with http.post(
        f"{sim.root_url}/sim/dial_in", json={"from": CALLER, "to": number}
    ) as response:
        assert response.status == 200
        body = await response.json()
    assert body["answered"] is False
    assert body["actions"] == [{"hangup": "reject"}]
    assert body["call"]["direction"] == "incoming"
    async with http.post(
        f"{sim.root_url}/sim/dial_in", json={"from": CALLER, "to": "+46700009999"}
    ) as response:
        assert response.status == 400
    with pytest.raises(KeyError):
        await sim.dial_in(from_=CALLER, to="+46766860003")
