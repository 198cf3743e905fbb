"""Escalations across a real stop of Home Assistant, and the user's own cancel.

Stopping Home Assistant cancels the entry's background tasks without
unloading the entry: an escalation cut short that way must stay stored and
be reported as ``interrupted`` at the next start, exactly once. Only the
user's cancel ends it as ``cancelled``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks.const import (
    DOMAIN,
    EVENT_ESCALATION_FINISHED,
    ISSUE_ESCALATION_INTERRUPTED,
)
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component

from .conftest import NO_ANSWER, PRESSES_1, Elks
from .roads import Restarter
from .test_call import call

ALARM = {"to": [NO_ANSWER, PRESSES_1], "play": "sound/beep", "mode": "sequential"}


def stored(hass_storage: dict[str, Any], entry_id: str) -> list[dict[str, Any]]:
    """Escalations stored as running, as the next start will read them."""
    data = hass_storage.get(f"{DOMAIN}.{entry_id}.escalations")
    return list(data["data"]["running"]) if data else []


async def until(condition: Any) -> None:
    """Wait until something happened (no clock involved; the timeout is a safety net)."""
    async with asyncio.timeout(300):
        while not condition():
            await asyncio.sleep(0.005)


async def start_held(hass: HomeAssistant, elks: Elks) -> dict[str, Any]:
    """Start an escalation whose first call ends at 46elks with its hangup held.

    The escalation then waits for that hangup until something cuts it short.
    """
    elks.sim.faults.hold_webhooks()
    response = await call(hass, **ALARM, timeout=300)
    await elks.sim.wait_webhook_held(response["first_call"]["call_id"])
    return response


class Capture:
    """What a new Home Assistant saw before and while its entry was set up."""

    def __init__(self, hass_storage: dict[str, Any], entry_id: str) -> None:
        """Capture storage of ``entry_id`` and escalation events."""
        self._hass_storage = hass_storage
        self._entry_id = entry_id
        self.stored: list[dict[str, Any]] = []
        self.finished: list[Event] = []

    async def __call__(self, new_hass: HomeAssistant) -> None:
        """Run before the entry is set up: the old Home Assistant has stopped."""
        self.stored = stored(self._hass_storage, self._entry_id)
        self.finished = async_capture_events(new_hass, EVENT_ESCALATION_FINISHED)


def interrupted_issue(hass: HomeAssistant, escalation_id: str) -> ir.IssueEntry | None:
    """Return the repair issue of an interrupted escalation."""
    return ir.async_get(hass).async_get_issue(
        DOMAIN, f"{ISSUE_ESCALATION_INTERRUPTED}_{escalation_id}"
    )


async def test_mid_call_stop_reported_once(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    restarter: Restarter,
    hass_storage: dict[str, Any],
) -> None:
    """A stop during a call: stored, then interrupted once (event, issue), not again."""
    old_finished = async_capture_events(hass, EVENT_ESCALATION_FINISHED)
    response = await start_held(hass, elks)
    escalation_id = response["escalation_id"]

    first = Capture(hass_storage, loaded_entry.entry_id)
    hass2, client2, entry2 = await restarter.restart(
        hass, hass_http, loaded_entry, before_setup=first
    )
    assert old_finished == []  # a stop is not the user's cancel
    # Written before the stop completed, with the call in progress.
    [kept] = first.stored
    assert kept["id"] == escalation_id
    assert [a.get("call_id") for a in kept["attempts"]] == [
        response["first_call"]["call_id"]
    ]
    [event] = first.finished
    assert event.data["escalation_id"] == escalation_id
    assert event.data["result"] == "interrupted"
    issue = interrupted_issue(hass2, escalation_id)
    assert issue is not None
    assert issue.translation_placeholders["calls"] == "1"
    assert stored(hass_storage, loaded_entry.entry_id) == []

    second = Capture(hass_storage, loaded_entry.entry_id)
    await restarter.restart(hass2, client2, entry2, before_setup=second)
    assert second.stored == []
    assert second.finished == []
    assert [form["to"] for form in elks.call_posts()] == [NO_ANSWER]


async def test_first_call_in_flight_at_stop(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    restarter: Restarter,
    hass_storage: dict[str, Any],
) -> None:
    """Stored before its first POST /a1/calls; a stop while it is in flight is reported."""
    elks.sim.faults.hold_webhooks()
    # 46elks answers the first POST only when the simulator stops.
    elks.sim.faults.hold_response_next()
    action = asyncio.create_task(call(hass, **ALARM, timeout=300))
    await until(elks.call_posts)
    # The POST reached 46elks: the escalation was written before it was sent.
    [kept] = stored(hass_storage, loaded_entry.entry_id)
    assert kept["recipients"] == [NO_ANSWER, PRESSES_1]

    capture = Capture(hass_storage, loaded_entry.entry_id)
    hass2, _, _ = await restarter.restart(
        hass, hass_http, loaded_entry, before_setup=capture
    )
    response = await action
    assert response == {"escalation_id": kept["id"], "first_call": {}}
    assert [e["id"] for e in capture.stored] == [kept["id"]]
    [event] = capture.finished
    assert (event.data["escalation_id"], event.data["result"]) == (
        kept["id"],
        "interrupted",
    )
    assert [a["to"] for a in event.data["attempts"]] == [NO_ANSWER]
    assert interrupted_issue(hass2, kept["id"]) is not None


async def test_cancel_reported_stop_interrupted(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    restarter: Restarter,
    hass_storage: dict[str, Any],
) -> None:
    """elks.cancel ends one as cancelled and removes it; the other is cut short by a stop."""
    finished = async_capture_events(hass, EVENT_ESCALATION_FINISHED)
    cancelled = (await start_held(hass, elks))["escalation_id"]
    running = (await start_held(hass, elks))["escalation_id"]
    await hass.services.async_call(
        DOMAIN, "cancel", {"escalation_id": cancelled}, blocking=True
    )
    await until(
        lambda: (
            [e["id"] for e in stored(hass_storage, loaded_entry.entry_id)] == [running]
        )
    )
    assert [(e.data["escalation_id"], e.data["result"]) for e in finished] == [
        (cancelled, "cancelled")
    ]

    capture = Capture(hass_storage, loaded_entry.entry_id)
    hass2, _, _ = await restarter.restart(
        hass, hass_http, loaded_entry, before_setup=capture
    )
    assert len(finished) == 1
    assert [(e.data["escalation_id"], e.data["result"]) for e in capture.finished] == [
        (running, "interrupted")
    ]
    assert interrupted_issue(hass2, cancelled) is None
    assert [form["to"] for form in elks.call_posts()] == [NO_ANSWER, NO_ANSWER]


async def set_up_alarm_script(hass: HomeAssistant) -> None:
    """Set up a script that escalates and waits for the result."""
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "alarm": {
                    "sequence": [
                        {
                            "action": "elks.call",
                            "data": {**ALARM, "timeout": 300, "wait": True},
                            "response_variable": "result",
                        }
                    ]
                }
            }
        },
    )


async def start_alarm_script(hass: HomeAssistant, elks: Elks) -> str:
    """Run the script until its first call ended with its hangup held; return the call id."""
    elks.sim.faults.hold_webhooks()
    await hass.services.async_call("script", "alarm")
    await until(lambda: elks.sim.calls)
    [call_id] = list(elks.sim.calls)
    await elks.sim.wait_webhook_held(call_id)
    return call_id


async def test_waiting_action_turned_off_cancels(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """script.turn_off on a waiting action cancels its escalation, with its event."""
    await set_up_alarm_script(hass)
    finished = async_capture_events(hass, EVENT_ESCALATION_FINISHED)
    call_id = await start_alarm_script(hass, elks)
    await hass.services.async_call(
        "script", "turn_off", {"entity_id": "script.alarm"}, blocking=True
    )
    await until(lambda: finished)
    await until(lambda: not stored(hass_storage, loaded_entry.entry_id))
    [event] = finished
    assert event.data["result"] == "cancelled"
    assert [a["call_id"] for a in event.data["attempts"]] == [call_id]
    assert stored(hass_storage, loaded_entry.entry_id) == []
    assert loaded_entry.runtime_data.escalations.running_count == 0
    assert [form["to"] for form in elks.call_posts()] == [NO_ANSWER]


async def test_waiting_action_at_stop_is_interrupted(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    restarter: Restarter,
    hass_storage: dict[str, Any],
) -> None:
    """A stop that ends a waiting action does not cancel its escalation."""
    await set_up_alarm_script(hass)
    old_finished = async_capture_events(hass, EVENT_ESCALATION_FINISHED)
    await start_alarm_script(hass, elks)
    capture = Capture(hass_storage, loaded_entry.entry_id)
    await restarter.restart(hass, hass_http, loaded_entry, before_setup=capture)
    assert old_finished == []
    [kept] = capture.stored
    assert [(e.data["escalation_id"], e.data["result"]) for e in capture.finished] == [
        (kept["id"], "interrupted")
    ]
