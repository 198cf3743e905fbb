"""Base entity of the 46elks integration, and the account's device."""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

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
    """An entity of one 46elks account, on the account's service device."""

    _attr_has_entity_name = True
    # Updates are pushed by webhooks and the account coordinator.
    _attr_should_poll = False

    def __init__(self, entry: ElksConfigEntry, key: str) -> None:
        """Attach to the account's device."""
        self._entry = entry
        self._attr_unique_id = f"{account_id(entry)}_{key}"
        self._attr_device_info = account_device_info(entry)


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
