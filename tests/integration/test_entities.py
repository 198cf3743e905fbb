"""Call event entity, balance sensor, recipients' notify entities and the logbook."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
import json
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.elks import logbook
from custom_components.elks.const import (
    CONF_ALLOWED_SENDERS,
    CONF_LANGUAGE,
    CONF_LOW_BALANCE,
    CONF_NUMBER_ID,
    CONF_PREVIOUS_SMS_URL,
    CONF_RECIPIENT_NUMBER,
    CONF_TTS_ENGINE,
    DOMAIN,
    EVENT_CALL_ENDED,
    EVENT_ESCALATION_FINISHED,
    EVENT_KEYPRESS,
    SUBENTRY_INCOMING_SMS,
    SUBENTRY_RECIPIENT,
)
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_NAME
from homeassistant.core import Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.util import dt as dt_util

from .conftest import (
    ANSWERS,
    HTTP_COMPONENTS_WITH_TTS,
    PRESSES_1,
    SMS_ONLY,
    Elks,
    add_account_entry,
    recipient,
)
from .test_call import call
from .test_sms import held_report, send_sms

EVENT_ENTITY = "event.home_call"
BALANCE = "sensor.home_balance"


@pytest.fixture
def http_components() -> dict[str, dict[str, Any]]:
    """Recipients speak: text-to-speech is needed."""
    return HTTP_COMPONENTS_WITH_TTS


async def test_call_event_entity(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """The Call entity fires answered, keypress and ended, with the event data."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(event: Event) -> None:
        new_state = event.data["new_state"]
        if (
            event.data["entity_id"] == EVENT_ENTITY
            and "event_type" in new_state.attributes
        ):
            attributes = dict(new_state.attributes)
            seen.append((attributes.pop("event_type"), attributes))

    hass.bus.async_listen("state_changed", record)
    [placed] = (
        await call(hass, to=PRESSES_1, play="sound/beep", menu={1: "open_door"})
    )["calls"]
    await elks.sim.wait_call_finished(placed["id"])
    await hass.async_block_till_done()
    assert [kind for kind, _ in seen] == ["answered", "keypress", "ended"]
    assert seen[1][1]["label"] == "open_door"
    assert seen[2][1]["call_id"] == placed["id"]
    assert hass.states.get(EVENT_ENTITY).attributes["event_types"] == [
        "answered",
        "acknowledged",
        "keypress",
        "ended",
        "escalation_finished",
    ]


async def test_balance_sensor_and_low_balance_issue(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The balance follows the account; under the threshold a repair issue warns."""
    state = hass.states.get(BALANCE)
    assert float(state.state) == 1000.0
    assert state.attributes["unit_of_measurement"] == "SEK"
    assert state.attributes["device_class"] == "monetary"

    issue_id = f"low_balance_{loaded_entry.entry_id}"
    hass.config_entries.async_update_entry(
        loaded_entry, options={**loaded_entry.options, CONF_LOW_BALANCE: 999.8}
    )
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    [placed] = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"]
    await elks.sim.wait_call_finished(placed["id"])
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=31))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert float(hass.states.get(BALANCE).state) == 999.65
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["balance"] == "999.65 SEK"

    hass.config_entries.async_update_entry(
        loaded_entry, options={**loaded_entry.options, CONF_LOW_BALANCE: 0}
    )
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_balance_unavailable_when_46elks_is(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
) -> None:
    """A failed poll makes the balance unavailable until the next one works."""
    elks.sim.faults.fail_next(503, path="/a1/me")
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=31))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(BALANCE).state == "unavailable"
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=31))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(BALANCE).state == "1000.0"


async def add_recipient(
    hass: HomeAssistant, entry: MockConfigEntry, name: str, number: str
) -> dict[str, Any]:
    """Run the recipient subentry flow."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_RECIPIENT), context={"source": "user"}
    )
    assert result["type"] is FlowResultType.FORM
    return dict(
        await hass.config_entries.subentries.async_configure(
            result["flow_id"], {CONF_NAME: name, CONF_RECIPIENT_NUMBER: number}
        )
    )


async def test_recipient_notify_entity(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    speech_engine: str,
    entity_registry: er.EntityRegistry,
) -> None:
    """A recipient becomes a notify entity that calls and speaks the message."""
    result = await add_recipient(hass, loaded_entry, "Alice", "070 000 01 01")
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_RECIPIENT_NUMBER: "invalid_number"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_NAME: " Alice ", CONF_RECIPIENT_NUMBER: "+46 70 000 01 01"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    [subentry] = loaded_entry.subentries.values()
    assert subentry.title == "Alice"
    assert subentry.data == {CONF_RECIPIENT_NUMBER: ANSWERS, "reach_by": "call"}

    entity_id = "notify.alice"
    assert hass.states.get(entity_id) is not None
    assert (
        entity_registry.async_get(entity_id).config_subentry_id == subentry.subentry_id
    )

    hass.config_entries.async_update_entry(
        loaded_entry,
        options={
            **loaded_entry.options,
            CONF_TTS_ENGINE: speech_engine,
            CONF_LANGUAGE: "sv",
        },
    )
    await hass.async_block_till_done()
    await hass.services.async_call(
        "notify",
        "send_message",
        {"entity_id": entity_id, "title": "Smoke", "message": "in the kitchen"},
        blocking=True,
    )
    [form] = elks.call_posts()
    assert form["to"] == ANSWERS
    spoken = json.loads(form["voice_start"])["play"]
    assert "/api/elks/audio/" in spoken
    await elks.sim.wait_call_finished(next(iter(elks.sim.calls)))
    audio = [d for d in elks.sim.deliveries if d.kind == "audio" and d.url == spoken]
    assert audio
    assert audio[0].status == 200


async def test_recipient_without_tts_engine_says_what_to_add(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """notify.send_message with no TTS engine set up names what is missing."""
    await add_recipient(hass, loaded_entry, "Alice", ANSWERS)
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "notify",
            "send_message",
            {"entity_id": "notify.alice", "message": "Smoke"},
            blocking=True,
        )
    assert err.value.translation_key == "no_tts_engine"
    assert "Add a TTS integration" in str(err.value)
    assert '"-"' not in str(err.value)
    assert elks.call_posts() == []
    # elks.call says the same.
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, to=ANSWERS, message="Smoke")
    assert err.value.translation_key == "no_tts_engine"
    assert not err.value.translation_placeholders


async def test_adding_a_recipient_does_not_reload_the_account(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A new recipient gets its entity without the account's going unavailable.

    A reload would write unavailable and unknown states (logbook entries) for
    every entity of the account.
    """
    changes = async_capture_events(hass, "state_changed")
    await add_recipient(hass, loaded_entry, "Alice", ANSWERS)
    await hass.async_block_till_done()
    assert hass.states.get("notify.alice") is not None
    others = [e for e in changes if e.data["entity_id"] != "notify.alice"]
    assert others == [], [(e.data["entity_id"], e.data["new_state"]) for e in others]
    # And a second recipient, and removing one, do not either.
    await add_recipient(hass, loaded_entry, "Bob", PRESSES_1)
    await hass.async_block_till_done()
    alice = next(s for s in loaded_entry.subentries.values() if s.title == "Alice")
    hass.config_entries.async_remove_subentry(loaded_entry, alice.subentry_id)
    await hass.async_block_till_done()
    assert hass.states.get("notify.alice") is None
    assert hass.states.get("notify.bob") is not None
    others = [
        e for e in changes if e.data["entity_id"] not in {"notify.alice", "notify.bob"}
    ]
    assert others == []


async def test_recipient_reconfigure_and_remove(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry, speech_engine: str
) -> None:
    """A recipient's number can be changed; removing it removes its entity."""
    await add_recipient(hass, loaded_entry, "Bob", ANSWERS)
    await hass.async_block_till_done()
    [subentry] = loaded_entry.subentries.values()
    result = await loaded_entry.start_subentry_reconfigure_flow(
        hass, subentry.subentry_id
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Bob", CONF_RECIPIENT_NUMBER: "nope"}
    )
    assert result["errors"] == {CONF_RECIPIENT_NUMBER: "invalid_number"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Bobby", CONF_RECIPIENT_NUMBER: PRESSES_1}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert loaded_entry.subentries[subentry.subentry_id].data == {
        CONF_RECIPIENT_NUMBER: PRESSES_1,
        "reach_by": "call",
    }
    # The notify entity calls the new number at once.
    await hass.services.async_call(
        "notify",
        "send_message",
        {"entity_id": "notify.bob", "message": "Hi"},
        blocking=True,
    )
    assert [form["to"] for form in elks.call_posts()] == [PRESSES_1]

    hass.config_entries.async_remove_subentry(loaded_entry, subentry.subentry_id)
    await hass.async_block_till_done()
    assert not hass.states.async_entity_ids("notify")


async def test_recipients_from_stored_subentries(
    hass: HomeAssistant, elks: Elks, hass_http: Any
) -> None:
    """Recipients stored with the entry get their entities at setup.

    Their devices are reached through the account's device.
    """
    entry = add_account_entry(hass, elks, [recipient()])
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("notify.carol") is not None
    registry = dr.async_get(hass)
    account = registry.async_get_device_by_identifier(
        (DOMAIN, elks.account.id), entry.entry_id
    )
    [subentry_id] = entry.subentries
    carol = registry.async_get_device_by_identifier(
        (DOMAIN, subentry_id), entry.entry_id
    )
    assert account is not None
    assert carol is not None
    assert carol.via_device_id == account.id


async def test_unique_ids_and_devices_stay(
    hass: HomeAssistant, elks: Elks, hass_http: Any
) -> None:
    """Every entity keeps the unique id, and every device the model, it had.

    Installations find their entities (and their names, automations and
    history) by these.
    """
    [sms_number] = [n for n in elks.sim.numbers.values() if n.number == SMS_ONLY]
    incoming_sms = ConfigSubentryData(
        data={
            CONF_NUMBER_ID: sms_number.id,
            CONF_RECIPIENT_NUMBER: SMS_ONLY,
            CONF_PREVIOUS_SMS_URL: None,
            CONF_ALLOWED_SENDERS: [],
        },
        subentry_type=SUBENTRY_INCOMING_SMS,
        title=SMS_ONLY,
        unique_id=f"{sms_number.id}/sms_url",
    )
    entry = add_account_entry(hass, elks, [recipient(), incoming_sms])
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    by_type = {sub.subentry_type: sub.subentry_id for sub in entry.subentries.values()}
    account = elks.account.id
    carol, sms = by_type[SUBENTRY_RECIPIENT], by_type[SUBENTRY_INCOMING_SMS]
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    assert {(e.entity_id, e.unique_id) for e in entities} == {
        ("event.home_call", f"{account}_call"),
        ("sensor.home_last_call", f"{account}_last_call"),
        ("sensor.home_last_sms", f"{account}_last_sms"),
        ("sensor.home_balance", f"{account}_balance"),
        ("notify.carol", f"{account}_recipient_{carol}"),
        ("event.46766860002_sms", f"{account}_incoming_sms_{sms}"),
    }
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    shown = {
        (next(iter(d.identifiers)), d.name, d.manufacturer, d.model, d.entry_type)
        for d in devices
    }
    service = dr.DeviceEntryType.SERVICE
    assert shown == {
        ((DOMAIN, account), "Home", "46elks", "Voice API", service),
        ((DOMAIN, carol), "Carol", "46elks", "Recipient", service),
        ((DOMAIN, sms), SMS_ONLY, "46elks", "Incoming SMS", service),
    }


async def test_last_sms_sensor_stays_on_the_newest_sms(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A report of an older SMS, arriving last, does not take the sensor back to it."""
    older, _, _ = await held_report(hass, elks)
    [newer] = (await send_sms(hass, to=ANSWERS, message="Still smoke"))["messages"]  # type: ignore[misc]
    await elks.sim.wait_webhook_held(newer["id"])
    elks.sim.faults.release_webhooks(reverse=True)
    for sms_id in (newer["id"], older):
        await elks.sim.sms.wait_reported(sms_id)
    await hass.async_block_till_done()
    state = hass.states.get("sensor.home_last_sms")
    assert state is not None
    assert state.attributes["id"] == newer["id"]
    assert state.state == "delivered"


def test_logbook_descriptions() -> None:
    """Ended calls, key presses and escalations read as sentences."""
    describers: dict[str, Callable[[Event], dict[str, str]]] = {}

    def describe(
        domain: str, event_type: str, describer: Callable[[Event], dict[str, str]]
    ) -> None:
        assert domain == DOMAIN
        describers[event_type] = describer

    logbook.async_describe_events(None, describe)  # type: ignore[arg-type]
    ended = describers[EVENT_CALL_ENDED](
        Event(EVENT_CALL_ENDED, {"to": ANSWERS, "outcome": "no_input", "duration": 12})
    )
    # The duration is how long the call lasted, not how long it took to answer.
    assert (
        ended["message"]
        == f"call to {ANSWERS} was answered but not acknowledged (the call lasted 12 s)"
    )
    assert ended["icon"] == "mdi:phone-remove"
    key = describers[EVENT_KEYPRESS](
        Event(EVENT_KEYPRESS, {"to": ANSWERS, "digits": "1", "label": "open_door"})
    )
    assert key["message"] == f"{ANSWERS} pressed 1 (open_door)"
    assert key["icon"] == "mdi:dialpad"
    escalation = describers[EVENT_ESCALATION_FINISHED](
        Event(
            EVENT_ESCALATION_FINISHED,
            {"result": "acknowledged", "answered_by": ANSWERS, "attempts": [{}, {}]},
        )
    )
    assert (
        escalation["message"] == f"escalation acknowledged by {ANSWERS} after 2 call(s)"
    )
    assert escalation["icon"] == "mdi:phone-ring"
    assert (
        describers[EVENT_CALL_ENDED](
            Event(EVENT_CALL_ENDED, {"to": ANSWERS, "state": "busy"})
        )["message"]
        == f"call to {ANSWERS} busy"
    )
