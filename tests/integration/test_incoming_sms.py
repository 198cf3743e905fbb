"""Incoming SMS: a number's sms_url taken over, each SMS fired once, given back after."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks.const import EVENT_SMS_RECEIVED
from elks_simulator.models import Number
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr

from .conftest import ANSWERS, BUSY, CALLER_ID, SMS_ONLY, WEBHOOK_ID, Elks
from .roads import CloudRelay, Restarter, Road, deliver

OLD_TARGET = "https://old.example.com/sms?token=not-for-your-eyes"
ENTITY = "event.46766860002_sms"


def sms_number(elks: Elks) -> Number:
    """Return the simulator's SMS-only number."""
    [found] = [n for n in elks.sim.numbers.values() if n.number == SMS_ONLY]
    return found


async def add_incoming(
    hass: HomeAssistant, entry: MockConfigEntry, number_id: str, **extra: Any
) -> dict[str, Any]:
    """Run the Incoming SMS flow for ``number_id`` up to its second step."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "incoming_sms"), context={"source": "user"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"number_id": number_id, **extra}
    )
    await hass.async_block_till_done()
    return dict(result)


def sms_form(
    elks: Elks, sms_id: str = "s1a2b3", sender: str = ANSWERS
) -> dict[str, str]:
    """Return an incoming SMS as 46elks posts it."""
    return {
        "id": sms_id,
        "direction": "incoming",
        "from": sender,
        "to": SMS_ONLY,
        "message": "Larma huset",
        "created": "2026-11-27T16:00:00.123456",
    }


def route_query(elks: Elks) -> str:
    """Return the query of the URL the number's SMS go to."""
    url = sms_number(elks).sms_url
    assert url is not None
    return urlsplit(url).query


async def test_flow_claims_the_number_and_removal_gives_it_back(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """The number's SMS go to Home Assistant; removing the subentry restores the old URL."""
    number = sms_number(elks)
    number.sms_url = OLD_TARGET
    result = await add_incoming(hass, loaded_entry, number.id)
    # It leads somewhere else now: asked first, showing the host only.
    assert result["step_id"] == "take_over"
    assert result["description_placeholders"] == {
        "number": SMS_ONLY,
        "target": "old.example.com",
    }
    assert number.sms_url == OLD_TARGET
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    [sub] = [
        s for s in loaded_entry.subentries.values() if s.subentry_type == "incoming_sms"
    ]
    assert sub.unique_id == f"{number.id}/sms_url"
    assert sub.data == {
        "number_id": number.id,
        "number": SMS_ONLY,
        "previous_sms_url": OLD_TARGET,
        "allowed_senders": [],
    }
    assert number.sms_url is not None
    assert f"/api/webhook/{WEBHOOK_ID}?" in number.sms_url
    assert parse_qs(urlsplit(number.sms_url).query) == {
        "on": ["sms_received"],
        "number": [number.id],
    }
    # Its device hangs under the account's.
    device = dr.async_get(hass).async_get_device_by_identifier(
        ("elks", sub.subentry_id), loaded_entry.entry_id
    )
    assert device is not None and device.via_device_id is not None
    assert hass.states.get(ENTITY) is not None

    hass.config_entries.async_remove_subentry(loaded_entry, sub.subentry_id)
    await hass.async_block_till_done()
    assert number.sms_url == OLD_TARGET
    assert hass.states.get(ENTITY) is None


async def test_a_number_already_ours_is_taken_without_asking(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Our own URL, left from an earlier setup, is nobody's to keep: no question, nothing to give back."""
    number = sms_number(elks)
    number.sms_url = f"https://example.com/api/webhook/{WEBHOOK_ID}?on=sms_received"
    result = await add_incoming(hass, loaded_entry, number.id)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    [sub] = [
        s for s in loaded_entry.subentries.values() if s.subentry_type == "incoming_sms"
    ]
    assert sub.data["previous_sms_url"] is None


async def test_no_numbers_left(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Every SMS number is set up already: the flow says so."""
    for number in elks.sim.numbers.values():
        if number.active and "sms" in number.capabilities:
            await add_incoming(hass, loaded_entry, number.id)
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, "incoming_sms"), context={"source": "user"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_sms_numbers"


async def test_sms_fires_once_by_either_road(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
) -> None:
    """An SMS fires the event and the entity once, however often it comes."""
    await add_incoming(hass, loaded_entry, sms_number(elks).id)
    events = async_capture_events(hass, EVENT_SMS_RECEIVED)
    form, query = sms_form(elks), route_query(elks)
    for each in (road, road, Road.CLOUD if road is Road.HTTP else Road.HTTP):
        status, _ = await deliver(hass, hass_http, WEBHOOK_ID, form, each, query)
        assert status == 200
    await hass.async_block_till_done()
    [event] = events
    assert event.data["sms_id"] == "s1a2b3"
    assert event.data["from"] == ANSWERS
    assert event.data["to"] == SMS_ONLY
    assert event.data["message"] == "Larma huset"
    assert event.data["created"] == "2026-11-27T16:00:00.123456+00:00"
    state = hass.states.get(ENTITY)
    assert state.attributes["event_type"] == "received"
    assert state.attributes["message"] == "Larma huset"
    assert state.attributes["from"] == ANSWERS


async def test_simulator_sms_by_http(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """46elks' own delivery (sent twice) reaches the event once."""
    await add_incoming(hass, loaded_entry, sms_number(elks).id)
    events = async_capture_events(hass, EVENT_SMS_RECEIVED)
    elks.sim.faults.duplicate_webhooks = True
    received = await elks.sim.receive_sms(from_=ANSWERS, to=SMS_ONLY, message="Hej")
    assert received.delivery is not None and received.delivery.ok
    await hass.async_block_till_done()
    assert [e.data["sms_id"] for e in events] == [received.id]


async def test_simulator_sms_by_cloud(
    hass: HomeAssistant,
    elks: Elks,
    cloud_relay: CloudRelay,
    loaded_entry: MockConfigEntry,
) -> None:
    """With Home Assistant Cloud, the number leads to the cloudhook and SMS arrive."""
    await add_incoming(hass, loaded_entry, sms_number(elks).id)
    assert (sms_number(elks).sms_url or "").startswith(cloud_relay.url(WEBHOOK_ID))
    events = async_capture_events(hass, EVENT_SMS_RECEIVED)
    received = await elks.sim.receive_sms(from_=ANSWERS, to=SMS_ONLY, message="Hej")
    await hass.async_block_till_done()
    assert cloud_relay.deliveries >= 1
    assert [e.data["message"] for e in events] == ["Hej"]
    assert received.delivery is not None and received.delivery.ok


async def test_allow_list(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """With an allow-list, only its senders fire; the list can be changed."""
    result = await add_incoming(
        hass, loaded_entry, sms_number(elks).id, allowed_senders=["070 oops"]
    )
    assert result["errors"] == {"allowed_senders": "invalid_allowed_senders"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {"number_id": sms_number(elks).id, "allowed_senders": ["+46 70-000 01 01", ""]},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    events = async_capture_events(hass, EVENT_SMS_RECEIVED)
    await elks.sim.receive_sms(from_=BUSY, to=SMS_ONLY, message="arm")
    await elks.sim.receive_sms(from_="Spoofer", to=SMS_ONLY, message="arm")
    await elks.sim.receive_sms(from_=ANSWERS, to=SMS_ONLY, message="arm")
    await hass.async_block_till_done()
    assert [e.data["from"] for e in events] == [ANSWERS]

    [sub] = [
        s for s in loaded_entry.subentries.values() if s.subentry_type == "incoming_sms"
    ]
    runtime = loaded_entry.runtime_data
    result = await loaded_entry.start_subentry_reconfigure_flow(hass, sub.subentry_id)
    # The list shows one field per number, as typed in the first step.
    [key] = result["data_schema"].schema
    assert key.description == {"suggested_value": [ANSWERS]}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"allowed_senders": [ANSWERS, "not a number"]}
    )
    assert result["errors"] == {"allowed_senders": "invalid_allowed_senders"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"allowed_senders": [ANSWERS, BUSY]}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    # Read live: the account is not reloaded (that would interrupt escalations).
    assert loaded_entry.runtime_data is runtime
    await elks.sim.receive_sms(from_=BUSY, to=SMS_ONLY, message="arm")
    await hass.async_block_till_done()
    assert [e.data["from"] for e in events] == [ANSWERS, BUSY]


@pytest.mark.parametrize(
    "change",
    [
        {"to": "+46700009999"},
        {"from": "not a sender at all, far too long"},
        {"created": "today"},
        {"id": "s/../x"},
        {"direction": "outgoing"},
        {"message": "x" * 5001},
    ],
)
async def test_invalid_sms_ignored(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    change: dict[str, str],
) -> None:
    """Forms that are not an SMS to this number fire nothing."""
    await add_incoming(hass, loaded_entry, sms_number(elks).id)
    events = async_capture_events(hass, EVENT_SMS_RECEIVED)
    form = {**sms_form(elks), **change}
    status, _ = await deliver(
        hass, hass_http, WEBHOOK_ID, form, Road.HTTP, route_query(elks)
    )
    assert status == 200
    await hass.async_block_till_done()
    assert events == []


async def test_once_across_a_restart(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    restarter: Restarter,
) -> None:
    """An SMS fired before a stop and sent again after it does not fire again."""
    await add_incoming(hass, loaded_entry, sms_number(elks).id)
    form, query = sms_form(elks), route_query(elks)
    await deliver(hass, hass_http, WEBHOOK_ID, form, Road.HTTP, query)
    hass2, client2, _ = await restarter.restart(hass, hass_http, loaded_entry)
    events = async_capture_events(hass2, EVENT_SMS_RECEIVED)
    await deliver(hass2, client2, WEBHOOK_ID, form, Road.HTTP, query)
    await deliver(hass2, client2, WEBHOOK_ID, sms_form(elks, "s9"), Road.HTTP, query)
    await hass2.async_block_till_done()
    assert [e.data["sms_id"] for e in events] == ["s9"]


async def test_flow_needs_46elks(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Without 46elks' list of numbers there is nothing to choose from."""
    elks.sim.faults.fail_next(503, path="/a1/numbers", method="GET")
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, "incoming_sms"), context={"source": "user"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, "incoming_sms"), context={"source": "user"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_one_number_takes_calls_and_sms(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A number with Incoming calls can get Incoming SMS too; it is offered once per kind."""
    [number] = [n for n in elks.sim.numbers.values() if n.number == CALLER_ID]
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, "incoming_call"), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"number_id": number.id}
    )
    assert result["step_id"] == "settings"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "allow_anyone": True,
            "allowed_action": "reject",
            "unknown_action": "reject",
            "no_answer": "record",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    result = await add_incoming(hass, loaded_entry, number.id)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    assert number.voice_start is not None
    assert number.sms_url is not None
    assert f"/api/webhook/{WEBHOOK_ID}?" in number.sms_url
    # Each kind offers the number no more.
    for kind in ("incoming_call", "incoming_sms"):
        result = await hass.config_entries.subentries.async_init(
            (loaded_entry.entry_id, kind), context={"source": "user"}
        )
        if result["type"] is FlowResultType.FORM:
            offered = result["data_schema"].schema["number_id"].config["options"]
            assert number.id not in [o["value"] for o in offered], kind
        else:
            assert result["type"] is FlowResultType.ABORT, result
