"""Logbook entries for calls, key presses, escalations and SMS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_ICON,
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.core import Event, HomeAssistant, callback

from .const import (
    DOMAIN,
    EVENT_CALL_ENDED,
    EVENT_ESCALATION_FINISHED,
    EVENT_INCOMING_CALL,
    EVENT_KEYPRESS,
    EVENT_RECORDING_SAVED,
    EVENT_SMS_RECEIVED,
    EVENT_SMS_STATUS,
)
from .models import CallOutcome, IncomingAction

_OUTCOMES: dict[str, str] = {
    CallOutcome.ACKNOWLEDGED: "was acknowledged",
    CallOutcome.ANSWERED: "was answered",
    CallOutcome.BUSY: "was busy",
    CallOutcome.NO_ANSWER: "was not answered",
    CallOutcome.FAILED: "failed",
    CallOutcome.NO_INPUT: "was answered but not acknowledged",
    CallOutcome.HUNG_UP: "was answered and hung up before acknowledging",
}


_ICONS: dict[str, str] = {
    CallOutcome.ACKNOWLEDGED: "mdi:phone-check",
    CallOutcome.ANSWERED: "mdi:phone-check",
    CallOutcome.BUSY: "mdi:phone-cancel",
    CallOutcome.NO_ANSWER: "mdi:phone-missed",
    CallOutcome.FAILED: "mdi:phone-alert",
    CallOutcome.NO_INPUT: "mdi:phone-remove",
    CallOutcome.HUNG_UP: "mdi:phone-remove",
}


def _call_ended(data: Mapping[str, Any]) -> str:
    outcome = _OUTCOMES.get(str(data.get("outcome")), str(data.get("state")))
    # 46elks' duration is how long the call lasted, not how long it rang.
    lasted = f" (the call lasted {data['duration']} s)" if data.get("duration") else ""
    return f"call to {data.get('to')} {outcome}{lasted}"


def _call_ended_icon(data: Mapping[str, Any]) -> str:
    return _ICONS.get(str(data.get("outcome")), "mdi:phone-hangup")


def _keypress(data: Mapping[str, Any]) -> str:
    # In a call to one of our numbers, the caller presses.
    who = data.get("from") if data.get("direction") == "incoming" else data.get("to")
    return f"{who} pressed {data.get('digits')} ({data.get('label')})"


def _escalation_finished(data: Mapping[str, Any]) -> str:
    who = f" by {data['answered_by']}" if data.get("answered_by") else ""
    calls = len(data.get("attempts") or [])
    return f"escalation {data.get('result')}{who} after {calls} call(s)"


def _sms_status(data: Mapping[str, Any]) -> str:
    status = "was delivered" if data.get("status") == "delivered" else "failed"
    return f"SMS to {data.get('to')} {status}"


def _sms_received(data: Mapping[str, Any]) -> str:
    # Not the text: the logbook is shown to every user of Home Assistant.
    return f"SMS from {data.get('from')} to {data.get('to')}"


_INCOMING_ACTIONS: dict[str, str] = {
    IncomingAction.REJECT: "was rejected without answering",
    IncomingAction.BUSY: "got busy without answering",
    IncomingAction.MENU: "was answered with the menu",
    IncomingAction.FORWARD: "was forwarded",
    IncomingAction.MESSAGE: "was answered with the message",
}


def _incoming_call(data: Mapping[str, Any]) -> str:
    who = "allowed caller" if data.get("allowed") else "unknown caller"
    done = _INCOMING_ACTIONS.get(str(data.get("action")), str(data.get("action")))
    return f"call from {data.get('from')} ({who}) to {data.get('to')} {done}"


def _recording_saved(data: Mapping[str, Any]) -> str:
    return f"{data.get('from')} left a message ({data.get('duration')} s)"


def _describer(
    message: Callable[[Mapping[str, Any]], str],
    icon: Callable[[Mapping[str, Any]], str],
) -> Callable[[Event], dict[str, str]]:
    @callback
    def describe(event: Event) -> dict[str, str]:
        return {
            LOGBOOK_ENTRY_NAME: "46elks",
            LOGBOOK_ENTRY_MESSAGE: message(event.data),
            LOGBOOK_ENTRY_ICON: icon(event.data),
        }

    return describe


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Describe the integration's events in the logbook.

    The events carry the account device's ``device_id``, which is what puts
    them in that device page's Activity card.
    """
    async_describe_event(
        DOMAIN, EVENT_CALL_ENDED, _describer(_call_ended, _call_ended_icon)
    )
    async_describe_event(
        DOMAIN, EVENT_KEYPRESS, _describer(_keypress, lambda _: "mdi:dialpad")
    )
    async_describe_event(
        DOMAIN,
        EVENT_INCOMING_CALL,
        _describer(_incoming_call, lambda _: "mdi:phone-incoming"),
    )
    async_describe_event(
        DOMAIN,
        EVENT_RECORDING_SAVED,
        _describer(_recording_saved, lambda _: "mdi:voicemail"),
    )
    async_describe_event(
        DOMAIN,
        EVENT_ESCALATION_FINISHED,
        _describer(_escalation_finished, lambda _: "mdi:phone-ring"),
    )
    async_describe_event(
        DOMAIN,
        EVENT_SMS_STATUS,
        _describer(
            _sms_status,
            lambda data: (
                "mdi:message-check"
                if data.get("status") == "delivered"
                else "mdi:message-alert"
            ),
        ),
    )
    async_describe_event(
        DOMAIN,
        EVENT_SMS_RECEIVED,
        _describer(_sms_received, lambda _: "mdi:message-arrow-left"),
    )
