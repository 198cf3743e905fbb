"""Phone calls from Home Assistant through 46elks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress

from homeassistant.const import (
    CONF_PASSWORD,
    CONF_USERNAME,
    CONF_WEBHOOK_ID,
    EVENT_CORE_CONFIG_UPDATE,
    Platform,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.typing import ConfigType

from .api import ElksClient
from .assist import DATA_ASSIST, assist_claims, async_setup_assist
from .audio import async_setup_audio
from .const import (
    CONF_BASE_URL,
    DOMAIN,
    LOGGER,
    SUBENTRY_RECIPIENT,
    signal_subentries_added,
)
from .coordinator import ElksAccountCoordinator
from .dialer import Dialer
from .entity import async_register_account_device
from .incoming import IncomingCalls
from .models import AccountContext
from .numbers import NumberBindings
from .reconcile import CallReconciler
from .recordings import async_remove_recordings
from .repairs import async_number_not_updated
from .runtime import ElksConfigEntry, ElksData, subentries_snapshot
from .services import async_setup_services
from .signals import CallSignals
from .sms import SmsSender
from .storage import async_remove_stores
from .tracker import CallTracker
from .webhook import ElksWebhook

PLATFORMS: list[Platform] = [Platform.EVENT, Platform.NOTIFY, Platform.SENSOR]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions and the view serving spoken messages."""
    async_setup_services(hass)
    async_setup_audio(hass)
    async_setup_assist(hass)
    return True


def _account(hass: HomeAssistant, entry: ElksConfigEntry) -> AccountContext:
    client = ElksClient(
        async_get_clientsession(hass),
        entry.data[CONF_USERNAME],
        entry.data[CONF_PASSWORD],
        entry.data[CONF_BASE_URL],
    )
    return AccountContext(hass, entry, client)


async def async_setup_entry(hass: HomeAssistant, entry: ElksConfigEntry) -> bool:
    """Set up a 46elks account."""
    account = _account(hass, entry)
    coordinator = ElksAccountCoordinator(hass, entry, account.client)
    # Checks the credentials too: 401 starts reauth, anything else retries.
    await coordinator.async_config_entry_first_refresh()

    device_id = async_register_account_device(hass, entry)
    signals = CallSignals(hass, entry.entry_id, device_id)
    tracker = CallTracker(account, signals)
    await tracker.async_load()
    entry.async_on_unload(tracker.async_save)
    elks_webhook = ElksWebhook(account, tracker)
    sms = SmsSender(account, elks_webhook, device_id, coordinator)
    dialer = Dialer(account, tracker, signals, elks_webhook.hangup_url, sms.async_text)
    entry.async_on_unload(dialer.escalations.async_unload)
    reconciler = CallReconciler(account, tracker)
    numbers = await _async_number_bindings(account)
    entry.runtime_data = ElksData(
        account.client,
        coordinator,
        elks_webhook,
        tracker,
        dialer,
        reconciler,
        numbers,
        subentries_snapshot(entry.subentries),
        sms,
        incoming=IncomingCalls(account, elks_webhook.url_for),
    )
    await asyncio.gather(
        elks_webhook.async_setup(),
        sms.async_setup(),
        entry.runtime_data.incoming.async_load(),
    )
    entry.runtime_data.incoming.async_setup(elks_webhook, numbers)
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # After the platforms, so that the Call event entity hears of them too.
    await dialer.escalations.async_load()
    # After everything that claims numbers registered.
    await numbers.async_sync()
    # Hangups acknowledged and dropped before the webhook was registered, or
    # never sent (no public URL), are learned from 46elks instead.
    reconciler.async_start()
    return True


async def _async_number_bindings(account: AccountContext) -> NumberBindings:
    """Return the account's number bindings, loaded and kept up to date.

    A changed external URL changes the URL the numbers must lead to.
    """
    hass, entry = account.hass, account.entry
    numbers = NumberBindings(account)
    await numbers.async_load()
    entry.async_on_unload(numbers.async_unload)
    entry.async_on_unload(numbers.async_add_claims(lambda: assist_claims(hass, entry)))
    entry.async_on_unload(
        hass.bus.async_listen(
            EVENT_CORE_CONFIG_UPDATE, _sync_numbers_later(hass, entry, numbers)
        )
    )
    return numbers


def _sync_numbers_later(
    hass: HomeAssistant, entry: ElksConfigEntry, numbers: NumberBindings
) -> Callable[[Event], None]:
    @callback
    def sync(_event: Event) -> None:
        entry.async_create_background_task(
            hass, numbers.async_sync(), "elks number bindings"
        )

    return sync


async def _async_entry_updated(hass: HomeAssistant, entry: ElksConfigEntry) -> None:
    """Follow changes: options and subentries are read when used, new ones added in place.

    A reload would make every entity of the account unavailable and unknown
    for a moment (entries in the logbook) and cut running escalations short;
    only a changed recipient (its notify entity) needs one. Home Assistant
    removes a removed subentry's device and entities.
    """
    data = entry.runtime_data
    now = subentries_snapshot(entry.subentries)
    if now == data.subentries:
        data.coordinator.async_update_listeners()
        return
    recipient_changed = any(
        key in now
        and now[key] != old
        and entry.subentries[key].subentry_type == SUBENTRY_RECIPIENT
        for key, old in data.subentries.items()
    )
    added = now.keys() - data.subentries.keys()
    data.subentries = now
    # Numbers of new subentries lead here, those of removed ones go back.
    await data.numbers.async_sync()
    if recipient_changed:
        hass.config_entries.async_schedule_reload(entry.entry_id)
    elif added:
        async_dispatcher_send(hass, signal_subentries_added(entry.entry_id))


async def async_unload_entry(hass: HomeAssistant, entry: ElksConfigEntry) -> bool:
    """Unload a 46elks account."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: ElksConfigEntry) -> None:
    """Give the numbers back; forget stored calls, recordings and the cloudhook.

    The last account also takes the "46elks phone" user with it.
    """
    numbers = NumberBindings(_account(hass, entry))
    await numbers.async_load()
    await numbers.async_sync(give_back_all=True)
    numbers.async_unload()
    if numbers.pending:
        LOGGER.warning(
            "%d 46elks number field(s) could not be given back and still lead to"
            " this Home Assistant; change them on 46elks' numbers page",
            numbers.pending,
        )
    async_number_not_updated(hass, entry.entry_id, None)
    await numbers.async_remove()
    await async_remove_stores(hass, entry.entry_id)
    await async_remove_recordings(hass, entry.entry_id)
    last = all(e is entry for e in hass.config_entries.async_entries(DOMAIN))
    if last and (assist := hass.data.get(DATA_ASSIST)) is not None:
        await assist.async_remove_user()
    if "cloud" in hass.config.components:
        from homeassistant.components import cloud  # noqa: PLC0415

        with suppress(cloud.CloudNotAvailable, ValueError):
            await cloud.async_delete_cloudhook(hass, entry.data[CONF_WEBHOOK_ID])
