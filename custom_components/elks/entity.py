"""Base entity of the 46elks integration."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity

from .const import DOMAIN
from .models import ElksConfigEntry


class ElksEntity(Entity):
    """An entity of one 46elks account, on the account's service device."""

    _attr_has_entity_name = True

    def __init__(self, entry: ElksConfigEntry, key: str) -> None:
        """Attach to the account's device."""
        account = entry.runtime_data.account
        self._entry = entry
        self._attr_unique_id = f"{account.id}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, account.id)},
            name=entry.title,
            manufacturer="46elks",
            model="Voice API",
            entry_type=DeviceEntryType.SERVICE,
            configuration_url="https://46elks.com/account",
        )
