"""Sensor for the last call placed by a 46elks account."""

from __future__ import annotations

from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorStateClass,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api import CALL_STATES, Call, parse_timestamp
from .const import signal_call_updated
from .coordinator import ElksAccountCoordinator
from .entity import ElksEntity
from .models import ElksConfigEntry

# Updates come from the webhook and the account coordinator.
PARALLEL_UPDATES = 0

_ATTRIBUTES = ("id", "to", "from", "direction", "created", "start", "duration", "cost")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ElksConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the last call and balance sensors."""
    async_add_entities([LastCallSensor(entry), BalanceSensor(entry)])


def _call_attributes(call: Call) -> dict[str, Any]:
    start = parse_timestamp(call.start)
    created = parse_timestamp(call.created)
    return {
        "id": call.id,
        "to": call.to,
        "from": call.from_number,
        "direction": call.direction,
        "created": created.isoformat() if created else call.created,
        "start": start.isoformat() if start else None,
        "duration": call.duration,
        "cost": call.cost_amount,
    }


class LastCallSensor(ElksEntity, RestoreSensor):
    """State of the most recently placed call: ongoing, success, busy or failed."""

    _attr_translation_key = "last_call"
    _attr_device_class = SensorDeviceClass.ENUM
    _attr_options = list(CALL_STATES)
    _attr_should_poll = False

    def __init__(self, entry: ElksConfigEntry) -> None:
        """Start without a call until one is placed or restored."""
        super().__init__(entry, "last_call")
        self._attr_extra_state_attributes = {}

    async def async_added_to_hass(self) -> None:
        """Restore the last call and follow new ones."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_state()) is not None:
            if last.state in CALL_STATES:
                self._attr_native_value = last.state
                self._attr_extra_state_attributes = {
                    key: last.attributes.get(key) for key in _ATTRIBUTES
                }
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, signal_call_updated(self._entry.entry_id), self._call_updated
            )
        )

    @callback
    def _call_updated(self, call: Call, placed: bool) -> None:
        # A newly placed call takes over; an older call ending does not.
        if not placed and call.id != self._attr_extra_state_attributes.get("id"):
            return
        self._attr_native_value = call.state
        self._attr_extra_state_attributes = _call_attributes(call)
        self.async_write_ha_state()


class BalanceSensor(
    ElksEntity, CoordinatorEntity[ElksAccountCoordinator], SensorEntity
):
    """Money left on the account, so that an alarm call does not fail for lack of it."""

    _attr_translation_key = "balance"
    _attr_device_class = SensorDeviceClass.MONETARY
    _attr_state_class = SensorStateClass.TOTAL
    _attr_suggested_display_precision = 2

    def __init__(self, entry: ElksConfigEntry) -> None:
        """Follow the account coordinator."""
        ElksEntity.__init__(self, entry, "balance")
        CoordinatorEntity.__init__(self, entry.runtime_data.coordinator)
        self._attr_native_unit_of_measurement = self.coordinator.data.currency or None

    @property
    def native_value(self) -> float:
        """Balance in currency units."""
        return self.coordinator.data.balance_amount
