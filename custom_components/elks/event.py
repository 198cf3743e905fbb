"""Event entities: what happens to calls, and SMS to the account's numbers."""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util.json import JsonObjectType

from .const import (
    DOMAIN,
    SUBENTRY_INCOMING_CALL,
    SUBENTRY_INCOMING_SMS,
    signal_call_event,
    signal_sms_received,
)
from .entity import (
    ElksEntity,
    async_add_subentry_entities,
    async_register_account_device,
)
from .incoming_entities import IncomingCallEventEntity
from .incoming_sms import IncomingSms
from .models import CallEventType, WebhookRoute
from .runtime import ElksConfigEntry

PARALLEL_UPDATES = 0

CALL = EventEntityDescription(
    key="call", translation_key="call", event_types=list(CallEventType)
)
SMS_RECEIVED = "received"
INCOMING_SMS = EventEntityDescription(
    key="incoming_sms", translation_key="incoming_sms", event_types=[SMS_RECEIVED]
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ElksConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the Call event entity, and each incoming number's (calls, SMS)."""
    async_add_entities([CallEventEntity(entry)])
    async_add_subentry_entities(
        hass,
        entry,
        async_add_entities,
        SUBENTRY_INCOMING_CALL,
        IncomingCallEventEntity,
    )
    await _async_setup_incoming_sms(hass, entry, async_add_entities)


async def _async_setup_incoming_sms(
    hass: HomeAssistant,
    entry: ElksConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Take incoming SMS: the route, the numbers' claims, an entity per number.

    Here, before setup points the claimed numbers at Home Assistant.
    """
    runtime = entry.runtime_data
    account_device_id = async_register_account_device(hass, entry)
    incoming = IncomingSms(hass, entry, runtime.webhook, account_device_id)
    await incoming.async_load()
    entry.async_on_unload(incoming.async_save)
    entry.async_on_unload(
        runtime.webhook.async_add_route(
            WebhookRoute.SMS_RECEIVED, incoming.async_handle
        )
    )
    entry.async_on_unload(runtime.numbers.async_add_claims(incoming.claims))
    async_add_subentry_entities(
        hass,
        entry,
        async_add_entities,
        SUBENTRY_INCOMING_SMS,
        IncomingSmsEventEntity,
    )


class CallEventEntity(ElksEntity, EventEntity):
    """Fires for answered, acknowledged, key presses, ended calls and escalations."""

    entity_description = CALL

    def __init__(self, entry: ElksConfigEntry) -> None:
        """Attach to the account."""
        super().__init__(entry, CALL.key)

    async def async_added_to_hass(self) -> None:
        """Listen for call events of this account."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, signal_call_event(self._entry.entry_id), self._handle
            )
        )

    @callback
    def _handle(self, kind: CallEventType, data: JsonObjectType) -> None:
        self._trigger_event(kind, data)
        self.async_write_ha_state()


class IncomingSmsEventEntity(ElksEntity, EventEntity):
    """Fires for every SMS to one of the account's numbers."""

    entity_description = INCOMING_SMS

    def __init__(
        self, entry: ElksConfigEntry, subentry: ConfigSubentry, account_device_id: str
    ) -> None:
        """Give the number a device of its own, under the account's."""
        super().__init__(entry, f"incoming_sms_{subentry.subentry_id}")
        self._subentry_id = subentry.subentry_id
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry.subentry_id)},
            name=subentry.title,
            manufacturer="46elks",
            model="Incoming SMS",
            entry_type=DeviceEntryType.SERVICE,
            via_device_id=account_device_id,
        )

    async def async_added_to_hass(self) -> None:
        """Listen for SMS to this number."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, signal_sms_received(self._subentry_id), self._handle
            )
        )

    @callback
    def _handle(self, data: JsonObjectType) -> None:
        self._trigger_event(SMS_RECEIVED, data)
        self.async_write_ha_state()
