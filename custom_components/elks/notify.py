"""A notify entity per recipient: notify.send_message calls and speaks, or texts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from homeassistant.components.notify import NotifyEntity, NotifyEntityDescription
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import (
    ATTR_LANGUAGE,
    ATTR_MESSAGE,
    ATTR_TO,
    ATTR_TTS_ENGINE,
    CONF_LANGUAGE,
    CONF_REACH_BY,
    CONF_RECIPIENT_NUMBER,
    CONF_TTS_ENGINE,
    SUBENTRY_RECIPIENT,
)
from .entity import ElksSubentryEntity, async_add_subentry_entities
from .models import ReachBy
from .runtime import ElksConfigEntry
from .services import CALL_SCHEMA, call_request

# Each message is one phone call; 46elks takes them concurrently.
PARALLEL_UPDATES = 0

RECIPIENT = NotifyEntityDescription(key="recipient")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ElksConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a notify entity for each recipient subentry, now and when one is added."""
    async_add_subentry_entities(
        hass, entry, async_add_entities, SUBENTRY_RECIPIENT, RecipientNotifyEntity
    )


class RecipientNotifyEntity(ElksSubentryEntity, NotifyEntity):
    """Calls one recipient and speaks the message."""

    entity_description = RECIPIENT
    _attr_name = None
    _device_model = "Recipient"

    def __init__(
        self, entry: ElksConfigEntry, subentry: ConfigSubentry, account_device_id: str
    ) -> None:
        """Reach the subentry's number, the way it asks for."""
        super().__init__(entry, subentry, account_device_id)
        self._number = str(subentry.data[CONF_RECIPIENT_NUMBER])
        self._reach_by = ReachBy(subentry.data.get(CONF_REACH_BY, ReachBy.CALL))

    async def async_send_message(self, message: str, title: str | None = None) -> None:
        """Call the recipient and speak, text them, or both (their option).

        With both, each is tried even when the other fails; the first
        failure is raised after both.
        """
        sends: list[Awaitable[object]] = []
        if self._reach_by.texts:
            text = f"{title}\n{message}" if title else message
            sends.append(self._entry.runtime_data.sms.async_text((self._number,), text))
        if self._reach_by.calls:
            sends.append(self._async_call(message, title))
        results = await asyncio.gather(*sends, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _async_call(self, message: str, title: str | None) -> None:
        """Call the recipient and speak the title and message.

        Checked as ``elks.call`` data, so validation and errors are the same.
        """
        text = f"{title}. {message}" if title else message
        options = self._entry.options
        data: dict[str, str] = {ATTR_TO: self._number, ATTR_MESSAGE: text}
        if engine := options.get(CONF_TTS_ENGINE):
            data[ATTR_TTS_ENGINE] = engine
        if language := options.get(CONF_LANGUAGE):
            data[ATTR_LANGUAGE] = language
        request = call_request(CALL_SCHEMA(data), options)
        await self._entry.runtime_data.dialer.async_call(request)
