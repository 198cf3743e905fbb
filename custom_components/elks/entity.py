"""Base entity of the 46elks integration."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity

from .const import DOMAIN
from .models import ElksConfigEntry


class ElksEntity(Entity):
    """An entity of one 46elks account, on the account's service device."""

    _attr_has_entity_name = True
    # Updates are pushed by webhooks and the account coordinator.
    _attr_should_poll = False

    def __init__(self, entry: ElksConfigEntry, key: str) -> None:
        """Attach to the account's device."""
        # The entry's unique id is the 46elks account id it was set up with.
        account_id = entry.unique_id or entry.entry_id
        self._entry = entry
        self._attr_unique_id = f"{account_id}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, account_id)},
            name=entry.title,
            manufacturer="46elks",
            model="Voice API",
            entry_type=DeviceEntryType.SERVICE,
            configuration_url="https://46elks.com/account",
        )
