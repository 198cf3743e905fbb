"""The test roads themselves: Cloud relay, both delivery roads, a real restart."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks.const import EVENT_CALL_ENDED
from homeassistant.core import HomeAssistant

from .conftest import ANSWERS, WEBHOOK_ID, Elks
from .roads import CloudRelay, Restarter, Road, deliver
from .test_call import call, held_hangup


async def test_hangup_by_each_road(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
) -> None:
    """A hangup ends its call whichever road it takes."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    form = await held_hangup(hass, elks)
    status, _ = await deliver(hass, hass_http, WEBHOOK_ID, form, road)
    await hass.async_block_till_done()
    assert status == 200
    assert [e.data["call_id"] for e in events] == [form["id"]]


async def test_simulator_delivers_through_the_cloud_relay(
    hass: HomeAssistant,
    elks: Elks,
    cloud_relay: CloudRelay,
    config_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """With Home Assistant Cloud, 46elks' hangup arrives by the Cloud road."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    [placed] = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"]
    assert elks.call_posts()[0]["whenhangup"] == cloud_relay.url(WEBHOOK_ID)
    await elks.sim.wait_call_finished(placed["id"])
    await hass.async_block_till_done()
    assert cloud_relay.deliveries == 1
    assert [e.data["call_id"] for e in events] == [placed["id"]]


async def test_hangup_after_a_real_restart(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    restarter: Restarter,
) -> None:
    """A call placed before a stop is ended by its hangup after the start."""
    elks.sim.faults.hold_webhooks()
    [placed] = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"]
    await elks.sim.wait_webhook_held(placed["id"])
    hass2, _, _ = await restarter.restart(hass, hass_http, loaded_entry)
    events = async_capture_events(hass2, EVENT_CALL_ENDED)
    elks.sim.faults.release_webhooks()
    await elks.sim.wait_call_finished(placed["id"])
    [delivery] = [d for d in elks.sim.deliveries if d.kind == "whenhangup"]
    await hass2.async_block_till_done()
    assert delivery.status == 200
    assert [e.data["call_id"] for e in events] == [placed["id"]]
