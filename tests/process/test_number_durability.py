"""Crash durability of a number's old ``voice_start``: ``kill -9`` a real hass.

An "Incoming calls" subentry takes the demo voice number, which led to
somebody else's URL. 46elks carries the update out but its answer is held:
Home Assistant is SIGKILLed while it waits, started again, and the subentry
removed. The number must get exactly its old URL back, which only works if
the old value was written to storage before 46elks was asked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from .harness import HassNode, demo_driver, hass_node, wait_for

pytestmark = pytest.mark.timeout(300)

OLD_TARGET = "https://pbx.example.com/calls?key=somebody-elses-secret"
# Guards against a hang only.
STEP_TIMEOUT = 120.0


async def _add_incoming(node: HassNode, number_id: str) -> str:
    """Add "Incoming calls" for ``number_id`` through its flow; return its subentry id."""
    await demo_driver._add_incoming(node.api, node.entry_id, number_id)  # noqa: SLF001
    assert node.ws is not None
    [subentry] = [
        sub
        for sub in await node.ws.command(
            {"type": "config_entries/subentries/list", "entry_id": node.entry_id}
        )
        if sub["subentry_type"] == "incoming_call"
    ]
    return str(subentry["subentry_id"])


async def _scenario(config_dir: Path) -> None:
    async with hass_node(config_dir) as node:
        sim = node.sim
        assert sim.demo is not None
        number = sim.demo.voice_number
        # 46elks will carry the update out; its answer never reaches this hass.
        answered = sim.faults.hold_response_next(
            path=f"/a1/numbers/{number.id}", method="POST"
        )
        flow = asyncio.get_running_loop().create_task(
            _add_incoming_after(node, number.id)
        )
        await wait_for(
            lambda: number.voice_start not in (None, OLD_TARGET),
            STEP_TIMEOUT,
            "46elks to take the update",
        )
        # Home Assistant writes its config entries a moment later (its own
        # delay); the subentry must be on disk, or the crash loses it.
        entries = node.config_dir / ".storage" / "core.config_entries"
        await wait_for(
            lambda: entries.exists() and "incoming_call" in entries.read_text(),
            STEP_TIMEOUT,
            "Home Assistant to write the subentry",
        )
        await node.kill()
        answered.set()
        flow.cancel()
        subentry_id = await _subentry_after_start(node)

        # Removing the subentry gives the number exactly its old URL back.
        assert node.ws is not None
        await node.ws.command(
            {
                "type": "config_entries/subentries/delete",
                "entry_id": node.entry_id,
                "subentry_id": subentry_id,
            }
        )
        await wait_for(
            lambda: number.voice_start == OLD_TARGET,
            STEP_TIMEOUT,
            "the old voice_start to be given back",
        )


async def _add_incoming_after(node: HassNode, number_id: str) -> None:
    """Set the old target once the flow has listed the numbers, then finish it."""
    sim = node.sim
    assert sim.demo is not None
    # Set before the flow starts: the flow shows it and asks to take it over.
    sim.demo.voice_number.voice_start = OLD_TARGET
    await _add_incoming(node, number_id)


async def _subentry_after_start(node: HassNode) -> str:
    """Start hass again; return the incoming-calls subentry that survived."""
    await node.start_again()
    assert node.ws is not None
    [subentry] = [
        sub
        for sub in await node.ws.command(
            {"type": "config_entries/subentries/list", "entry_id": node.entry_id}
        )
        if sub["subentry_type"] == "incoming_call"
    ]
    return str(subentry["subentry_id"])


def test_sigkill_while_46elks_answers_keeps_the_old_voice_start(
    tmp_path: Path,
) -> None:
    """The old value survives a crash between 46elks' update and its answer."""
    asyncio.run(_scenario(tmp_path / "config"))
