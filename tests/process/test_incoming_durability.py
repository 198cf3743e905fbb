"""Crash durability of an incoming call under way: ``kill -9`` a real hass.

A friend calls the demo voice number, whose "Incoming calls" menu asks for a
PIN, and enters a wrong one. Once the incoming-calls store lists the call
with that try, Home Assistant is SIGKILLed and started again. The call goes
on where it was: the next wrong PIN is asked again, and the one after hangs
up, because the try before the crash still counts (three in all).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from .harness import HassNode, demo_driver, hass_node, wait_for

pytestmark = pytest.mark.timeout(300)

CALL_ID = "c0123456789abcdef"
# Guards against a hang only.
STEP_TIMEOUT = 120.0


async def _add_pin_menu(node: HassNode, number_id: str) -> None:
    """Add "Incoming calls" for ``number_id`` with a PIN menu, through its flow."""
    what = "incoming calls subentry flow"
    api = node.api
    step = await api.post(
        "/api/config/config_entries/subentries/flow",
        {"handler": [node.entry_id, "incoming_call"]},
        what,
    )
    flow = f"/api/config/config_entries/subentries/flow/{step['flow_id']}"
    step = await api.post(flow, {"number_id": number_id}, what)
    if step.get("step_id") == "take_over":
        step = await api.post(flow, {}, what)
    assert step.get("step_id") == "settings", step
    step = await api.post(
        flow,
        {
            "allow_anyone": False,
            "allowed": [demo_driver.INCOMING_CALLER],
            "allowed_action": "menu",
            "pin": "4711",
            "menu": "1: Open",
            "unknown_action": "reject",
            "no_answer": "record",
        },
        what,
    )
    assert step.get("type") == "create_entry", step


async def _ask(node: HassNode, url: str, form: dict[str, str]) -> dict[str, Any]:
    """POST one request of the call as 46elks does; return our answer."""
    async with node.session.post(url, data=form) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = json.loads(await response.text())
    return answer


def _pressed(keys: str, to: str) -> dict[str, str]:
    return {
        "callid": CALL_ID,
        "result": keys,
        "from": demo_driver.INCOMING_CALLER,
        "to": to,
    }


def _stored_tries(node: HassNode) -> int | None:
    """Return the call's stored PIN tries; None while it is not on disk."""
    path = node.config_dir / ".storage" / f"elks.{node.entry_id}.incoming_calls"
    try:
        calls = json.loads(path.read_text("utf-8"))["data"]["calls"]
    except OSError, ValueError, KeyError:
        return None
    for call in calls:
        if call.get("call_id") == CALL_ID and call.get("flow"):
            return int(call["flow"]["attempts"])
    return None


async def _scenario(config_dir: Path) -> None:
    async with hass_node(config_dir) as node:
        sim = node.sim
        assert sim.demo is not None
        number = sim.demo.voice_number
        await _add_pin_menu(node, number.id)
        await wait_for(
            lambda: bool(number.voice_start), STEP_TIMEOUT, "the number to be taken"
        )
        assert number.voice_start is not None
        ringing = {
            "direction": "incoming",
            "callid": CALL_ID,
            "from": demo_driver.INCOMING_CALLER,
            "to": number.number,
            "created": "2026-11-27T10:00:00.000000",
        }
        answer = await _ask(node, number.voice_start, ringing)
        assert answer["digits"] == 4  # the PIN is asked
        answer = await _ask(node, answer["next"], _pressed("0000", number.number))
        assert answer["digits"] == 4  # asked again: 2 tries left
        await wait_for(
            lambda: _stored_tries(node) == 1, STEP_TIMEOUT, "the try to be written"
        )
        await node.kill()
        await node.start_again()

        answer = await _ask(node, answer["next"], _pressed("1111", number.number))
        assert answer["digits"] == 4  # the call went on: 1 try left
        answer = await _ask(node, answer["next"], _pressed("2222", number.number))
        assert answer["hangup"] == "reject"  # the third wrong PIN, across the crash


def test_sigkill_mid_call_keeps_the_pin_tries(tmp_path: Path) -> None:
    """An incoming call's menu survives a crash of Home Assistant."""
    asyncio.run(_scenario(tmp_path / "config"))
