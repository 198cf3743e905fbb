"""The Call event entity: what happens to calls, for automations in the UI."""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util.json import JsonObjectType

from .const import signal_call_event
from .entity import ElksEntity
from .incoming_entities import IncomingCallEventEntity, async_add_incoming_entities
from .models import CallEventType
from .runtime import ElksConfigEntry

PARALLEL_UPDATES = 0

CALL = EventEntityDescription(
    key="call", translation_key="call", event_types=list(CallEventType)
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ElksConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the Call event entity, and each incoming number's."""
    async_add_entities([CallEventEntity(entry)])
    async_add_incoming_entities(
        hass, entry, async_add_entities, IncomingCallEventEntity
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
