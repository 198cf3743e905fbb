"""Sensors of a 46elks account: the last call placed, and the balance."""

from __future__ import annotations

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api import CALL_STATES, SMS_STATUSES, Call
from .const import SUBENTRY_INCOMING_CALL, signal_call_updated, signal_sms_updated
from .coordinator import ElksAccountCoordinator
from .entity import ElksEntity, async_add_subentry_entities
from .incoming_entities import LastIncomingCallSensor
from .models import call_data
from .runtime import ElksConfigEntry
from .sms import SentSms

# Updates come from the webhook and the account coordinator.
PARALLEL_UPDATES = 0

# What the last call sensor shows of a call (restored after a restart).
# ``duration`` is in seconds and ``cost`` in ``currency`` (the account's):
# attributes carry no unit of their own.
_ATTRIBUTES = (
    "id",
    "to",
    "from",
    "direction",
    "created",
    "start",
    "duration",
    "cost",
    "currency",
)

LAST_CALL = SensorEntityDescription(
    key="last_call",
    translation_key="last_call",
    device_class=SensorDeviceClass.ENUM,
    options=list(CALL_STATES),
)
LAST_SMS = SensorEntityDescription(
    key="last_sms",
    translation_key="last_sms",
    device_class=SensorDeviceClass.ENUM,
    options=list(SMS_STATUSES),
)
# What the last SMS sensor shows (``cost`` in ``currency``; no message text).
_SMS_ATTRIBUTES = (
    "id",
    "to",
    "from",
    "parts",
    "cost",
    "currency",
    "created",
    "delivered",
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
        [LastCallSensor(entry), LastSmsSensor(entry), BalanceSensor(entry)]
    )
    async_add_subentry_entities(
        hass,
        entry,
        async_add_entities,
        SUBENTRY_INCOMING_CALL,
        LastIncomingCallSensor,
    )


class LastCallSensor(ElksEntity, RestoreSensor):
    """State of the most recently placed call: ongoing, success, busy or failed."""

    entity_description = LAST_CALL

    def __init__(self, entry: ElksConfigEntry) -> None:
        """Start without a call until one is placed or restored."""
        super().__init__(entry, LAST_CALL.key)
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
        shown = call_data(call)
        shown["currency"] = self._entry.runtime_data.account.currency or None
        self._attr_extra_state_attributes = {key: shown[key] for key in _ATTRIBUTES}
        self.async_write_ha_state()


class LastSmsSensor(ElksEntity, RestoreSensor):
    """Status of the most recently sent SMS: created, sent, delivered or failed."""

    entity_description = LAST_SMS

    def __init__(self, entry: ElksConfigEntry) -> None:
        """Start without an SMS until one is sent or restored."""
        super().__init__(entry, LAST_SMS.key)
        self._attr_extra_state_attributes = {}

    async def async_added_to_hass(self) -> None:
        """Restore the last SMS and follow new ones."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_state()) is not None:
            if last.state in SMS_STATUSES:
                self._attr_native_value = last.state
                self._attr_extra_state_attributes = {
                    key: last.attributes.get(key) for key in _SMS_ATTRIBUTES
                }
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, signal_sms_updated(self._entry.entry_id), self._sms_updated
            )
        )

    @callback
    def _sms_updated(self, sms: SentSms, sent: bool) -> None:
        # A new SMS takes over; the report of an older one does not.
        if not sent and sms.id != self._attr_extra_state_attributes.get("id"):
            return
        self._attr_native_value = sms.status
        shown = sms.as_dict()
        shown["currency"] = self._entry.runtime_data.account.currency or None
        self._attr_extra_state_attributes = {key: shown[key] for key in _SMS_ATTRIBUTES}
        self.async_write_ha_state()


class BalanceSensor(
    ElksEntity, CoordinatorEntity[ElksAccountCoordinator], SensorEntity
):
    """Money left on the account, so that an alarm call does not fail for lack of it."""

    entity_description = BALANCE

    def __init__(self, entry: ElksConfigEntry) -> None:
        """Follow the account coordinator."""
        ElksEntity.__init__(self, entry, BALANCE.key)
        CoordinatorEntity.__init__(self, entry.runtime_data.coordinator)
        self._attr_native_unit_of_measurement = self.coordinator.data.currency or None

    @property
    def native_value(self) -> float:
        """Balance in currency units."""
        return self.coordinator.data.balance_amount
