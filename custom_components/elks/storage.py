"""What an account stores: one Store per kind, written soon after each change."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util.json import JsonObjectType

from .const import DOMAIN

STORAGE_VERSION = 1
# A change is on disk within this long of it, however busy it gets.
SAVE_DELAY = 1.0


class StoreKind(StrEnum):
    """The account's stores (``.storage/elks.<entry id>.<kind>``)."""

    CALLS = "calls"
    ESCALATIONS = "escalations"
    SMS = "sms"
    INCOMING_SMS = "incoming_sms"
    INCOMING_CALLS = "incoming_calls"


def entry_store(
    hass: HomeAssistant, entry_id: str, kind: StoreKind
) -> Store[JsonObjectType]:
    """Return one of an account's stores."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.{kind}")


class PromptSave:
    """Writes a store within SAVE_DELAY of the first unsaved change.

    The Store's own delayed save moves the write on with every call, so
    under steady activity it would never write: later changes ride along
    with the write already due instead (it reads the state when it writes).
    A stop writes at once (the Store listens for the final write).
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        kind: StoreKind,
        data: Callable[[], JsonObjectType],
    ) -> None:
        """Write what ``data()`` returns into the account's store of ``kind``."""
        self._hass = hass
        self.store = entry_store(hass, entry_id, kind)
        self._data = data
        self._due: float | None = None

    async def async_load(self) -> JsonObjectType:
        """Return what was stored; empty when nothing was."""
        return await self.store.async_load() or {}

    @callback
    def schedule(self) -> None:
        """Note a change: it is written within SAVE_DELAY."""
        now = self._hass.loop.time()
        if self._due is not None and now < self._due:
            return
        self._due = now + SAVE_DELAY
        self.store.async_delay_save(self._data, SAVE_DELAY)

    async def async_save(self) -> None:
        """Write now (on unload)."""
        self._due = None
        await self.store.async_save(self._data())


def stored_items[T](
    data: JsonObjectType, key: str, build: Callable[[dict[str, Any]], T]
) -> list[T]:
    """Rebuild the stored list ``key`` with ``build``.

    An item ``build`` cannot read (TypeError, ValueError: written by another
    version) is left out rather than failing the setup.
    """
    items = data.get(key)
    built: list[T] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            built.append(build(dict(item)))
        except TypeError, ValueError:
            continue
    return built


async def async_remove_stores(hass: HomeAssistant, entry_id: str) -> None:
    """Delete everything a removed account stored."""
    for kind in StoreKind:
        await entry_store(hass, entry_id, kind).async_remove()
