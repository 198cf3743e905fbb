"""Phone calls from Home Assistant through 46elks."""

from __future__ import annotations

from contextlib import suppress

from homeassistant.const import CONF_PASSWORD, CONF_USERNAME, CONF_WEBHOOK_ID, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.typing import ConfigType

from .api import Call, ElksAuthenticationError, ElksClient, ElksError, parse_timestamp
from .calls import CallTracker
from .const import CONF_BASE_URL, DOMAIN, EVENT_CALL_ENDED, signal_call_updated
from .models import ElksConfigEntry, ElksData
from .services import async_setup_services
from .webhook import ElksWebhook

PLATFORMS: list[Platform] = [Platform.SENSOR]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ElksConfigEntry) -> bool:
    """Set up a 46elks account."""
    client = ElksClient(
        async_get_clientsession(hass),
        entry.data[CONF_USERNAME],
        entry.data[CONF_PASSWORD],
        entry.data[CONF_BASE_URL],
    )
    try:
        account = await client.get_account()
    except ElksAuthenticationError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="auth_failed"
        ) from err
    except ElksError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"error": str(err)},
        ) from err

    @callback
    def call_updated(call: Call, placed: bool) -> None:
        async_dispatcher_send(hass, signal_call_updated(entry.entry_id), call, placed)
        if call.state != "ongoing":
            hass.bus.async_fire(EVENT_CALL_ENDED, call_ended_event_data(entry, call))

    tracker = CallTracker(hass, entry.entry_id, call_updated)
    await tracker.async_load()
    entry.async_on_unload(tracker.async_save)
    elks_webhook = ElksWebhook(hass, entry)
    entry.runtime_data = ElksData(client, account, elks_webhook, tracker)
    await elks_webhook.async_setup()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ElksConfigEntry) -> bool:
    """Unload a 46elks account."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: ElksConfigEntry) -> None:
    """Forget stored calls and the cloudhook of a removed account."""
    await CallTracker(hass, entry.entry_id, lambda call, placed: None).async_remove()
    if "cloud" in hass.config.components:
        from homeassistant.components import cloud  # noqa: PLC0415

        with suppress(cloud.CloudNotAvailable, ValueError):
            await cloud.async_delete_cloudhook(hass, entry.data[CONF_WEBHOOK_ID])


def call_ended_event_data(entry: ElksConfigEntry, call: Call) -> dict[str, object]:
    """Return the data of the ``elks_call_ended`` event."""
    return {
        "config_entry_id": entry.entry_id,
        "call_id": call.id,
        "to": call.to,
        "from": call.from_number,
        "state": call.state,
        "created": _iso(call.created),
        "start": _iso(call.start),
        "duration": call.duration or 0,
        "cost": call.cost_amount,
        "answered": call.answered,
    }


def _iso(value: str | None) -> str | None:
    parsed = parse_timestamp(value)
    return parsed.isoformat() if parsed else value
