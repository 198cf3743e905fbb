"""Base entity of the 46elks integration, and the account's device."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity

from .const import DOMAIN
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
