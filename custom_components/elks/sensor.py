"""Sensors of a 46elks account: the last call placed, and the balance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util.json import JsonObjectType

from .api import CALL_STATES, SMS_STATUSES, Call
from .const import (
    SUBENTRY_INCOMING_CALL,
    DispatcherSignal,
    signal_call_updated,
    signal_sms_updated,
)
from .coordinator import ElksAccountCoordinator
from .entity import ElksEntity, async_add_subentry_entities
from .incoming_entities import LastIncomingCallSensor
from .models import call_data
from .runtime import ElksConfigEntry
from .sms import SentSms

# Updates come from the webhook and the account coordinator.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class LastSentSensorDescription[T](SensorEntityDescription):
    """Describes a sensor of the last call placed or SMS sent, kept over a restart.

    ``signal`` carries a ``T`` and whether it is a new one; ``data_fn`` shows
    it (with its ``id``). The state is its ``state_key``, the attributes its
    ``attributes``: ``cost`` in ``currency`` (the account's), as attributes
    carry no unit of their own.
    """

    signal: DispatcherSignal
    data_fn: Callable[[T], JsonObjectType]
    state_key: str
    attributes: tuple[str, ...]


LAST_CALL = LastSentSensorDescription[Call](
    key="last_call",
    translation_key="last_call",
    options=list(CALL_STATES),
    signal=signal_call_updated,
    data_fn=call_data,
    state_key="state",
    attributes=(
        "id",
        "to",
        "from",
        "direction",
        "created",
        "start",
        "duration",
        "cost",
        "currency",
    ),
)
# No message text.
LAST_SMS = LastSentSensorDescription[SentSms](
    key="last_sms",
    translation_key="last_sms",
    options=list(SMS_STATUSES),
    signal=signal_sms_updated,
    data_fn=SentSms.as_dict,
    state_key="status",
    attributes=(
        "id",
        "to",
        "from",
        "parts",
        "cost",
        "currency",
        "created",
        "delivered",
    ),
)
BALANCE = SensorEntityDescription(
    key="balance",
    translation_key="balance",
    device_class=SensorDeviceClass.MONETARY,
    state_class=SensorStateClass.TOTAL,
    suggested_display_precision=2,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ElksConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the last call, last SMS and balance sensors, and each incoming number's."""
    async_add_entities(
        [
            LastSentSensor(entry, LAST_CALL),
            LastSentSensor(entry, LAST_SMS),
            BalanceSensor(entry),
        ]
    )
    async_add_subentry_entities(
        hass,
        entry,
        async_add_entities,
        SUBENTRY_INCOMING_CALL,
        LastIncomingCallSensor,
    )


class LastSentSensor[T](ElksEntity, RestoreSensor):
    """State of the last call placed (ongoing, success, busy, failed) or SMS sent."""

    entity_description: LastSentSensorDescription[T]
    # Its state is one of the description's options.
    _attr_device_class = SensorDeviceClass.ENUM

    def __init__(
        self, entry: ElksConfigEntry, description: LastSentSensorDescription[T]
    ) -> None:
        """Start without a call or SMS until one is sent or restored."""
        self.entity_description = description
        super().__init__(entry)
        self._attr_extra_state_attributes = {}

    async def async_added_to_hass(self) -> None:
        """Restore the last one and follow new ones."""
        await super().async_added_to_hass()
        description = self.entity_description
        last = await self.async_get_last_state()
        if last is not None and last.state in (description.options or ()):
            self._attr_native_value = last.state
            self._attr_extra_state_attributes = {
                key: last.attributes.get(key) for key in description.attributes
            }
        self.async_follow(description.signal(self._entry.entry_id), self._updated)

    @callback
    def _updated(self, sent: T, new: bool) -> None:
        description = self.entity_description
        shown = description.data_fn(sent)
        # A new one takes over; news of an older one does not.
        if not new and shown["id"] != self._attr_extra_state_attributes.get("id"):
            return
        self._attr_native_value = str(shown[description.state_key])
        shown["currency"] = self._entry.runtime_data.account.currency or None
        self._attr_extra_state_attributes = {
            key: shown[key] for key in description.attributes
        }
        self.async_write_ha_state()


class BalanceSensor(
    ElksEntity, CoordinatorEntity[ElksAccountCoordinator], SensorEntity
):
    """Money left on the account, so that an alarm call does not fail for lack of it."""

    entity_description = BALANCE

    def __init__(self, entry: ElksConfigEntry) -> None:
        """Follow the account coordinator."""
        ElksEntity.__init__(self, entry)
        CoordinatorEntity.__init__(self, entry.runtime_data.coordinator)
        self._attr_native_unit_of_measurement = self.coordinator.data.currency or None

    @property
    def native_value(self) -> float:
        """Balance in currency units."""
        return self.coordinator.data.balance_amount
