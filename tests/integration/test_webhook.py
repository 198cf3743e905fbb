"""Hangup webhooks through Home Assistant's real HTTP and webhook stack."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks.const import DOMAIN, EVENT_CALL_ENDED
from homeassistant.components import webhook
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .conftest import ANSWERS, BUSY, CALLER_ID, WEBHOOK_ID, Elks
from .test_call import SENSOR, call

WEBHOOK_PATH = f"/api/webhook/{WEBHOOK_ID}"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def hangup_form(call_id: str, to: str = ANSWERS, **extra: str) -> dict[str, str]:
    """Return a whenhangup form as 46elks posts it."""
    return {
        "id": call_id,
        "direction": "outgoing",
        "from": CALLER_ID,
        "to": to,
        "created": "2026-11-27T10:00:00.000000",
        "state": "success",
    } | extra


async def test_repeated_hangup_applied_once(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """46elks delivering a hangup twice ends the call once."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    elks.sim.faults.duplicate_webhooks = True
    [placed] = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"]
    await elks.sim.wait_call_finished(placed["id"])
    await hass.async_block_till_done()
    hangups = [d for d in elks.sim.deliveries if d.kind == "whenhangup"]
    assert len(hangups) == 2
    assert all(d.status == 200 for d in hangups)
    assert [e.data["call_id"] for e in events] == [placed["id"]]


async def test_hangup_before_call_response(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A hangup that overtakes the POST /calls response is still applied, once."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    # 46elks creates the call, the callee is busy at once, and the hangup
    # arrives while the response to our POST is still on its way: the
    # simulator answers the POST only after the hangup was answered.
    elks.sim.faults.hangup_before_response()
    [placed] = (await call(hass, to=BUSY, play="sound/beep"))["calls"]
    [hangup] = [d for d in elks.sim.deliveries if d.kind == "whenhangup"]
    assert hangup.status == 200
    assert hangup.call_id == placed["id"]
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == [placed["id"]]
    assert events[0].data["state"] == "busy"
    assert hass.states.get(SENSOR).state == "busy"


async def test_out_of_order_hangups(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Hangups delivered in reverse order each end their own call."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    elks.sim.faults.hold_webhooks()
    first = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"][0]
    second = (await call(hass, to=BUSY, play="sound/beep"))["calls"][0]
    while len(elks.sim.faults.held) < 2:
        await asyncio.sleep(0.01)
    held_order = [held.form["id"] for held in elks.sim.faults.held]
    elks.sim.faults.release_webhooks(reverse=True)
    for placed in (first, second):
        await elks.sim.wait_call_finished(placed["id"])
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == held_order[::-1]
    assert sorted(held_order) == sorted([first["id"], second["id"]])
    # The sensor shows the last call placed, not the last hangup received.
    state = hass.states.get(SENSOR)
    assert state.attributes["id"] == second["id"]
    assert state.state == "busy"


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (
            "id=cdeadbeef&from=%2B46766860001&to=%2B46700000101&state=success&created=x",
            FORM,
        ),
        ("", FORM),
        ("not a form at all", FORM),
        ('{"id": "c1", "state": "success"}', {"Content-Type": "application/json"}),
        ("id=c1&state=exploded&from=a&to=b&created=x", FORM),
        ("id=c1&state=success&from=a&to=b&created=x&duration=-4", FORM),
        ("id=../../etc&state=success&from=a&to=b&created=x", FORM),
        ("callid=c1&result=newoutgoing", FORM),
        (b"id=c1&to=\xff\xfe&state=success", FORM),
        ("id=c1&to=%FF&state=success&from=a&created=x", FORM),
        ("id=" + "c" * 70_000, FORM),
    ],
)
async def test_spoofed_or_malformed_hangups_change_nothing(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    body: str | bytes,
    headers: dict[str, str],
) -> None:
    """Unknown ids and junk are answered 200 (no retries) and change nothing."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    [placed] = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"]
    await elks.sim.wait_call_finished(placed["id"])
    await hass.async_block_till_done()
    before = hass.states.get(SENSOR)

    response = await hass_http.post(WEBHOOK_PATH, data=body, headers=headers)
    assert response.status == 200
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == [placed["id"]]
    after = hass.states.get(SENSOR)
    assert (after.state, after.attributes) == (before.state, before.attributes)


async def test_known_id_with_other_numbers_is_ignored(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """A forged hangup for a real call id but other numbers does not end it."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    elks.sim.faults.hold_webhooks()
    [placed] = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"]
    forged = hangup_form(placed["id"], to="+46700000999")
    response = await hass_http.post(WEBHOOK_PATH, data=urlencode(forged), headers=FORM)
    assert response.status == 200
    await hass.async_block_till_done()
    assert events == []
    assert hass.states.get(SENSOR).state == "ongoing"
    elks.sim.faults.release_webhooks()
    await elks.sim.wait_call_finished(placed["id"])
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == [placed["id"]]


async def test_wrong_method_refused(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_http: TestClient
) -> None:
    """Only POST is accepted; the refusal does not log the webhook id."""
    for method in ("GET", "PUT"):
        response = await hass_http.request(method, WEBHOOK_PATH)
        assert response.status == 405


async def test_restart_between_call_and_hangup(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A hangup arriving after a restart still ends the call placed before it."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    elks.sim.faults.hold_webhooks()
    [placed] = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"]
    while not elks.sim.faults.held:
        await asyncio.sleep(0.01)

    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    # Nothing is listening now: 46elks would retry; here the hangup waits.
    assert await hass.config_entries.async_setup(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(SENSOR).state == "ongoing"

    elks.sim.faults.release_webhooks()
    await elks.sim.wait_call_finished(placed["id"])
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == [placed["id"]]
    assert hass.states.get(SENSOR).state == "success"


async def test_without_public_url(
    hass: HomeAssistant,
    elks: Elks,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """With no URL 46elks can reach, calls still go out and a repair issue says why."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    issue_id = f"no_public_url_{config_entry.entry_id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {"account": "Home"}

    [placed] = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"]
    [form] = elks.call_posts()
    assert "whenhangup" not in form
    assert hass.states.get(SENSOR).state == "ongoing"
    assert hass.states.get(SENSOR).attributes["id"] == placed["id"]

    await hass.config.async_update(external_url="https://home.example.org")
    await call(hass, to=ANSWERS, play="sound/beep")
    assert (
        elks.call_posts()[-1]["whenhangup"]
        == f"https://home.example.org/api/webhook/{WEBHOOK_ID}"
    )
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_unload_stops_listening(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """After unload the webhook is gone and the entry is not loaded."""
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    assert loaded_entry.state is ConfigEntryState.NOT_LOADED

    async def handler(*args: object) -> None:
        return None

    # Registering the id again only works when nothing holds it any more.
    webhook.async_register(hass, "test", "test", WEBHOOK_ID, handler)
    with pytest.raises(ValueError):
        webhook.async_register(hass, "test", "test", WEBHOOK_ID, handler)
