"""The reliability suite (issue 9, "Done when"): one real Home Assistant process.

200 concurrent calls from four ``elks.call`` actions, with 46elks faults mixed
in (5xx, 429, timeouts, connections dropped before and after processing,
unreadable 2xx before and after processing); every hangup delivered once by
HTTP and once by Home Assistant Cloud's road (``webhook/handle``); a SIGTERM
stop and a start in the middle while hangups are still held and an escalation
runs; sequential escalations with one acknowledging callee, one exhausted,
one cancelled. Checks, over the logs of both processes:

- every call 46elks created ends exactly once (``elks_call_ended``);
- every failed placement is in the action's ``errors`` with the right
  ``may_have_been_placed``;
- every escalation ends in exactly one documented result;
- no secret (API password, webhook id) in home-assistant.log, no traceback.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import time

import pytest

from elks_simulator import DEMO_PASSWORD, Callee

from .harness import (
    TRACEBACK,
    HangupPump,
    HassNode,
    hass_node,
    logged_events,
    wait_for,
    webhook_id_of,
)

# Only guards against hangs: a busy machine takes minutes for a start alone.
pytestmark = pytest.mark.timeout(900)
HANG_TIMEOUT = 300.0

ACTIONS = 4
PER_ACTION = 50
ESCALATION_RESULTS = {
    "acknowledged",
    "answered",
    "exhausted",
    "cancelled",
    "interrupted",
}

BUSY = "+46709000001"
ACKS = "+46709000002"
GATED_CANCEL = "+46709000003"
GATED_INTERRUPT = "+46709000004"


def _recipients(action: int) -> list[str]:
    return [f"+467010{action}{i:04d}" for i in range(PER_ACTION)]


def _script_callees(node: HassNode) -> None:
    sim = node.sim
    for action in range(ACTIONS):
        for i, number in enumerate(_recipients(action)):
            callee = (
                Callee.answer(after=1.0),
                Callee.busy(after=2.0),
                Callee.fail(),
                Callee.no_answer(),
            )[i % 4]
            sim.set_callee(number, callee)
    sim.set_callee(BUSY, Callee.busy(after=1.0))
    sim.set_callee(ACKS, Callee.answer(after=1.0, presses=[(1.0, "1")]))
    for number in (GATED_CANCEL, GATED_INTERRUPT):
        sim.set_callee(number, Callee.busy(after=1.0))
        sim.gated.add(number)


def _arm_faults(node: HassNode) -> None:
    """Faults for the next POST /a1/calls requests, taken in arrival order."""
    faults = node.sim.faults
    faults.fail_next(500, count=6)
    faults.fail_next(503, count=4)
    faults.fail_next(429, count=5)
    # Answered only when the simulator stops: the client gives up first
    # (api.REQUEST_TIMEOUT, 15 s) however slow the machine; a delay of 16 s
    # raced it by one second.
    for _ in range(3):
        faults.hold_response_next()
    faults.drop_next(count=4)
    faults.drop_next(count=4, after_processing=True)
    faults.fail_next(200, count=3, body="<html>Service temporarily unavailable</html>")
    # TODO(h/api): an unreadable 2xx "may have been placed"; garbled after
    # processing by the harness, so that the call exists too.
    node.sim.garble_next = 3


def _expected_failures(node: HassNode) -> dict[str, bool]:
    """``to`` -> may_have_been_placed, from what the simulator did to each POST."""
    expected: dict[str, bool] = {}
    for request in node.sim.requests:
        if request.method != "POST" or request.fault is None:
            continue
        to = request.form["to"]
        if request.fault == "fail":
            # Refused (5xx, 429): not placed. An unreadable 2xx: 46elks accepted.
            expected[to] = request.status is not None and request.status < 300
        else:  # drop (before or after processing), answer too late
            expected[to] = True
    expected.update(dict.fromkeys(node.sim.garbled, True))
    return expected


async def _escalate(node: HassNode, to: list[str]) -> str:
    response = await node.call_action(
        {
            "to": to,
            "play": "sound/beep",
            "mode": "sequential",
            "require_ack": True,
            "timeout": 30,
        }
    )
    assert "escalation_id" in response, response
    return str(response["escalation_id"])


async def _scenario(config_dir: Path) -> dict[str, float]:
    timings: dict[str, float] = {}
    async with hass_node(config_dir) as node:
        sim = node.sim
        _script_callees(node)
        await node.subscribe("elks_call_ended", "elks_escalation_finished")
        sim.faults.hold_webhooks()
        pump = HangupPump(sim, node)
        expected_results: dict[str, str] = {}

        # Two escalations whose calls ring until the gate opens.
        expected_results[await _escalate(node, [GATED_CANCEL])] = "cancelled"
        interrupted = await _escalate(node, [GATED_INTERRUPT])
        expected_results[interrupted] = "interrupted"

        began = time.perf_counter()
        _arm_faults(node)
        responses = await asyncio.gather(
            *(
                node.call_action({"to": _recipients(action), "play": "sound/beep"})
                for action in range(ACTIONS)
            )
        )
        timings["200 calls placed"] = time.perf_counter() - began
        assert not sim.faults.request_faults, "every fault was used"
        assert sim.garble_next == 0

        placed = {c["id"] for r in responses for c in r.get("calls", [])}
        failures = {e["to"]: e for r in responses for e in r.get("errors", [])}
        assert len(placed) + len(failures) == ACTIONS * PER_ACTION, responses
        expected = _expected_failures(node)
        # Checked at the end, so that one wrong flag does not hide the rest.
        reported = {to: f["may_have_been_placed"] for to, f in failures.items()}
        created_by_bulk = {
            c.id for c in sim.calls.values() if c.to.startswith("+467010")
        }
        assert placed <= created_by_bulk
        assert all(
            expected[c.to]
            for c in sim.calls.values()
            if c.id in created_by_bulk - placed
        ), "a call 46elks created was reported as not placed"

        # Half the hangups go in now, both roads ...
        for call_id in created_by_bulk:
            await sim.wait_webhook_held(call_id, timeout=HANG_TIMEOUT)
        held = sim.take_held()
        await pump.deliver(held[: len(held) // 2])
        sim.faults.held[:0] = held[len(held) // 2 :]
        await node.call_action(
            {"escalation_id": next(iter(expected_results))}, service="cancel"
        )

        # ... the rest is held over a clean stop and start, with an escalation
        # still running.
        began = time.perf_counter()
        code = await node.stop()
        assert code == 0, node.process.log_tail()
        await node.start_again()
        timings["SIGTERM stop and start"] = time.perf_counter() - began
        await node.subscribe("elks_call_ended", "elks_escalation_finished")

        pump.start()
        sim.gate.set()
        expected_results[await _escalate(node, [BUSY, ACKS])] = "acknowledged"
        expected_results[await _escalate(node, [BUSY])] = "exhausted"

        def all_ended() -> bool:
            ended, escalations = logged_events(node.log_text())
            return set(sim.calls) <= set(ended) and set(expected_results) <= set(
                escalations
            )

        await wait_for(
            all_ended,
            HANG_TIMEOUT,
            "every call 46elks created to end and every escalation to finish",
            poll=0.2,
        )
        for call in sim.calls.values():
            await sim.wait_call_finished(call.id, timeout=HANG_TIMEOUT)
        await pump.stop()
        assert not sim.faults.held
        await node.barrier()
        code = await node.stop()
        assert code == 0

        log = node.log_text()
        ended, escalations = logged_events(log)
        twice = {c: n for c, n in ended.items() if n != 1}
        assert not twice, f"calls that ended more than once: {twice}"
        assert set(ended) == set(sim.calls), "every call 46elks created ended"

        webhook_ids = {
            webhook_id_of(c.whenhangup) for c in sim.calls.values() if c.whenhangup
        }
        assert len(webhook_ids) == 1
        for secret in (DEMO_PASSWORD, *webhook_ids):
            assert secret not in log, "a secret is in home-assistant.log"
            assert secret not in node.console_text()
        assert TRACEBACK not in log, "a traceback was logged"
        assert all(r in ESCALATION_RESULTS for r in expected_results.values())
        assert escalations == {e: [r] for e, r in expected_results.items()}, (
            "each escalation ends in exactly one result (a stop interrupts, "
            "it does not cancel: issue 9, defect 2)"
        )
        assert reported == expected, (
            "failed placements and their may_have_been_placed (an unreadable "
            "2xx may have been placed: issue 9, defect 5)"
        )
        timings["starts"] = sum(node.start_seconds)
        return timings


def test_200_calls_with_faults_both_roads_and_a_restart(tmp_path: Path) -> None:
    """Every call ends once, every failure is reported honestly, logs stay clean."""
    began = time.perf_counter()
    timings = asyncio.run(_scenario(tmp_path / "config"))
    print(  # noqa: T201
        "reliability: "
        + json.dumps({k: round(v, 1) for k, v in timings.items()})
        + f", total {time.perf_counter() - began:.1f} s"
    )
