"""Crash durability of call bookkeeping (issue 9, defect 3): ``kill -9`` a real hass.

20 calls are placed while other calls keep coming and ending; once the
tracker's storage file lists them, Home Assistant is SIGKILLed and started
again on the same configuration. Their hangups, delivered twice each (by
HTTP and by Home Assistant Cloud's road), must end each call exactly once.
Five calls whose hangups were applied (and written) before the kill must not
fire again when 46elks re-delivers them.

The window between a placement and its write is measured and printed (it is
quoted in SECURITY.md).
"""

from __future__ import annotations

import asyncio
from collections import Counter
import contextlib
import json
from pathlib import Path
import time
from typing import Any

import pytest

from elks_simulator import Callee

from .harness import HassNode, hass_node, logged_events, wait_for, webhook_id_of

pytestmark = pytest.mark.timeout(900)

GATED = [f"+4670020{i:04d}" for i in range(20)]
APPLIED = [f"+4670030{i:04d}" for i in range(5)]
ACTIVITY = "+46700000101"
# Guards against a hang only: the fixed tracker writes within seconds (the
# activity goes on meanwhile, so a save postponed forever still fails).
WRITE_TIMEOUT = 300.0
# Only guards against hangs: a busy machine takes minutes for a start alone.
HANG_TIMEOUT = 300.0


def _listed(data: dict[str, Any] | None, call_id: str) -> bool:
    return data is not None and call_id in json.dumps(data)


def _open(data: dict[str, Any] | None, call_id: str) -> bool:
    """Whether storage lists the call as unfinished."""
    return data is not None and call_id in json.dumps(data.get("ongoing", []))


async def _activity(node: HassNode, stop: asyncio.Event, placed: list[str]) -> None:
    """One call every 0.5 s, each ending soon: the tracker changes all the time."""
    while not stop.is_set():
        response = await node.call_action({"to": ACTIVITY, "play": "sound/beep"})
        placed.extend(call["id"] for call in response.get("calls", []))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def _scenario(config_dir: Path) -> dict[str, float]:
    async with hass_node(config_dir) as node:
        sim = node.sim
        sim.gated.update(GATED)
        for number in [*GATED, *APPLIED]:
            sim.set_callee(number, Callee.busy(after=0.2))
        await node.subscribe("elks_call_ended")

        stop = asyncio.Event()
        activity: list[str] = []
        pump = asyncio.get_running_loop().create_task(_activity(node, stop, activity))
        # Polled from before the first placement, so that the window between
        # a placement (its action call sent) and its write is measured.
        sent_at: dict[str, float] = {}
        applied: list[str] = []
        written_at: dict[str, float] = {}

        def note_written() -> None:
            data = node.stored_calls()
            now = time.perf_counter()
            for call_id in sent_at:
                if _listed(data, call_id):
                    written_at.setdefault(call_id, now)
            for call_id in applied:
                if _listed(data, call_id) and not _open(data, call_id):
                    written_at.setdefault(f"ended:{call_id}", now)

        async def poll() -> None:
            while True:
                note_written()
                await asyncio.sleep(0.05)

        poller = asyncio.get_running_loop().create_task(poll())
        try:
            for number in APPLIED:
                response = await node.call_action({"to": number, "play": "sound/beep"})
                applied.append(response["calls"][0]["id"])
            for number in GATED:
                sent = time.perf_counter()
                response = await node.call_action({"to": number, "play": "sound/beep"})
                sent_at[response["calls"][0]["id"]] = sent
                await asyncio.sleep(0.25)
            # The five hangups are applied: their events came.
            ended_at: dict[str, float] = {}
            async with asyncio.timeout(HANG_TIMEOUT):
                while not set(applied) <= set(ended_at):
                    received, event = await node.ws.events.get()  # type: ignore[union-attr]
                    if event["data"]["call_id"] in applied:
                        ended_at.setdefault(event["data"]["call_id"], received)
            # ... and all of it must be written, with the activity going on.
            await wait_for(
                lambda: len(written_at) == len(sent_at) + len(applied),
                WRITE_TIMEOUT,
                "the tracker to write 20 placements and 5 hangups while calls "
                "keep coming (its save is postponed by every change)",
            )
        finally:
            poller.cancel()
            stop.set()
            await pump
        assert activity, "no activity ran"

        await node.kill()
        await node.start_again()
        await node.subscribe("elks_call_ended")
        node.drain_events()

        # The 20 calls end now; their hangups are held, then delivered twice.
        sim.faults.hold_webhooks()
        sim.gate.set()
        for call_id in sent_at:
            await sim.wait_webhook_held(call_id, timeout=HANG_TIMEOUT)
        held = sim.take_held()
        held_ids = {item.call_id for item in held}
        assert set(sent_at) <= held_ids
        webhook_id = webhook_id_of(held[0].url)
        for item in held[: len(held) // 2]:
            await node.deliver_by_cloud(webhook_id, item.form)
        await sim.deliver_by_http(held)
        for item in held[len(held) // 2 :]:
            await node.deliver_by_cloud(webhook_id, item.form)
        # 46elks re-delivers the five applied before the crash, both roads.
        for call_id in applied:
            call = sim.calls[call_id]
            form = sim.whenhangup_form(call)
            assert call.whenhangup is not None
            await node.deliver_by_http(call.whenhangup, form)
            await node.deliver_by_cloud(webhook_id, form)
        await node.barrier()
        after = Counter(e["data"]["call_id"] for e in node.drain_events())

        assert {call_id: after[call_id] for call_id in sent_at} == dict.fromkeys(
            sent_at, 1
        ), "each call placed before the crash ends exactly once after it"
        assert not {c: after[c] for c in applied if after[c]}, (
            "hangups applied before the crash fired again"
        )
        # The bus log of both processes: nothing fired unseen during the start.
        logged, _ = logged_events(node.log_text())
        for call_id in [*sent_at, *applied]:
            assert logged[call_id] == 1, (call_id, logged[call_id])

        placement_window = max(written_at[c] - sent_at[c] for c in sent_at)
        hangup_window = max(written_at[f"ended:{c}"] - ended_at[c] for c in applied)
        return {
            "placement_write_window": placement_window,
            "hangup_write_window": hangup_window,
            "starts": node.start_seconds[0],
            "restart": node.start_seconds[1],
        }


def test_sigkill_loses_no_placement_and_repeats_no_hangup(tmp_path: Path) -> None:
    """SIGKILL under steady activity: every call still ends exactly once."""
    began = time.perf_counter()
    measured = asyncio.run(_scenario(tmp_path / "config"))
    print(  # noqa: T201
        "durability: "
        + ", ".join(f"{key} {value:.2f} s" for key, value in measured.items())
        + f", total {time.perf_counter() - began:.1f} s"
    )
