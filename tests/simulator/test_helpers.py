"""Tests of /sim/ helpers, the demo seed and embedding."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from aiohttp import web
import pytest

from elks_simulator import DEMO_PASSWORD, DEMO_USERNAME, Callee, Simulator

from .conftest import VOICE_NUMBER, Api, Receiver, basic


async def test_sim_audio(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """/sim/audio serves small mp3/wav bodies without auth."""
    async with http.get(sim.audio_url("hello.mp3")) as resp:
        assert resp.status == 200
        assert resp.content_type == "audio/mpeg"
        body = await resp.read()
        assert body[:2] == b"\xff\xfb"
    async with http.get(sim.audio_url("Prompt.WAV")) as resp:
        assert resp.status == 200
        assert resp.content_type == "audio/wav"
        body = await resp.read()
        assert body[:4] == b"RIFF"
        assert body[8:12] == b"WAVE"
    assert all(not r.path.startswith("/sim") for r in sim.requests)


async def test_sim_wait(sim: Simulator, api: Api, http: aiohttp.ClientSession) -> None:
    """/sim/calls/{id}/wait returns the finished call, 404/504 otherwise."""
    sim.set_callee("+46700000101", Callee.answer(after=1.0))
    reply = await api.call("+46700000101", {"play": "sound/beep"})
    async with http.get(
        f"{sim.root_url}/sim/calls/{reply['id']}/wait", params={"timeout": "60"}
    ) as resp:
        assert resp.status == 200
        data = await resp.json()
    assert data["id"] == reply["id"]
    assert data["state"] == "success"
    assert data["duration"] == 3
    async with http.get(f"{sim.root_url}/sim/calls/cnope/wait") as resp:
        assert resp.status == 404
    sim.set_callee("+46700000103", Callee.no_answer())
    sim.time_scale = 1.0  # rings 300 real seconds: certainly still running
    slow = await api.call("+46700000103", {"play": "sound/beep"}, timeout=300)
    async with http.get(
        f"{sim.root_url}/sim/calls/{slow['id']}/wait", params={"timeout": "0.01"}
    ) as resp:
        assert resp.status == 504


async def test_sim_put_callee(
    sim: Simulator, api: Api, http: aiohttp.ClientSession
) -> None:
    """PUT /sim/callees/{number} scripts a callee from another process."""
    url = f"{sim.root_url}/sim/callees/+46700000777"
    async with http.put(
        url, json={"kind": "answer", "after": 1, "talk": 5, "presses": [[2, "1"]]}
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["kind"] == "answer"
    assert sim.callees["+46700000777"] == Callee.answer(
        after=1.0, talk=5.0, presses=[(2.0, "1")]
    )
    reply = await api.call("+46700000777", {"ivr": "sound/beep", "1": {"hangup": "x"}})
    call = await sim.wait_call_finished(reply["id"])
    assert call.actions == [{"ivr": "sound/beep", "result": "1"}, {"hangup": "x"}]

    async with http.put(url, json={"kind": "busy"}) as resp:
        assert resp.status == 200
    reply = await api.call("+46700000777", {"play": "sound/beep"})
    assert (await sim.wait_call_finished(reply["id"])).state == "busy"

    for bad in ({"kind": "sing"}, [1], {"kind": "answer", "after": "soon"}):
        async with http.put(url, json=bad) as resp:
            assert resp.status == 400
    async with http.put(
        f"{sim.root_url}/sim/callees/12345", json={"kind": "busy"}
    ) as resp:
        assert resp.status == 400
    async with http.get(f"{sim.root_url}/sim/callees") as resp:
        assert (await resp.json())["+46700000777"]["kind"] == "busy"


@pytest.mark.parametrize(
    ("number", "state"),
    [
        ("+46700000101", "success"),
        ("+46700000102", "busy"),
        ("+46700000103", "failed"),
        ("+46700000104", "failed"),
        ("+46700000105", "success"),
        ("+46700000106", "success"),
    ],
)
async def test_seed_demo(
    sim: Simulator, http: aiohttp.ClientSession, number: str, state: str
) -> None:
    """The demo account has fixed credentials, numbers and callees."""
    demo = sim.seed_demo()
    assert demo.account.username == DEMO_USERNAME == "demo"
    assert demo.account.password == DEMO_PASSWORD == "demo-secret"
    assert demo.account.mobilenumber == "+46700000000"
    assert set(demo.callees) == {f"+4670000010{i}" for i in range(1, 7)}
    api = Api(http, sim, basic("demo", "demo-secret"))
    numbers = {n["number"]: n for n in (await api.get_json("/numbers"))["data"]}
    assert numbers[VOICE_NUMBER]["active"] == "yes"
    assert "voice" in numbers[VOICE_NUMBER]["capabilities"]
    assert numbers[demo.sms_number.number]["capabilities"] == ["sms"]
    assert numbers[demo.inactive_number.number]["active"] == "no"
    flow = {"ivr": "sound/beep", "1": {"play": "sound/dtmf/1"}}
    reply = await api.call(number, flow)
    call = await sim.wait_call_finished(reply["id"])
    assert call.state == state
    if number == "+46700000106":
        assert call.actions[0]["result"] == "1"
    if number == "+46700000105":
        assert call.actions[0]["result"] == "failed"


async def test_make_app_embedding() -> None:
    """make_app() can be served by a caller; its shutdown stops the simulator's tasks."""
    sim = Simulator(time_scale=1.0)  # the call rings 300 real seconds: still running
    acct = sim.add_account(username="e", password="p")
    sim.add_number(acct, VOICE_NUMBER)
    sim.set_callee("+46700000103", Callee.no_answer())
    runner = web.AppRunner(sim.make_app(), shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server  # noqa: SLF001
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}/a1/calls",
            data={
                "from": VOICE_NUMBER,
                "to": "+46700000103",
                "voice_start": json.dumps({"play": "sound/beep"}),
                "timeout": "300",
            },
            headers=basic("e", "p"),
        ) as resp,
    ):
        assert resp.status == 200
        call_id = (await resp.json())["id"]
    assert not sim.calls[call_id].finished.is_set()
    await runner.cleanup()
    assert sim.calls[call_id].finished.is_set()
    await sim.stop()


# Half of the round trip each way; 1 ms for the event loop's clock resolution.
ROUND_TRIP = 0.04
SLACK = 0.001


async def test_round_trip_delays_requests_and_deliveries(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """round_trip puts 46elks at a distance: API requests and webhooks take longer.

    Only lower bounds are checked: sleeping never ends early, however busy
    the machine.
    """
    loop = asyncio.get_running_loop()
    sim.round_trip = ROUND_TRIP
    sim.set_callee("+46700000104", Callee.busy(after=0.0))

    start = loop.time()
    await api.get_json("/me")
    assert loop.time() - start >= ROUND_TRIP - SLACK

    start = loop.time()
    reply = await api.call(
        "+46700000104", {"play": "sound/beep"}, whenhangup=receiver.url("/hangup")
    )
    answered = loop.time()
    assert answered - start >= ROUND_TRIP - SLACK
    await sim.wait_call_finished(reply["id"])
    finished = loop.time()
    [(_, _, form, arrived)] = [r for r in receiver.received if r[1] == "/hangup"]
    assert form["id"] == reply["id"]
    # Read after half the way there; the hangup travels half the way back.
    assert arrived - start >= ROUND_TRIP - SLACK
    # Its answer travels back to 46elks before the call is done.
    assert finished - arrived >= ROUND_TRIP / 2 - SLACK
