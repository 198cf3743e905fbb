"""What the integration tells Home Assistant about calls: events and signals."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .api import Call, parse_timestamp
from .const import (
    EVENT_CALL_ENDED,
    EVENT_ESCALATION_FINISHED,
    EVENT_KEYPRESS,
    signal_call_event,
    signal_call_updated,
)


def _iso(value: str | None) -> str | None:
    parsed = parse_timestamp(value)
    return parsed.isoformat() if parsed else value


class CallEvents:
    """Turns call bookkeeping into bus events and entity updates for one entry."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Publish for ``entry_id``."""
        self._hass = hass
        self._entry_id = entry_id

    @callback
    def call_placed(self, call: Call) -> None:
        """Update entities with a newly placed call."""
        async_dispatcher_send(
            self._hass, signal_call_updated(self._entry_id), call, True
        )

    @callback
    def call_ended(self, call: Call, outcome: str, acknowledged: bool | None) -> None:
        """Fire ``elks_call_ended`` and update entities."""
        async_dispatcher_send(
            self._hass, signal_call_updated(self._entry_id), call, False
        )
        data: dict[str, Any] = {
            "config_entry_id": self._entry_id,
            "call_id": call.id,
            "to": call.to,
            "from": call.from_number,
            "state": call.state,
            "created": _iso(call.created),
            "start": _iso(call.start),
            "duration": call.duration or 0,
            "cost": call.cost_amount,
            "answered": call.answered,
            "acknowledged": acknowledged,
            "outcome": outcome,
        }
        self._hass.bus.async_fire(EVENT_CALL_ENDED, data)
        self._signal("ended", data)

    @callback
    def flow_event(
        self, call_id: str, to: str, kind: str, data: dict[str, Any]
    ) -> None:
        """Report what happened during an interactive call."""
        event_data = {
            "config_entry_id": self._entry_id,
            "call_id": call_id,
            "to": to,
            **data,
        }
        if kind == "keypress":
            self._hass.bus.async_fire(EVENT_KEYPRESS, event_data)
        self._signal(kind, event_data)

    @callback
    def escalation_finished(self, data: dict[str, Any]) -> None:
        """Fire ``elks_escalation_finished``."""
        event_data = {"config_entry_id": self._entry_id, **data}
        self._hass.bus.async_fire(EVENT_ESCALATION_FINISHED, event_data)
        self._signal("escalation_finished", event_data)

    def _signal(self, kind: str, data: dict[str, Any]) -> None:
        async_dispatcher_send(self._hass, signal_call_event(self._entry_id), kind, data)
