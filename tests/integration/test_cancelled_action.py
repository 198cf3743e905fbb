"""An elks.call cancelled while its POST /a1/calls is under way.

A script stopped (or an automation restarted, or Home Assistant stopping)
cancels the action mid-request. The POST may have reached 46elks, so the
call counts as "may have been placed": its hangup still ends it, once, and
the tracker does not wait for that placement forever.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks.const import DOMAIN, EVENT_CALL_ENDED
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from .conftest import ANSWERS, CALLER_ID, WEBHOOK_ID, Elks
from .roads import Road, deliver

SCRIPT = "script.alarm"


async def _wait_for_sim_call(elks: Elks) -> str:
    """Wait until the simulator created the call; return its id (300 s: a hang guard)."""
    async with asyncio.timeout(300):
        while not elks.sim.calls:
            await asyncio.sleep(0.005)
    [call_id] = elks.sim.calls
    return call_id


@pytest.mark.parametrize(
    "hangup_first", [False, True], ids=["cancel_then_hangup", "hangup_then_cancel"]
)
async def test_cancelled_call_action_keeps_the_tracker_right(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    caplog: pytest.LogCaptureFixture,
    hangup_first: bool,
) -> None:
    """script.turn_off during the POST: the call's hangup ends it, nothing stays waiting."""
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "alarm": {
                    "sequence": [
                        {
                            "action": f"{DOMAIN}.call",
                            "data": {"to": ANSWERS, "play": "sound/beep"},
                        }
                    ]
                }
            }
        },
    )
    tracker = loaded_entry.runtime_data.tracker
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    elks.sim.faults.hold_webhooks()
    # 46elks places the call but its answer is held until the test ends.
    elks.sim.faults.hold_response_next()
    await hass.services.async_call("script", "turn_on", {"entity_id": SCRIPT})
    call_id = await _wait_for_sim_call(elks)
    await elks.sim.wait_webhook_held(call_id)
    assert tracker.placements_in_flight == 1

    if hangup_first:
        # The hangup overtakes the POST's answer: parked for the placement.
        elks.sim.faults.release_webhooks()
        await elks.sim.wait_call_finished(call_id)
        assert tracker.sizes["parked"] == 1
        assert events == []

    with caplog.at_level(logging.WARNING):
        await hass.services.async_call(
            "script", "turn_off", {"entity_id": SCRIPT}, blocking=True
        )
        await hass.async_block_till_done()
    assert tracker.placements_in_flight == 0
    assert f"Placing the call to {ANSWERS!r} was interrupted" in caplog.text

    if not hangup_first:
        elks.sim.faults.release_webhooks()
        await elks.sim.wait_call_finished(call_id)
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == [call_id]
    assert tracker.sizes["parked"] == 0
    assert tracker.uncertain_count == 0

    # Nothing waits for the cancelled placement any more: an unknown call's
    # request is answered at once and its hangup is not parked.
    status, body = await deliver(
        hass,
        hass_http,
        WEBHOOK_ID,
        {
            "callid": "c" + "0" * 32,
            "result": "newoutgoing",
            "from": CALLER_ID,
            "to": ANSWERS,
            "direction": "outgoing",
        },
        Road.HTTP,
    )
    assert status == 200
    assert body is not None
    assert "hangup" in body
    status, _ = await deliver(
        hass,
        hass_http,
        WEBHOOK_ID,
        {
            "id": "c" + "1" * 32,
            "from": CALLER_ID,
            "to": "+46700000999",
            "state": "failed",
            "created": "2026-11-27T10:00:00.000000",
            "direction": "outgoing",
        },
        Road.HTTP,
    )
    assert status == 200
    assert tracker.sizes["parked"] == 0
    assert [e.data["call_id"] for e in events] == [call_id]
