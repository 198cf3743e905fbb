"""Entities of an incoming number: its event entity and last incoming call sensor.

Each incoming-calls subentry gets a device of its own (a device belongs to
one subentry), reached through the account's. ``event.py`` and
``sensor.py`` add these next to the account's own entities.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.components.event import EventEntityDescription
from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntityDescription,
)
from homeassistant.core import callback
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonObjectType

from .const import signal_incoming_event
from .entity import ElksEventEntity, ElksSubentryEntity
from .models import IncomingEventType

INCOMING_CALL = EventEntityDescription(
    key="incoming_call",
    translation_key="incoming_call",
    event_types=list(IncomingEventType),
)
LAST_INCOMING_CALL = SensorEntityDescription(
    key="last_incoming_call",
    translation_key="last_incoming_call",
    device_class=SensorDeviceClass.TIMESTAMP,
)
# What the sensor shows of the last call (restored after a restart).
_ATTRIBUTES = ("call_id", "from", "allowed", "action")


class _IncomingNumberEntity(ElksSubentryEntity):
    """An entity on one incoming number's device, following its calls."""

    _device_model = "Incoming calls"

    async def async_added_to_hass(self) -> None:
        """Follow the number's calls."""
        await super().async_added_to_hass()
        self.async_follow(signal_incoming_event(self._entry.entry_id), self._received)

    @callback
    def _received(
        self, subentry_id: str, kind: IncomingEventType, data: JsonObjectType
    ) -> None:
        if subentry_id == self._subentry_id:
            self._handle(kind, data)

    def _handle(self, kind: IncomingEventType, data: JsonObjectType) -> None:
        raise NotImplementedError


class IncomingCallEventEntity(_IncomingNumberEntity, ElksEventEntity):
    """Fires when the number rings, rejects, answers, hears a key, records, ends."""

    entity_description = INCOMING_CALL

    @callback
    def _handle(self, kind: IncomingEventType, data: JsonObjectType) -> None:
        self._fire(kind, data)


class LastIncomingCallSensor(_IncomingNumberEntity, RestoreSensor):
    """When the number was last called, by whom, and what the caller got."""

    entity_description = LAST_INCOMING_CALL

    async def async_added_to_hass(self) -> None:
        """Restore the last call, then follow new ones."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_state()) is not None:
            self._attr_native_value = dt_util.parse_datetime(last.state)
            self._attr_extra_state_attributes = {
                key: last.attributes[key]
                for key in _ATTRIBUTES
                if key in last.attributes
            }

    @callback
    def _handle(self, kind: IncomingEventType, data: JsonObjectType) -> None:
        if kind is not IncomingEventType.RINGING:
            return
        created = data.get("created")
        when: datetime | None = (
            dt_util.parse_datetime(created) if isinstance(created, str) else None
        )
        self._attr_native_value = when or dt_util.utcnow()
        attributes: dict[str, Any] = {key: data.get(key) for key in _ATTRIBUTES}
        self._attr_extra_state_attributes = attributes
        self.async_write_ha_state()
