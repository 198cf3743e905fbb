"""Fault injection tests."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from elks_simulator import Callee, Simulator

from .conftest import VOICE_NUMBER, Api, Receiver

CALLEE = "+46700000101"
PLAY = json.dumps({"play": "sound/beep"})


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_fail_next(sim: Simulator, api: Api, status: int) -> None:
    """fail_next answers the next request with the status; the following one works."""
    sim.faults.fail_next(status=status, body="Oops")
    code, text, headers = await api.request(
        "POST", "/calls", data={"from": VOICE_NUMBER, "to": CALLEE, "voice_start": PLAY}
    )
    assert code == status
    assert text == "Oops"
    assert (headers.get("Retry-After") == "1") == (status == 429)
    assert sim.calls == {}
    assert sim.requests[-1].status == status
    assert sim.requests[-1].fault == "fail"
    assert sim.requests[-1].form["to"] == CALLEE
    code, _ = await api.post_call(from_=VOICE_NUMBER, to=CALLEE, voice_start=PLAY)
    assert code == 200
    assert len(sim.calls) == 1


async def test_fail_next_count_and_path(sim: Simulator, api: Api) -> None:
    """Count and path select which requests fail; paths match case-insensitively."""
    sim.faults.fail_next(status=503, count=2, path="/a1/me")
    code, _ = await api.post_call(from_=VOICE_NUMBER, to=CALLEE, voice_start=PLAY)
    assert code == 200
    assert (await api.request("GET", "/Me"))[0] == 503
    assert (await api.request("GET", "/me"))[0] == 503
    assert (await api.request("GET", "/me"))[0] == 200
    sim.faults.fail_next(path=None)
    assert (await api.request("GET", "/numbers"))[0] == 500
    sim.faults.fail_next(path="/a1/calls*", method="GET")
    code, _ = await api.post_call(from_=VOICE_NUMBER, to=CALLEE, voice_start=PLAY)
    assert code == 200
    assert (await api.request("GET", "/calls/cabc"))[0] == 500


async def test_fault_applies_before_auth(sim: Simulator, api: Api) -> None:
    """A faulted request fails even with bad credentials, and is recorded."""
    sim.faults.fail_next(status=502, path="/a1/me")
    assert (await api.request("GET", "/me", headers={}))[0] == 502
    assert sim.requests[-1].username is None


async def test_delay_next_triggers_client_timeout(sim: Simulator, api: Api) -> None:
    """delay_next answers late (wall seconds); the call is created meanwhile."""
    sim.faults.delay_next(0.5)
    with pytest.raises(TimeoutError):
        await api.request(
            "POST",
            "/calls",
            data={"from": VOICE_NUMBER, "to": CALLEE, "voice_start": PLAY},
            timeout=aiohttp.ClientTimeout(total=0.1),
        )
    assert len(sim.calls) == 1
    sim.faults.delay_next(0.2, path="/a1/me")
    began = time.perf_counter()
    code, _, _ = await api.request("GET", "/me")
    assert code == 200
    assert time.perf_counter() - began >= 0.2


async def test_drop_next(sim: Simulator, api: Api) -> None:
    """drop_next closes the connection without a response and creates nothing."""
    sim.faults.drop_next()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.post_call(from_=VOICE_NUMBER, to=CALLEE, voice_start=PLAY)
    assert sim.calls == {}
    assert sim.requests[-1].fault == "drop"
    assert sim.requests[-1].status is None
    code, _ = await api.post_call(from_=VOICE_NUMBER, to=CALLEE, voice_start=PLAY)
    assert code == 200


async def test_drop_after_processing(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """drop_next(after_processing=True): the call exists and runs, the reply is lost."""
    sim.faults.drop_next(after_processing=True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.post_call(
            from_=VOICE_NUMBER,
            to=CALLEE,
            voice_start=PLAY,
            whenhangup=receiver.url("/hangup"),
        )
    assert len(sim.calls) == 1
    call = next(iter(sim.calls.values()))
    await sim.wait_call_finished(call.id)
    assert receiver.forms("/hangup")[0]["id"] == call.id
    assert (await api.get_json(f"/calls/{call.id}"))["state"] == "success"


async def test_duplicate_webhooks(sim: Simulator, api: Api, receiver: Receiver) -> None:
    """duplicate_webhooks sends every whenhangup twice."""
    sim.faults.duplicate_webhooks = True
    reply = await api.call(CALLEE, {"hangup": "reject"}, receiver.url("/hangup"))
    await sim.wait_call_finished(reply["id"])
    forms = receiver.forms("/hangup")
    assert len(forms) == 2
    assert forms[0] == forms[1]


@pytest.mark.parametrize("reverse", [False, True])
async def test_hold_and_release(
    sim: Simulator, api: Api, receiver: Receiver, reverse: bool
) -> None:
    """Held whenhangups are queued until released, in order or reversed."""
    sim.faults.hold_webhooks()
    ids = []
    for _ in range(3):
        reply = await api.call(CALLEE, {"hangup": "reject"}, receiver.url("/hangup"))
        ids.append(reply["id"])
    for _ in range(200):
        if len(sim.faults.held) == 3:
            break
        await asyncio.sleep(0.01)
    assert [h.call_id for h in sim.faults.held] == ids
    assert all(sim.calls[i].ended for i in ids)
    with pytest.raises(TimeoutError):
        await sim.wait_call_finished(ids[0], timeout=0.05)
    assert receiver.forms("/hangup") == []
    sim.faults.release_webhooks(reverse=reverse)
    for call_id in ids:
        await sim.wait_call_finished(call_id)
    got = [form["id"] for form in receiver.forms("/hangup")]
    assert got == (ids[::-1] if reverse else ids)
    # Not holding any more: the next call is delivered directly.
    reply = await api.call(CALLEE, {"hangup": "reject"}, receiver.url("/hangup"))
    await sim.wait_call_finished(reply["id"])
    assert receiver.forms("/hangup")[-1]["id"] == reply["id"]


async def test_reset_faults(sim: Simulator, api: Api, receiver: Receiver) -> None:
    """reset_faults switches everything off and releases held webhooks."""
    sim.faults.fail_next(count=5)
    sim.faults.duplicate_webhooks = True
    sim.faults.hold_webhooks()
    sim.reset_faults()
    reply = await api.call(CALLEE, {"hangup": "reject"}, receiver.url("/hangup"))
    await sim.wait_call_finished(reply["id"])
    assert len(receiver.forms("/hangup")) == 1
    assert sim.faults.request_faults == []


async def test_stop_cancels_running_calls(api: Api, receiver: Receiver) -> None:
    """stop() cancels in-flight lifecycles and wakes waiters."""
    sim = api.sim
    sim.set_callee(CALLEE, Callee.no_answer())
    reply = await api.call(CALLEE, PLAY, receiver.url("/hangup"), timeout=300)
    waiter = asyncio.ensure_future(sim.wait_call_finished(reply["id"], timeout=5))
    await asyncio.sleep(0.01)
    await sim.stop()
    await waiter
    assert sim.calls[reply["id"]].state == "ongoing"
    assert receiver.forms("/hangup") == []
