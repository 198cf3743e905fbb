"""What the integration tells Home Assistant about calls: bus events and dispatcher signals."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util.json import JsonObjectType

from .api import Call
from .const import (
    EVENT_CALL_ENDED,
    EVENT_ESCALATION_FINISHED,
    EVENT_KEYPRESS,
    signal_call_event,
    signal_call_updated,
)
from .models import CallEventType, CallOutcome, call_data


class CallSignals:
    """Turns call bookkeeping into bus events and entity updates for one entry."""

    def __init__(self, hass: HomeAssistant, entry_id: str, device_id: str) -> None:
        """Publish for ``entry_id``; bus events name the account's ``device_id``.

        The device id puts the events in the device page's Activity card.
        """
        self._hass = hass
        self._entry_id = entry_id
        self._device_id = device_id
        self._updated = signal_call_updated(entry_id)
        self._event = signal_call_event(entry_id)
        # The newest placement not yet shown: a fan-out to 50 people is one
        # state write of the last call sensor, not 50.
        self._placed: Call | None = None
        self._shown: str | None = None
        self._batches = 0
        self._placements = _Placements(self)

    def placements(self) -> _Placements:
        """Show the placements made inside at its end only (one action's calls)."""
        return self._placements

    @callback
    def call_placed(self, call: Call) -> None:
        """Update entities with a newly placed call (once per action or loop turn)."""
        if self._placed is None and not self._batches:
            self._hass.loop.call_soon(self._show_placed)
        self._placed = call

    @callback
    def _show_placed(self) -> None:
        if (call := self._placed) is not None:
            self._placed = None
            self._shown = call.id
            async_dispatcher_send(self._hass, self._updated, call, True)

    @callback
    def call_ended(
        self, call: Call, outcome: CallOutcome, acknowledged: bool | None
    ) -> None:
        """Fire ``elks_call_ended`` and update entities."""
        # A placement not shown yet comes first, or its end would be lost.
        self._show_placed()
        # Entities show the newest call: an older one ending changes nothing
        # (None: nothing shown since setup, the sensor restored its own).
        if self._shown in (None, call.id):
            async_dispatcher_send(self._hass, self._updated, call, False)
        shown = call_data(call)
        data: JsonObjectType = {
            "config_entry_id": self._entry_id,
            "device_id": self._device_id,
            "call_id": shown.pop("id"),
            **shown,
            "duration": call.duration or 0,
            "acknowledged": acknowledged,
            "outcome": outcome,
        }
        self._hass.bus.async_fire(EVENT_CALL_ENDED, data)
        self._signal(CallEventType.ENDED, data)

    @callback
    def flow_event(
        self, call_id: str, to: str, kind: CallEventType, data: JsonObjectType
    ) -> None:
        """Report what happened during an interactive call."""
        event_data: JsonObjectType = {
            "config_entry_id": self._entry_id,
            "device_id": self._device_id,
            "call_id": call_id,
            "to": to,
            **data,
        }
        if kind is CallEventType.KEYPRESS:
            self._hass.bus.async_fire(EVENT_KEYPRESS, event_data)
        self._signal(kind, event_data)

    @callback
    def escalation_finished(self, data: JsonObjectType) -> None:
        """Fire ``elks_escalation_finished``."""
        event_data: JsonObjectType = {
            "config_entry_id": self._entry_id,
            "device_id": self._device_id,
            **data,
        }
        self._hass.bus.async_fire(EVENT_ESCALATION_FINISHED, event_data)
        self._signal(CallEventType.ESCALATION_FINISHED, event_data)

    def _signal(self, kind: CallEventType, data: JsonObjectType) -> None:
        async_dispatcher_send(self._hass, self._event, kind, data)


class _Placements:
    """The context of ``CallSignals.placements`` (a class: on every action's path)."""

    __slots__ = ("_signals",)

    def __init__(self, signals: CallSignals) -> None:
        self._signals = signals

    def __enter__(self) -> Self:
        self._signals._batches += 1  # noqa: SLF001
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        signals = self._signals
        signals._batches -= 1  # noqa: SLF001
        if not signals._batches:  # noqa: SLF001
            signals._show_placed()  # noqa: SLF001
