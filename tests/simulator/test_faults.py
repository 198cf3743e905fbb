"""Fault injection tests."""

from __future__ import annotations

import asyncio
import contextlib
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
    # The client gave up; the simulator still processes the request.
    async with asyncio.timeout(60):
        while not sim.calls:
            await asyncio.sleep(0.005)
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
    sim.time_scale = 1.0  # rings 300 real seconds: certainly still running
    reply = await api.call(CALLEE, PLAY, receiver.url("/hangup"), timeout=300)
    waiter = asyncio.ensure_future(sim.wait_call_finished(reply["id"]))
    await sim.stop()
    await waiter
    assert sim.calls[reply["id"]].state == "ongoing"
    assert receiver.forms("/hangup") == []


async def _wait_held(sim: Simulator, count: int) -> None:
    """Wait until ``count`` whenhangups are held (a bound against hangs only)."""
    async with asyncio.timeout(60):
        while len(sim.faults.held) < count:
            await asyncio.sleep(0.005)


async def test_hangup_before_response(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """The POST is answered only after its call's whenhangup was delivered."""
    # Long enough that without the hold the answer would come first.
    sim.set_callee(CALLEE, Callee.answer(after=50.0))
    sim.faults.hangup_before_response()
    reply = await api.call(CALLEE, PLAY, receiver.url("/hangup"))
    call = sim.calls[reply["id"]]
    assert call.ended
    assert call.finished.is_set()
    assert [form["id"] for form in receiver.forms("/hangup")] == [reply["id"]]
    assert reply["state"] == "ongoing"  # the creation reply, not the final state
    assert sim.faults.hangup_first == []  # count=1 is used up


async def test_hangup_before_response_without_whenhangup(
    sim: Simulator, api: Api
) -> None:
    """A call without whenhangup is answered once it ended."""
    sim.set_callee(CALLEE, Callee.answer(after=50.0))
    sim.faults.hangup_before_response()
    reply = await api.call(CALLEE, PLAY)
    assert sim.calls[reply["id"]].ended
    assert sim.calls[reply["id"]].state == "success"


async def test_hangup_before_response_selects_by_form(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """Only selected calls wait, also for held webhooks; the others answer at once."""
    other = "+46700000102"
    sim.faults.hold_webhooks()
    sim.faults.hangup_before_response(count=None, when=lambda f: f["to"] == CALLEE)

    # Not selected: answered while its hangup is still held.
    first = await api.call(other, PLAY, receiver.url("/hangup"))
    assert receiver.forms("/hangup") == []

    async def call_and_look() -> tuple[str, list[str]]:
        reply = await api.call(CALLEE, PLAY, receiver.url("/hangup"))
        return reply["id"], [form["id"] for form in receiver.forms("/hangup")]

    selected = asyncio.ensure_future(call_and_look())
    await _wait_held(sim, 2)
    assert receiver.forms("/hangup") == []
    sim.faults.release_webhooks()
    async with asyncio.timeout(60):
        call_id, seen = await selected
    # Its hangup (queued after the first one's) was delivered before the answer.
    assert seen == [first["id"], call_id]
    assert sim.faults.hangup_first != []  # count=None: still selecting


async def test_hangup_before_response_count(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """``count`` calls are held; rejected or failed requests do not count."""
    sim.faults.hangup_before_response(count=2)
    status, _ = await api.post_call(from_=VOICE_NUMBER, to="0700", voice_start=PLAY)
    assert status == 400
    sim.faults.fail_next(status=503)
    status, _ = await api.post_call(from_=VOICE_NUMBER, to=CALLEE, voice_start=PLAY)
    assert status == 503
    for _ in range(2):
        reply = await api.call(CALLEE, PLAY, receiver.url("/hangup"))
        assert receiver.forms("/hangup")[-1]["id"] == reply["id"]
    # The third call is not held: it is answered while its hangup is queued.
    sim.faults.hold_webhooks()
    async with asyncio.timeout(60):
        reply = await api.call(CALLEE, PLAY, receiver.url("/hangup"))
    assert reply["id"] not in [form["id"] for form in receiver.forms("/hangup")]
    assert len(receiver.forms("/hangup")) == 2


async def test_hangup_before_response_cleared(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """reset_faults removes the hold."""
    sim.faults.hangup_before_response(count=None)
    sim.reset_faults()
    sim.faults.hold_webhooks()
    async with asyncio.timeout(60):
        await api.call(CALLEE, PLAY, receiver.url("/hangup"))
    assert receiver.forms("/hangup") == []


async def test_stop_answers_held_response(api: Api, receiver: Receiver) -> None:
    """stop() does not hang on a response waiting for a held whenhangup."""
    sim = api.sim
    sim.faults.hold_webhooks()
    sim.faults.hangup_before_response()
    post = asyncio.ensure_future(
        api.post_call(
            from_=VOICE_NUMBER,
            to=CALLEE,
            voice_start=PLAY,
            whenhangup=receiver.url("/hangup"),
        )
    )
    await _wait_held(sim, 1)
    assert not post.done()
    async with asyncio.timeout(60):
        await sim.stop()
        with contextlib.suppress(aiohttp.ClientError):
            await post
    assert receiver.forms("/hangup") == []
