"""End-to-end call lifecycle tests: callees, flows, webhooks."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
from typing import Any

import aiohttp
import pytest

from elks_simulator import Account, Callee, Simulator, parse_timestamp

from .conftest import PASSWORD, TIME_SCALE, USERNAME, VOICE_NUMBER, Api, Receiver, basic

WHENHANGUP_ANSWERED = {
    "id", "direction", "from", "to", "created", "state",
    "start", "duration", "cost", "actions", "legs",
}  # fmt: skip
WHENHANGUP_UNANSWERED = {"id", "direction", "from", "to", "created", "state"}
CALLEE = "+46700000101"


async def finish(sim: Simulator, reply: dict[str, Any]) -> Any:
    """Wait for the call of a POST reply to finish."""
    return await sim.wait_call_finished(reply["id"])


def seconds_between(start: str, end: str) -> float:
    """Return the seconds between two 46elks timestamps."""
    return (parse_timestamp(end) - parse_timestamp(start)).total_seconds()


async def test_answered_call_whenhangup(
    sim: Simulator, api: Api, receiver: Receiver, account: Account
) -> None:
    """An answered call posts the full whenhangup payload and is charged."""
    sim.set_callee(CALLEE, Callee.answer(after=2.0, talk=10.0))
    audio = sim.audio_url("hello.mp3")
    reply = await api.call(CALLEE, {"play": audio}, receiver.url("/hangup"))
    call = await finish(sim, reply)
    forms = receiver.forms("/hangup")
    assert len(forms) == 1
    form = forms[0]
    assert set(form) == WHENHANGUP_ANSWERED
    assert form["id"] == reply["id"]
    assert form["direction"] == "outgoing"
    assert form["from"] == VOICE_NUMBER
    assert form["to"] == CALLEE
    assert form["created"] == reply["created"]
    assert form["state"] == "success"
    assert seconds_between(form["created"], form["start"]) == pytest.approx(2.0)
    assert form["duration"] == "3"
    assert form["cost"] == "3500"
    assert json.loads(form["actions"]) == [{"play": audio, "result": "success"}]
    assert json.loads(form["legs"]) == []
    assert call.state == "success"
    assert call.duration == 3
    assert account.balance == 10_000_000 - 3500
    audio_gets = [d for d in sim.deliveries if d.kind == "audio"]
    assert [(d.method, d.url, d.status) for d in audio_gets] == [("GET", audio, 200)]


async def test_callee_hangs_up_mid_flow(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """answer(talk=N) ends the flow after N simulated seconds of talk."""
    sim.set_callee(CALLEE, Callee.answer(after=1.0, talk=4.0))
    flow = {
        "play": "sound/beep",
        "next": {"play": "sound/beep", "next": {"play": "sound/dtmf/1"}},
    }
    reply = await api.call(CALLEE, flow, receiver.url("/hangup"))
    call = await finish(sim, reply)
    assert call.duration == 4
    assert call.actions == [
        {"play": "sound/beep", "result": "success"},
        {"play": "sound/beep"},
    ]
    assert receiver.forms("/hangup")[0]["duration"] == "4"


async def test_default_callee_answers_after_one_second(
    sim: Simulator, api: Api
) -> None:
    """A number without a script answers after 1 s and hangs up when the flow ends."""
    reply = await api.call("+46700000999", {"hangup": "reject"})
    call = await finish(sim, reply)
    assert call.state == "success"
    assert call.start is not None
    assert seconds_between(call.created, call.start) == pytest.approx(1.0)
    assert call.duration == 0
    assert call.cost == 0
    assert call.actions == [{"hangup": "reject"}]


async def test_busy(
    sim: Simulator, api: Api, receiver: Receiver, account: Account
) -> None:
    """Busy: state busy, whenhangup without start/duration/cost, no voice_start fetch."""
    sim.set_callee(CALLEE, Callee.busy())
    reply = await api.call(CALLEE, receiver.url("/start"), receiver.url("/hangup"))
    assert reply["state"] == "ongoing"
    call = await finish(sim, reply)
    assert call.state == "busy"
    assert call.start is None
    form = receiver.forms("/hangup")[0]
    assert set(form) == WHENHANGUP_UNANSWERED
    assert form["state"] == "busy"
    assert receiver.forms("/start") == []
    assert account.balance == 10_000_000
    data = await api.get_json(f"/calls/{reply['id']}")
    assert "start" not in data
    assert "cost" not in data


async def test_no_answer_rings_until_timeout(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """no_answer: the call fails after its timeout; late answers count as no answer."""
    sim.set_callee(CALLEE, Callee.no_answer())
    sim.set_callee("+46700000102", Callee.answer(after=20.0))
    reply = await api.call(
        CALLEE, {"play": "sound/beep"}, receiver.url("/a"), timeout=5
    )
    late = await api.call(
        "+46700000102", {"play": "sound/beep"}, receiver.url("/b"), timeout=10
    )
    for r in (reply, late):
        call = await finish(sim, r)
        assert call.state == "failed"
        assert call.start is None
        assert call.actions == []
    for path in ("/a", "/b"):
        form = receiver.forms(path)[0]
        assert set(form) == WHENHANGUP_UNANSWERED
        assert form["state"] == "failed"


async def test_no_answer_default_timeout_is_60(sim: Simulator, api: Api) -> None:
    """Without timeout, a callee answering after 59 s is answered, after 61 s not."""
    sim.set_callee("+46700000201", Callee.answer(after=59.0))
    sim.set_callee("+46700000202", Callee.answer(after=61.0))
    ok = await api.call("+46700000201", {"hangup": "reject"})
    late = await api.call("+46700000202", {"hangup": "reject"})
    assert (await finish(sim, ok)).state == "success"
    assert (await finish(sim, late)).state == "failed"


async def test_fail_immediately(sim: Simulator, api: Api, receiver: Receiver) -> None:
    """fail(): the POST reply already says failed and whenhangup is delivered."""
    sim.set_callee(CALLEE, Callee.fail())
    reply = await api.call(CALLEE, {"play": "sound/beep"}, receiver.url("/hangup"))
    assert reply["state"] == "failed"
    await finish(sim, reply)
    form = receiver.forms("/hangup")[0]
    assert form["state"] == "failed"
    assert set(form) == WHENHANGUP_UNANSWERED


async def test_voicemail_never_presses(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """Voicemail answers, gives no ivr input and hangs up when the flow ends."""
    sim.set_callee(CALLEE, Callee.voicemail(after=3.0))
    flow = {
        "ivr": "sound/beep",
        "timeout": 5,
        "repeat": 2,
        "next": receiver.url("/next"),
    }
    receiver.reply("/next", {"play": "sound/beep"})
    reply = await api.call(CALLEE, flow, receiver.url("/hangup"))
    call = await finish(sim, reply)
    assert seconds_between(call.created, call.start) == pytest.approx(3.0)
    assert call.actions == [
        {"ivr": "sound/beep", "result": "failed", "why": "noinput"},
        {"play": "sound/beep", "result": "success"},
    ]
    assert call.duration == 5 + 5 + 3
    nxt = receiver.forms("/next")[0]
    assert nxt["result"] == "failed"
    assert nxt["why"] == "noinput"


async def test_voice_start_url_and_next_chain(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """voice_start URL gets newoutgoing; next URLs get result and caller data."""
    sim.set_callee(CALLEE, Callee.answer(after=1.0))
    receiver.reply("/start", {"play": "sound/beep", "next": receiver.url("/n1")})
    receiver.reply(
        "/n1",
        {"play": "http://127.0.0.1:1/unreachable.mp3", "next": receiver.url("/n2")},
    )
    receiver.reply("/n2", {"hangup": "reject"})
    reply = await api.call(CALLEE, receiver.url("/start"), receiver.url("/hangup"))
    call = await finish(sim, reply)
    start = receiver.forms("/start")
    assert start == [
        {
            "callid": reply["id"],
            "direction": "outgoing",
            "from": VOICE_NUMBER,
            "to": CALLEE,
            "result": "newoutgoing",
        }
    ]
    assert receiver.forms("/n1") == [
        {
            "callid": reply["id"],
            "direction": "outgoing",
            "from": VOICE_NUMBER,
            "to": CALLEE,
            "result": "success",
        }
    ]
    assert receiver.forms("/n2")[0]["result"] == "failed"
    assert call.actions == [
        {"play": "sound/beep", "result": "success"},
        {"play": "http://127.0.0.1:1/unreachable.mp3", "result": "failed"},
        {"hangup": "reject"},
    ]
    kinds = [d.kind for d in sim.deliveries]
    assert kinds == ["voice_start", "next", "audio", "next", "whenhangup"]
    assert sim.deliveries[2].status is None


async def test_play_fetch_404_fails(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """A play URL answering 404 gives result failed and no play time."""
    receiver.reply("/missing.mp3", (404, "nope"))
    reply = await api.call(
        "+46700000999",
        {"play": receiver.url("/missing.mp3"), "next": {"hangup": "reject"}},
    )
    call = await finish(sim, reply)
    assert call.actions[0] == {"play": receiver.url("/missing.mp3"), "result": "failed"}
    assert call.duration == 0


@pytest.mark.parametrize(
    ("presses", "expected_action", "expected_duration"),
    [
        ([(2.0, "1")], {"play": "sound/dtmf/1", "result": "success"}, 2 + 3),
        ([(4.0, "3")], {"play": "sound/dtmf/3", "result": "success"}, 4 + 3),
    ],
)
async def test_ivr_key_map_inline(
    sim: Simulator,
    api: Api,
    presses: list[tuple[float, str]],
    expected_action: dict[str, str],
    expected_duration: int,
) -> None:
    """A pressed digit with an inline key map entry runs that action."""
    sim.set_callee(CALLEE, Callee.answer(after=1.0, presses=presses))
    flow = {
        "ivr": "sound/beep",
        "1": {"play": "sound/dtmf/1"},
        "3": {"play": "sound/dtmf/3"},
        "next": "http://127.0.0.1:1/never",
    }
    call = await finish(sim, await api.call(CALLEE, flow))
    assert call.actions == [
        {"ivr": "sound/beep", "result": presses[0][1]},
        expected_action,
    ]
    assert call.duration == expected_duration
    assert not [d for d in sim.deliveries if d.kind == "next"]


async def test_ivr_key_map_url(sim: Simulator, api: Api, receiver: Receiver) -> None:
    """A key map URL is POSTed with result=<digit>."""
    sim.set_callee(CALLEE, Callee.answer(after=1.0, presses=[(1.0, "2")]))
    receiver.reply("/two", {"hangup": "reject"})
    flow = {
        "ivr": sim.audio_url("menu.mp3"),
        "2": receiver.url("/two"),
        "next": receiver.url("/next"),
    }
    call = await finish(sim, await api.call(CALLEE, flow))
    assert receiver.forms("/two")[0]["result"] == "2"
    assert receiver.forms("/next") == []
    assert call.actions[-1] == {"hangup": "reject"}


@pytest.mark.parametrize(
    "case", [(1, "7", "7"), (3, "12#", "12"), (2, "345", "34"), (4, "9", "9")]
)
async def test_ivr_digits_to_next(
    sim: Simulator, api: Api, receiver: Receiver, case: tuple[int, str, str]
) -> None:
    """Without a key map the digits go to next as result; '#' ends input."""
    digits, pressed, result = case
    sim.set_callee(CALLEE, Callee.answer(after=1.0, presses=[(1.0, pressed)]))
    flow = {"ivr": "sound/beep", "digits": digits, "next": receiver.url("/next")}
    receiver.reply("/next", {"hangup": "reject"})
    call = await finish(sim, await api.call(CALLEE, flow))
    form = receiver.forms("/next")[0]
    assert form["result"] == result
    assert "why" not in form
    assert call.actions[0] == {"ivr": "sound/beep", "result": result}


async def test_ivr_repeat_then_input(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """Each ivr attempt consumes one scripted press; too-late presses are no input."""
    sim.set_callee(
        CALLEE, Callee.answer(after=1.0, presses=[(99.0, "1"), (99.0, "1"), (2.0, "5")])
    )
    flow = {
        "ivr": "sound/beep",
        "timeout": 4,
        "repeat": 3,
        "next": receiver.url("/next"),
    }
    call = await finish(sim, await api.call(CALLEE, flow))
    assert receiver.forms("/next")[0]["result"] == "5"
    assert call.duration == 4 + 4 + 2


async def test_ivr_noinput_after_repeats(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """Running out of repeats gives result failed, why noinput."""
    sim.set_callee(
        CALLEE, Callee.answer(after=1.0, presses=[(99.0, "1"), (99.0, "1"), (2.0, "5")])
    )
    flow = {
        "ivr": "sound/beep",
        "timeout": 4,
        "repeat": 2,
        "next": receiver.url("/next"),
    }
    receiver.reply("/next", {"hangup": "reject"})
    call = await finish(sim, await api.call(CALLEE, flow))
    form = receiver.forms("/next")[0]
    assert (form["result"], form["why"]) == ("failed", "noinput")
    assert call.actions == [
        {"ivr": "sound/beep", "result": "failed", "why": "noinput"},
        {"hangup": "reject"},
    ]
    assert call.duration == 8


async def test_ivr_invalid_timeout_falls_back_to_10(sim: Simulator, api: Api) -> None:
    """An ivr timeout outside 1-30 is 10: a press at 20 s is missed, at 9 s taken."""
    sim.set_callee(CALLEE, Callee.answer(after=1.0, presses=[(20.0, "1"), (9.0, "2")]))
    flow = {"ivr": "sound/beep", "timeout": 50, "repeat": 2}
    call = await finish(sim, await api.call(CALLEE, flow))
    assert call.actions == [{"ivr": "sound/beep", "result": "2"}]
    assert call.duration == 10 + 9


async def test_connect_success_records_leg(
    sim: Simulator, api: Api, receiver: Receiver, account: Account
) -> None:
    """connect: first answering target wins; its talk time is the leg duration."""
    sim.set_callee("+46700000301", Callee.busy())
    sim.set_callee("+46700000302", Callee.answer(after=2.0, talk=61.0))
    flow = {
        "connect": "+46700000301,+46700000302",
        "callerid": "+46700000000",
        "next": receiver.url("/next"),
    }
    receiver.reply("/next", {"hangup": "reject"})
    reply = await api.call(CALLEE, flow, receiver.url("/hangup"))
    call = await finish(sim, reply)
    assert receiver.forms("/next")[0]["result"] == "success"
    assert call.actions[0] == {
        "connect": "+46700000301,+46700000302",
        "result": "success",
    }
    won = [leg for leg in call.legs if leg["to"] == "+46700000302"][0]
    assert won["state"] == "success"
    assert won["duration"] == 61
    assert won["from"] == "+46700000000"
    lost = [leg for leg in call.legs if leg["to"] == "+46700000301"][0]
    assert lost["state"] == "busy"
    assert call.duration == 63
    assert call.cost == 2 * 3500
    assert account.balance == 10_000_000 - 7000
    assert json.loads(receiver.forms("/hangup")[0]["legs"]) == call.legs


async def test_connect_default_talk(sim: Simulator, api: Api) -> None:
    """A connected target without talk time talks connect_talk_seconds (5 s)."""
    call = await finish(sim, await api.call(CALLEE, {"connect": "+46700000399"}))
    assert call.legs[0]["duration"] == 5
    assert call.duration == 1 + 5


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (Callee.busy(), "busy"),
        (Callee.no_answer(), "failed"),
        (Callee.fail(), "failed"),
    ],
)
async def test_connect_branches(
    sim: Simulator, api: Api, receiver: Receiver, target: Callee, expected: str
) -> None:
    """Busy/failed targets run the busy/failed action when given, else next."""
    sim.set_callee("+46700000301", target)
    with_branch = {
        "connect": "+46700000301",
        "busy": {"play": "sound/dtmf/2"},
        "failed": {"play": "sound/dtmf/3"},
        "next": receiver.url("/never"),
    }
    call = await finish(sim, await api.call(CALLEE, with_branch))
    branch_play = "sound/dtmf/2" if expected == "busy" else "sound/dtmf/3"
    assert call.actions == [
        {"connect": "+46700000301", "result": expected},
        {"play": branch_play, "result": "success"},
    ]
    assert receiver.forms("/never") == []
    assert call.legs[0]["state"] == expected

    without = {"connect": "+46700000301", "next": receiver.url("/next")}
    receiver.reply("/next", {"hangup": "reject"})
    await finish(sim, await api.call(CALLEE, without))
    assert receiver.forms("/next")[0]["result"] == expected


async def test_connect_timelimit(sim: Simulator, api: Api) -> None:
    """Timelimit caps the connected talk time."""
    sim.set_callee("+46700000301", Callee.answer(after=1.0, talk=100.0))
    call = await finish(
        sim, await api.call(CALLEE, {"connect": "+46700000301", "timelimit": 7})
    )
    assert call.legs[0]["duration"] == 7


@pytest.mark.parametrize("body", ["hello", "", "[1, 2]", '{"dance": true}'])
async def test_badsource_on_non_json_reply(
    sim: Simulator, api: Api, receiver: Receiver, body: str
) -> None:
    """A reply that is not a JSON action hangs up with {"hangup": "badsource"}."""
    receiver.reply("/start", (200, body))
    reply = await api.call(CALLEE, receiver.url("/start"), receiver.url("/hangup"))
    call = await finish(sim, reply)
    assert call.actions == [{"hangup": "badsource"}]
    assert call.state == "success"
    assert json.loads(receiver.forms("/hangup")[0]["actions"]) == [
        {"hangup": "badsource"}
    ]


async def test_badsource_on_next(sim: Simulator, api: Api, receiver: Receiver) -> None:
    """A non-JSON next reply also ends the call with badsource."""
    receiver.reply("/next", (200, "<html>oops</html>"))
    call = await finish(
        sim,
        await api.call(CALLEE, {"play": "sound/beep", "next": receiver.url("/next")}),
    )
    assert call.actions == [
        {"play": "sound/beep", "result": "success"},
        {"hangup": "badsource"},
    ]


async def test_voice_start_retried_then_badsource(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """A failing voice_start webhook is retried webhook_retries times, then badsource."""
    receiver.reply("/start", default=(500, "boom"))
    call = await finish(sim, await api.call(CALLEE, receiver.url("/start")))
    attempts = [d.attempt for d in sim.deliveries if d.kind == "voice_start"]
    assert attempts == [1, 2, 3, 4, 5, 6]
    assert len(receiver.forms("/start")) == 6
    assert call.actions == [{"hangup": "badsource"}]


async def test_voice_start_recovers_after_retry(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """A voice_start webhook answering 503 once is retried and the flow runs."""
    receiver.reply("/start", (503, "later"), {"play": "sound/beep"})
    call = await finish(sim, await api.call(CALLEE, receiver.url("/start")))
    assert call.actions == [{"play": "sound/beep", "result": "success"}]
    assert [d.status for d in sim.deliveries if d.kind == "voice_start"] == [503, 200]


async def test_whenhangup_retry_backoff(account: Account, receiver: Receiver) -> None:
    """Non-2xx whenhangup replies are retried with exponential back-off, bounded."""
    sim = Simulator(time_scale=0.01)
    sim.accounts[account.id] = account
    sim.add_number(account, "+46766860099")
    await sim.start(host="127.0.0.1", port=0)
    try:
        receiver.reply("/hangup", default=(500, "err"))
        async with aiohttp.ClientSession() as session:
            api = Api(session, sim, basic(USERNAME, PASSWORD))
            status, text = await api.post_call(
                from_="+46766860099",
                to="+46700000999",
                voice_start='{"hangup": "reject"}',
                whenhangup=receiver.url("/hangup"),
            )
            assert status == 200, text
            call_id = json.loads(text)["id"]
            await sim.wait_call_finished(call_id)
        attempts = [d for d in sim.deliveries if d.kind == "whenhangup"]
        assert [d.attempt for d in attempts] == [1, 2, 3, 4, 5, 6]
        assert all(d.status == 500 and d.response_text == "err" for d in attempts)
        times = [t for _, p, _, t in receiver.received if p == "/hangup"]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        for gap, expected in zip(gaps, [1, 2, 4, 8, 16], strict=True):
            assert gap >= expected * 0.01 * 0.9
        await asyncio.sleep(0.3)
        assert len(receiver.forms("/hangup")) == 6
    finally:
        await sim.stop()


async def test_whenhangup_retry_succeeds(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """wait_call_finished resolves only after the successful (third) attempt."""
    receiver.reply("/hangup", (500, "a"), (502, "b"), (200, "ok"))
    call = await finish(
        sim, await api.call(CALLEE, {"hangup": "reject"}, receiver.url("/hangup"))
    )
    assert call.finished.is_set()
    assert len(receiver.forms("/hangup")) == 3
    assert [d.status for d in sim.deliveries if d.kind == "whenhangup"] == [
        500,
        502,
        200,
    ]


async def test_whenhangup_connection_error(sim: Simulator, api: Api) -> None:
    """An unreachable whenhangup URL is attempted 1 + webhook_retries times."""
    sim.webhook_retries = 2
    call = await finish(
        sim, await api.call(CALLEE, {"hangup": "reject"}, "http://127.0.0.1:1/hangup")
    )
    attempts = [d for d in sim.deliveries if d.kind == "whenhangup"]
    assert [d.attempt for d in attempts] == [1, 2, 3]
    assert all(d.status is None for d in attempts)
    assert call.state == "success"


async def test_whenhangup_set_on_action(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """Whenhangup on an action overrides the call's URL."""
    flow = {"play": "sound/beep", "whenhangup": receiver.url("/late")}
    await finish(sim, await api.call(CALLEE, flow, receiver.url("/early")))
    assert receiver.forms("/early") == []
    assert receiver.forms("/late")[0]["state"] == "success"


async def test_record_and_recordcall(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """Record posts the recording; recordcall posts the whole call at its end."""
    flow = {
        "recordcall": receiver.url("/callrec"),
        "play": "sound/beep",
        "next": {"record": receiver.url("/rec"), "timelimit": 2},
    }
    reply = await api.call(CALLEE, flow)
    call = await finish(sim, reply)
    rec = receiver.forms("/rec")[0]
    assert set(rec) == {"callid", "created", "duration", "wav", "from", "to"}
    assert rec["callid"] == reply["id"]
    assert rec["duration"] == "2"
    assert call.actions[-1] == {"record": receiver.url("/rec"), "result": "success"}
    callrec = receiver.forms("/callrec")[0]
    assert callrec["duration"] == str(call.duration) == "5"
    async with api.session.get(rec["wav"]) as resp:
        assert resp.status == 200


async def test_action_loop_is_bounded(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """A webhook that always returns another action cannot keep a call forever."""
    sim.max_actions = 5
    receiver.reply(
        "/loop", default={"play": "sound/beep", "next": receiver.url("/loop")}
    )
    call = await finish(sim, await api.call(CALLEE, receiver.url("/loop")))
    assert len([a for a in call.actions if "play" in a]) == 5
    assert call.actions[-1] == {"hangup": "toomanyactions"}


async def test_wait_call_finished_timeout_and_unknown(sim: Simulator, api: Api) -> None:
    """wait_call_finished raises TimeoutError while ringing, KeyError for unknown ids."""
    sim.set_callee(CALLEE, Callee.no_answer())
    sim.time_scale = 1.0  # rings 300 real seconds: certainly still ringing
    reply = await api.call(CALLEE, {"hangup": "reject"}, timeout=300)
    with pytest.raises(TimeoutError):
        await sim.wait_call_finished(reply["id"], timeout=0.05)
    assert not sim.calls[reply["id"]].finished.is_set()
    with pytest.raises(KeyError):
        await sim.wait_call_finished("cdeadbeef")
    sim.time_scale = TIME_SCALE
    reply = await api.call(CALLEE, {"hangup": "reject"}, timeout=5)
    call = await sim.wait_call_finished(reply["id"])
    assert call.state == "failed"


async def test_timestamps_are_simulated(sim: Simulator, api: Api) -> None:
    """Start is created + ring time in simulated seconds."""
    sim.set_callee(CALLEE, Callee.answer(after=42.0))
    call = await finish(sim, await api.call(CALLEE, {"hangup": "reject"}))
    assert call.start is not None
    assert parse_timestamp(call.start) - parse_timestamp(call.created) == timedelta(
        seconds=42
    )
    assert TIME_SCALE < 0.01
