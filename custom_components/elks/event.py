"""Event entities: what happens to calls, and SMS to the account's numbers."""

from __future__ import annotations

from homeassistant.components.event import EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util.json import JsonObjectType

from .const import (
    SUBENTRY_INCOMING_CALL,
    SUBENTRY_INCOMING_SMS,
    signal_call_event,
    signal_sms_received,
)
from .entity import (
    ElksEventEntity,
    ElksSubentryEntity,
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


class CallEventEntity(ElksEventEntity):
    """Fires for answered, acknowledged, key presses, ended calls and escalations."""

    entity_description = CALL

    async def async_added_to_hass(self) -> None:
        """Listen for call events of this account."""
        await super().async_added_to_hass()
        self.async_follow(signal_call_event(self._entry.entry_id), self._fire)


class IncomingSmsEventEntity(ElksSubentryEntity, ElksEventEntity):
    """Fires for every SMS to one of the account's numbers."""

    entity_description = INCOMING_SMS
    _device_model = "Incoming SMS"

    async def async_added_to_hass(self) -> None:
        """Listen for SMS to this number."""
        await super().async_added_to_hass()
        self.async_follow(signal_sms_received(self._subentry_id), self._received)

    @callback
    def _received(self, data: JsonObjectType) -> None:
        self._fire(SMS_RECEIVED, data)
