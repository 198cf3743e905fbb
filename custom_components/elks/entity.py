"""Base entities of the 46elks integration, and the account's device."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from homeassistant.components.event import EventEntity
from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util.json import JsonObjectType

from .const import DOMAIN, signal_subentries_added
from .runtime import ElksConfigEntry


def account_id(entry: ConfigEntry) -> str:
    """Return the 46elks account id the entry was set up with (its unique id)."""
    return entry.unique_id or entry.entry_id


def account_device_info(entry: ConfigEntry) -> DeviceInfo:
    """Return the account's service device."""
    return DeviceInfo(
        identifiers={(DOMAIN, account_id(entry))},
        name=entry.title,
        manufacturer="46elks",
        model="Voice API",
        entry_type=DeviceEntryType.SERVICE,
        configuration_url="https://46elks.com/account",
    )


@callback
def async_register_account_device(hass: HomeAssistant, entry: ConfigEntry) -> str:
    """Register the account's device before its entities; return its id.

    Recipient devices name it as the device they are reached through.
    """
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **account_device_info(entry)
    )
    return device.id


class ElksEntity(Entity):
    """An entity of one 46elks account, on the account's service device.

    Its unique id is the account's id and its description's key.
    """

    _attr_has_entity_name = True
    # Updates are pushed by webhooks and the account coordinator.
    _attr_should_poll = False

    def __init__(self, entry: ElksConfigEntry) -> None:
        """Attach to the account's device."""
        self._entry = entry
        self._attr_unique_id = f"{account_id(entry)}_{self.entity_description.key}"
        self._attr_device_info = account_device_info(entry)

    @callback
    def async_follow(self, signal: str, target: Callable[..., None]) -> None:
        """Call ``target`` with what each ``signal`` carries, until removed."""
        self.async_on_remove(async_dispatcher_connect(self.hass, signal, target))


class ElksSubentryEntity(ElksEntity):
    """An entity of one subentry, on the subentry's own device.

    A device belongs to one subentry, so these cannot share the account's
    device; theirs is reached through it.
    """

    # The model the subentry's device shows.
    _device_model: ClassVar[str]

    def __init__(
        self, entry: ElksConfigEntry, subentry: ConfigSubentry, account_device_id: str
    ) -> None:
        """Attach to the subentry's device."""
        super().__init__(entry)
        self._subentry_id = subentry.subentry_id
        self._attr_unique_id = f"{self._attr_unique_id}_{subentry.subentry_id}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry.subentry_id)},
            name=subentry.title,
            manufacturer="46elks",
            model=self._device_model,
            entry_type=DeviceEntryType.SERVICE,
            via_device_id=account_device_id,
        )


class ElksEventEntity(ElksEntity, EventEntity):
    """An event entity that fires what a dispatcher signal carries."""

    @callback
    def _fire(self, event_type: str, data: JsonObjectType) -> None:
        self._trigger_event(event_type, data)
        self.async_write_ha_state()


# Makes a subentry's entity from the entry, the subentry and the account's device id.
type SubentryEntityFactory = Callable[[ElksConfigEntry, ConfigSubentry, str], Entity]


@callback
def async_add_subentry_entities(
    hass: HomeAssistant,
    entry: ElksConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    subentry_type: str,
    factory: SubentryEntityFactory,
) -> None:
    """Add ``factory``'s entity for each subentry of a kind, now and when one is added.

    Added in place, without a reload; Home Assistant removes it with its
    subentry.
    """
    account_device_id = async_register_account_device(hass, entry)
    added: set[str] = set()

    @callback
    def add_new() -> None:
        for subentry in entry.subentries.values():
            if (
                subentry.subentry_type == subentry_type
                and subentry.subentry_id not in added
            ):
                added.add(subentry.subentry_id)
                async_add_entities(
                    [factory(entry, subentry, account_device_id)],
                    config_subentry_id=subentry.subentry_id,
                )

    add_new()
    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_subentries_added(entry.entry_id), add_new)
    )
