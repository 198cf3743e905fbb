"""Logbook entries for calls, key presses and escalations."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.core import Event, HomeAssistant, callback

from .const import DOMAIN, EVENT_CALL_ENDED, EVENT_ESCALATION_FINISHED, EVENT_KEYPRESS
from .models import CallOutcome

_OUTCOMES: dict[str, str] = {
    CallOutcome.ACKNOWLEDGED: "was acknowledged",
    CallOutcome.ANSWERED: "was answered",
    CallOutcome.BUSY: "was busy",
    CallOutcome.NO_ANSWER: "was not answered",
    CallOutcome.FAILED: "failed",
    CallOutcome.NO_INPUT: "was answered but not acknowledged",
    CallOutcome.HUNG_UP: "was answered and hung up before acknowledging",
}


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Describe the integration's events in the logbook."""

    @callback
    def call_ended(event: Event) -> dict[str, str]:
        data: Mapping[str, Any] = event.data
        outcome = _OUTCOMES.get(str(data.get("outcome")), str(data.get("state")))
        duration = f" after {data['duration']} s" if data.get("duration") else ""
        return {
            LOGBOOK_ENTRY_NAME: "46elks",
            LOGBOOK_ENTRY_MESSAGE: f"call to {data.get('to')} {outcome}{duration}",
        }

    @callback
    def keypress(event: Event) -> dict[str, str]:
        data: Mapping[str, Any] = event.data
        return {
            LOGBOOK_ENTRY_NAME: "46elks",
            LOGBOOK_ENTRY_MESSAGE: f"{data.get('to')} pressed {data.get('digits')} ({data.get('label')})",
        }

    @callback
    def escalation_finished(event: Event) -> dict[str, str]:
        data: Mapping[str, Any] = event.data
        result = str(data.get("result"))
        who = f" by {data['answered_by']}" if data.get("answered_by") else ""
        return {
            LOGBOOK_ENTRY_NAME: "46elks",
            LOGBOOK_ENTRY_MESSAGE: f"escalation {result}{who} after {len(data.get('attempts') or [])} call(s)",
        }

    async_describe_event(DOMAIN, EVENT_CALL_ENDED, call_ended)
    async_describe_event(DOMAIN, EVENT_KEYPRESS, keypress)
    async_describe_event(DOMAIN, EVENT_ESCALATION_FINISHED, escalation_finished)
