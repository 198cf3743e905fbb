"""Calls to the account's numbers, through a real Home Assistant and the simulator.

Every test walks both roads: 46elks' requests reach Home Assistant by HTTP
or through Home Assistant Cloud (the ``road_relay`` fixture, requested
before ``elks`` so that the simulator stops first).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
import json
from pathlib import Path
import shutil
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks import logbook, recordings
from custom_components.elks.const import (
    CONF_ALLOW_ANYONE,
    CONF_ALLOWED,
    CONF_ALLOWED_ACTION,
    CONF_ASSIST_CALLERS,
    CONF_ASSIST_NUMBER,
    CONF_ASSIST_NUMBER_ID,
    CONF_ASSIST_PIPELINE,
    CONF_ASSIST_TOKEN,
    CONF_CALLER_ID,
    CONF_FORWARD_TO,
    CONF_GREETING,
    CONF_MENU,
    CONF_NO_ANSWER,
    CONF_NO_ANSWER_MESSAGE,
    CONF_NUMBER_ID,
    CONF_PIN,
    CONF_PREVIOUS_VOICE_START,
    CONF_RECIPIENT_NUMBER,
    CONF_RING_TIMEOUT,
    CONF_UNKNOWN_ACTION,
    CONF_UNKNOWN_MESSAGE,
    DOMAIN,
    EVENT_INCOMING_CALL,
    EVENT_KEYPRESS,
    EVENT_RECORDING_SAVED,
    SUBENTRY_ASSIST,
    SUBENTRY_INCOMING_CALL,
)
from custom_components.elks.diagnostics import async_get_config_entry_diagnostics
from custom_components.elks.incoming_settings import check_settings, parse_menu
from custom_components.elks.models import WebhookRoute
from custom_components.elks.subentry_flow import SettingsError
from elks_simulator import Callee, Number
from homeassistant.components import media_source
from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint.models import Blueprint
from homeassistant.components.http.auth import async_sign_path
from homeassistant.components.media_player.browse_media import (
    async_process_play_media_url,
)
from homeassistant.components.media_player.errors import BrowseError
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import Event, HomeAssistant, State, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.event import (
    EventStateChangedData,
    async_track_state_change_event,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml_dict

from .conftest import CALLER_ID, HTTP_COMPONENTS_WITH_TTS, WEBHOOK_ID, Elks, entry_data
from .roads import CloudRelay, Restarter, Road, deliver, relay_fixture

GATE = "+46766860009"
FRIEND = "+46701111111"
STRANGER = "+46709999999"
PHONE_A = "+46700000201"
PHONE_B = "+46700000202"
OLD_TARGET = "https://pbx.example.com/calls?token=theirs"


@pytest.fixture(autouse=True)
def own_config_dir(hass: HomeAssistant, tmp_path: Path) -> None:
    """Keep recordings in this test's folder, not the shared test configuration."""
    hass.config.config_dir = str(tmp_path)


@pytest.fixture
def http_components() -> dict[str, dict[str, Any]]:
    """Speech for greetings and messages, media for recordings."""
    return {**HTTP_COMPONENTS_WITH_TTS, "media_source": {}}


@pytest.fixture
async def road_relay(
    hass: HomeAssistant, road: Road, socket_enabled: None
) -> AsyncGenerator[CloudRelay | None]:
    """Home Assistant Cloud for the Cloud road; nothing for the HTTP road."""
    if road is Road.HTTP:
        yield None
        return
    async for relay in relay_fixture(hass):
        yield relay


@pytest.fixture
def gate(elks: Elks) -> Number:
    """Return the account's number that callers dial (it led elsewhere before)."""
    return elks.sim.add_number(
        elks.account, GATE, capabilities=("voice", "sms"), voice_start=OLD_TARGET
    )


def settings(**overrides: Any) -> dict[str, Any]:
    """Incoming-call subentry options: friends are rejected (ring to trigger)."""
    return {
        CONF_ALLOW_ANYONE: False,
        CONF_ALLOWED: [FRIEND],
        CONF_ALLOWED_ACTION: "reject",
        CONF_GREETING: "",
        CONF_PIN: None,
        CONF_MENU: "",
        CONF_UNKNOWN_ACTION: "reject",
        CONF_UNKNOWN_MESSAGE: "",
        CONF_FORWARD_TO: [],
        CONF_NO_ANSWER: "record",
        CONF_NO_ANSWER_MESSAGE: "",
    } | overrides


async def set_up(
    hass: HomeAssistant, elks: Elks, gate: Number, **options: Any
) -> MockConfigEntry:
    """Set up the account with an incoming-calls subentry for the gate number."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        unique_id=elks.account.id,
        data=entry_data(elks.base_url),
        options={CONF_CALLER_ID: CALLER_ID, CONF_RING_TIMEOUT: 60},
        subentries_data=[
            ConfigSubentryData(
                data={
                    CONF_NUMBER_ID: gate.id,
                    CONF_RECIPIENT_NUMBER: gate.number,
                    CONF_PREVIOUS_VOICE_START: None,
                    **settings(**options),
                },
                subentry_type=SUBENTRY_INCOMING_CALL,
                title=gate.number,
                unique_id=gate.id,
            )
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    url = entry.runtime_data.webhook.url_for(WebhookRoute.INCOMING_CALL, number=gate.id)
    assert gate.voice_start == url
    return entry


async def test_allowed_caller_rejected_without_answer(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
) -> None:
    """Ring to trigger: never answered, and the event fires once per call."""
    await set_up(hass, elks, gate)
    events = async_capture_events(hass, EVENT_INCOMING_CALL)
    result = await elks.sim.dial_in(from_=FRIEND, to=GATE)
    await hass.async_block_till_done()
    assert not result.answered
    assert result.actions == [{"hangup": "reject"}]
    assert result.call.start is None
    [event] = events
    assert event.data["call_id"] == result.call.id
    assert event.data["from"] == FRIEND
    assert event.data["to"] == GATE
    assert event.data["allowed"] is True
    assert event.data["action"] == "reject"
    kinds = [d.kind for d in elks.sim.deliveries if d.call_id == result.call.id]
    assert kinds == ["voice_start", "whenhangup"]
    assert all(d.ok for d in elks.sim.deliveries)
    if road_relay is not None:
        assert road_relay.deliveries == 2


async def test_resent_voice_start_fires_nothing_again(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
    road: Road,
) -> None:
    """46elks re-sending the voice_start (by either road) gets the same answer only."""
    await set_up(hass, elks, gate, **{CONF_ALLOWED_ACTION: "busy"})
    events = async_capture_events(hass, EVENT_INCOMING_CALL)
    form = {
        "direction": "incoming",
        "callid": "c0123456789abcdef",
        "from": FRIEND,
        "to": GATE,
        "created": "2026-11-27T10:00:00.000000",
    }
    query = f"on=incoming_call&number={gate.id}"
    answers = [
        await deliver(hass, hass_http, WEBHOOK_ID, form, r, query)
        for r in (road, Road.HTTP, Road.CLOUD)
    ]
    await hass.async_block_till_done()
    assert len(events) == 1
    assert len({text for _, text in answers}) == 1
    status, text = answers[0]
    assert status == 200
    assert text is not None
    assert '"hangup": "busy"' in text


@pytest.mark.parametrize(
    ("form", "query"),
    [
        ({"direction": "outgoing"}, None),
        ({"to": "+46766860001"}, None),
        ({"from": "+46 70 111"}, None),
        ({"created": "yesterday"}, None),
        ({}, "on=incoming_call&number=n0000"),
    ],
)
async def test_requests_not_for_our_numbers_are_refused(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
    road: Road,
    form: dict[str, str],
    query: str | None,
) -> None:
    """Only incoming calls to a configured number are answered, and nothing fires."""
    await set_up(hass, elks, gate, **{CONF_ALLOW_ANYONE: True})
    events = async_capture_events(hass, EVENT_INCOMING_CALL)
    good = {
        "direction": "incoming",
        "callid": "c0123456789abcdef",
        "from": FRIEND,
        "to": GATE,
        "created": "2026-11-27T10:00:00.000000",
    }
    status, text = await deliver(
        hass,
        hass_http,
        WEBHOOK_ID,
        good | form,
        road,
        query or f"on=incoming_call&number={gate.id}",
    )
    await hass.async_block_till_done()
    assert status == 200
    assert text == '{"hangup": "reject"}'
    assert events == []


async def test_unknown_caller_hears_a_message(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
    speech_engine: str,
) -> None:
    """A caller not on the list gets the spoken message, then the call ends."""
    await set_up(
        hass,
        elks,
        gate,
        **{CONF_UNKNOWN_ACTION: "message", CONF_UNKNOWN_MESSAGE: "Wrong number."},
    )
    events = async_capture_events(hass, EVENT_INCOMING_CALL)
    result = await elks.sim.dial_in(from_=STRANGER, to=GATE)
    await hass.async_block_till_done()
    assert result.answered
    [action] = result.actions
    assert action["result"] == "success"
    assert "/api/tts_proxy/" in action["play"]
    [event] = events
    assert event.data["allowed"] is False
    assert event.data["action"] == "message"


async def test_unknown_caller_rejected_silently(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
) -> None:
    """Friends may be forwarded while strangers are rejected unanswered."""
    await set_up(
        hass,
        elks,
        gate,
        **{CONF_ALLOWED_ACTION: "forward", CONF_FORWARD_TO: [PHONE_A]},
    )
    elks.sim.set_callee(PHONE_A, Callee.answer(after=1.0, talk=4.0))
    stranger = await elks.sim.dial_in(from_=STRANGER, to=GATE)
    friend = await elks.sim.dial_in(from_=FRIEND, to=GATE)
    assert not stranger.answered
    assert stranger.actions == [{"hangup": "reject"}]
    assert friend.answered
    assert [leg["to"] for leg in friend.call.legs] == [PHONE_A]


async def test_unknown_caller_forwarded(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
) -> None:
    """Unknown callers can be forwarded too."""
    await set_up(
        hass,
        elks,
        gate,
        **{CONF_UNKNOWN_ACTION: "forward", CONF_FORWARD_TO: [PHONE_A]},
    )
    elks.sim.set_callee(PHONE_A, Callee.answer(after=1.0, talk=4.0))
    result = await elks.sim.dial_in(from_=STRANGER, to=GATE)
    assert result.answered
    assert result.actions[0]["connect"] == PHONE_A


async def test_menu_with_pin_fires_the_key(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
    speech_engine: str,
) -> None:
    """Greeting, a wrong PIN, the right one, a menu key: its event, with the call's data."""
    await set_up(
        hass,
        elks,
        gate,
        **{
            CONF_ALLOWED_ACTION: "menu",
            CONF_GREETING: "Press 1 to open the gate.",
            CONF_PIN: "4711",
            CONF_MENU: "1: Open the gate\n2: Close the gate",
        },
    )
    keys = async_capture_events(hass, EVENT_KEYPRESS)
    result = await elks.sim.dial_in(
        from_=FRIEND, to=GATE, presses=[(1.0, "0000"), (1.0, "4711"), (1.0, "1")]
    )
    await hass.async_block_till_done()
    assert result.answered
    [key] = keys
    assert key.data["digits"] == "1"
    assert key.data["label"] == "Open the gate"
    assert key.data["call_id"] == result.call.id
    assert key.data["from"] == FRIEND
    assert key.data["to"] == GATE
    assert key.data["direction"] == "incoming"
    kinds = [d.kind for d in elks.sim.deliveries if d.call_id == result.call.id]
    assert kinds[0] == "voice_start"
    assert kinds[-1] == "whenhangup"
    assert all(d.ok for d in elks.sim.deliveries)


async def test_pin_tries_are_limited(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
) -> None:
    """Three wrong PINs hang up; the menu's key never fires."""
    await set_up(
        hass,
        elks,
        gate,
        **{CONF_ALLOWED_ACTION: "menu", CONF_PIN: "4711", CONF_MENU: "1: Open"},
    )
    keys = async_capture_events(hass, EVENT_KEYPRESS)
    result = await elks.sim.dial_in(
        from_=FRIEND,
        to=GATE,
        presses=[(1.0, "0000"), (1.0, "1111"), (1.0, "2222"), (1.0, "4711")],
    )
    await hass.async_block_till_done()
    assert keys == []
    assert result.actions[-1] == {"hangup": "reject"}


async def test_forward_rings_two_phones_at_once(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
) -> None:
    """One connect to both numbers: the first to answer gets the call."""
    await set_up(
        hass,
        elks,
        gate,
        **{CONF_ALLOWED_ACTION: "forward", CONF_FORWARD_TO: [PHONE_A, PHONE_B]},
    )
    elks.sim.set_callee(PHONE_A, Callee.answer(after=5.0, talk=4.0))
    elks.sim.set_callee(PHONE_B, Callee.answer(after=2.0, talk=4.0))
    result = await elks.sim.dial_in(from_=FRIEND, to=GATE)
    assert result.answered
    assert result.actions[0]["connect"] == f"{PHONE_A},{PHONE_B}"
    assert result.actions[0]["result"] == "success"
    legs = {leg["to"]: leg["state"] for leg in result.call.legs}
    assert legs == {PHONE_B: "success", PHONE_A: "failed"}


async def test_number_led_here_and_given_back(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
) -> None:
    """Set up, the number leads here; the subentry removed, it leads back exactly."""
    entry = await set_up(hass, elks, gate)
    [subentry_id] = entry.subentries
    assert hass.config_entries.async_remove_subentry(entry, subentry_id)
    await hass.async_block_till_done()
    assert gate.voice_start == OLD_TARGET
    result = await elks.sim.dial_in(from_=FRIEND, to=GATE)
    # 46elks asks the old target (unreachable here, so it retries), never us.
    asked = {
        (d.kind, d.url) for d in elks.sim.deliveries if d.call_id == result.call.id
    }
    assert asked == {("voice_start", OLD_TARGET)}


async def test_subentry_flow_takes_the_number_over(
    hass: HomeAssistant,
    elks: Elks,
    gate: Number,
    loaded_entry: MockConfigEntry,
) -> None:
    """The flow offers the number, says where it leads (host only), asks, and sets up."""
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, SUBENTRY_INCOMING_CALL), context={"source": "user"}
    )
    assert result["type"] is FlowResultType.FORM
    offered = result["data_schema"].schema[CONF_NUMBER_ID].config["options"]
    # Active voice numbers only: not the SMS-only or the inactive one.
    assert {o["label"] for o in offered} == {CALLER_ID, GATE}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NUMBER_ID: gate.id}
    )
    assert result["step_id"] == "take_over"
    assert result["description_placeholders"] == {
        "number": GATE,
        "target": "pbx.example.com",
    }
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    assert result["step_id"] == "settings"
    form = {
        CONF_ALLOW_ANYONE: False,
        CONF_ALLOWED: ["070-111 11 11"],
        CONF_ALLOWED_ACTION: "forward",
        CONF_UNKNOWN_ACTION: "reject",
        CONF_NO_ANSWER: "record",
    }
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], form
    )
    assert result["errors"] == {CONF_ALLOWED: "invalid_number"}
    form[CONF_ALLOWED] = ["+46 70-111 11 11"]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], form
    )
    assert result["errors"] == {CONF_FORWARD_TO: "forward_needs_number"}
    form[CONF_FORWARD_TO] = [PHONE_A, PHONE_B]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], form
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    [subentry] = [
        s
        for s in loaded_entry.subentries.values()
        if s.subentry_type == SUBENTRY_INCOMING_CALL
    ]
    assert subentry.unique_id == gate.id
    assert subentry.data[CONF_PREVIOUS_VOICE_START] == OLD_TARGET
    assert subentry.data[CONF_ALLOWED] == [FRIEND]
    assert gate.voice_start == loaded_entry.runtime_data.webhook.url_for(
        WebhookRoute.INCOMING_CALL, number=gate.id
    )
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, SUBENTRY_INCOMING_CALL), context={"source": "user"}
    )
    offered = result["data_schema"].schema[CONF_NUMBER_ID].config["options"]
    assert {o["label"] for o in offered} == {CALLER_ID}


async def test_reconfigure_checks_the_menu(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
) -> None:
    """A broken menu line is named; a good one applies to the next call, no reload."""
    entry = await set_up(hass, elks, gate)
    [subentry] = entry.subentries.values()
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    form = settings(**{CONF_ALLOWED_ACTION: "menu", CONF_MENU: "open the gate"})
    form[CONF_PIN] = ""
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], form
    )
    assert result["errors"] == {CONF_MENU: "invalid_menu_line"}
    form[CONF_MENU] = "1: Open"
    form[CONF_PIN] = "12"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], form
    )
    assert result["errors"] == {CONF_PIN: "invalid_pin"}
    form[CONF_PIN] = ""
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], form
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    keys = async_capture_events(hass, EVENT_KEYPRESS)
    await elks.sim.dial_in(from_=FRIEND, to=GATE, presses=[(1.0, "1")])
    await hass.async_block_till_done()
    assert [k.data["label"] for k in keys] == ["Open"]


async def test_unanswered_forward_records_to_the_media_browser(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
) -> None:
    """Nobody answers: the caller is recorded, saved, listed, playable, with its event."""
    entry = await set_up(
        hass,
        elks,
        gate,
        **{CONF_ALLOWED_ACTION: "forward", CONF_FORWARD_TO: [PHONE_A, PHONE_B]},
    )
    elks.sim.set_callee(PHONE_A, Callee.no_answer())
    elks.sim.set_callee(PHONE_B, Callee.busy())
    saved = async_capture_events(hass, EVENT_RECORDING_SAVED)
    result = await elks.sim.dial_in(from_=FRIEND, to=GATE)
    await hass.async_block_till_done()
    assert [a.get("result") for a in result.actions] == ["failed", "success", "success"]
    assert "record" in result.actions[-1]
    [recording] = result.recordings
    assert recording.ok
    [event] = saved
    media_id = event.data["media_content_id"]
    assert media_id.startswith(f"media-source://elks/{entry.entry_id}/")
    assert media_id.endswith(f"_{result.call.id}.wav")
    assert event.data["call_id"] == result.call.id
    assert event.data["from"] == FRIEND
    browsed = await media_source.async_browse_media(
        hass, f"media-source://elks/{entry.entry_id}"
    )
    assert [child.media_content_id for child in browsed.children] == [media_id]
    # Named by when it was recorded (the file name's UTC time), shown in
    # Home Assistant's time zone, without the call id.
    recorded = dt_util.parse_datetime(media_id.rsplit("/", 1)[1][:15] + "Z")
    assert recorded is not None
    [child] = browsed.children
    assert child.title == f"{dt_util.as_local(recorded):%Y-%m-%d %H:%M:%S}"
    root = await media_source.async_browse_media(hass, "media-source://elks")
    assert [child.title for child in root.children] == ["Home"]
    played = await media_source.async_resolve_media(hass, media_id, None)
    url = async_process_play_media_url(hass, played.url, allow_relative_url=True)
    response = await hass_http.get(url)
    assert response.status == 200
    audio = await response.read()
    assert audio[:4] == b"RIFF"
    assert (await hass_http.get(played.url)).status == 401  # not signed


@pytest.fixture
async def trap(socket_enabled: None) -> AsyncGenerator[tuple[str, list[str]]]:
    """Return an internal server with a valid WAV file, and the paths asked of it."""
    hits: list[str] = []

    async def serve(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=WAV, content_type="audio/wav")

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), hits
    await server.close()


WAV = b"RIFF" + (36).to_bytes(4, "little") + b"WAVEfmt " + bytes(28)


@pytest.mark.parametrize(
    "wav",
    [
        "{trap}/recording.wav",
        "http://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
        "{root}/sim/audio/not-a-wav.mp3",
    ],
)
async def test_recordings_only_from_46elks(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
    road: Road,
    trap: tuple[str, list[str]],
    wav: str,
) -> None:
    """A wav URL off 46elks' API host is never fetched; what is not WAV is not saved."""
    await set_up(
        hass,
        elks,
        gate,
        **{CONF_UNKNOWN_ACTION: "message", CONF_UNKNOWN_MESSAGE: "Hello"},
    )
    saved = async_capture_events(hass, EVENT_RECORDING_SAVED)
    result = await elks.sim.dial_in(from_=STRANGER, to=GATE)
    trap_url, hits = trap
    form = {
        "callid": result.call.id,
        "created": result.call.created,
        "duration": "3",
        "wav": wav.format(root=elks.sim.root_url, trap=trap_url),
        "from": STRANGER,
        "to": GATE,
    }
    query = f"on=recording&number={gate.id}"
    assert await deliver(hass, hass_http, WEBHOOK_ID, form, road, query) == (200, None)
    await hass.async_block_till_done()
    assert saved == []
    assert hits == []
    folder = Path(hass.config.path("elks_recordings"))
    assert not folder.exists() or not any(folder.rglob("*.wav"))


async def test_entities_follow_the_calls(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
) -> None:
    """The number's own device has the event entity and the last incoming call sensor."""
    entry = await set_up(
        hass, elks, gate, **{CONF_ALLOWED_ACTION: "menu", CONF_MENU: "1: Open"}
    )
    [subentry_id] = entry.subentries
    registry = er.async_get(hass)
    event_id = registry.async_get_entity_id(
        "event", DOMAIN, f"{elks.account.id}_incoming_call_{subentry_id}"
    )
    sensor_id = registry.async_get_entity_id(
        "sensor", DOMAIN, f"{elks.account.id}_last_incoming_call_{subentry_id}"
    )
    # As the README names them.
    assert event_id == "event.46766860009_incoming_call"
    assert sensor_id == "sensor.46766860009_last_incoming_call"
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, subentry_id), entry.entry_id
    )
    assert device is not None
    assert registry.async_get(event_id).device_id == device.id  # type: ignore[union-attr]
    account = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, elks.account.id), entry.entry_id
    )
    assert account is not None
    assert device.via_device_id == account.id
    seen: list[str] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        if (state := event.data["new_state"]) is not None:
            seen.append(state.attributes["event_type"])

    unsubscribe = async_track_state_change_event(hass, event_id, record)
    rang = async_capture_events(hass, EVENT_INCOMING_CALL)
    friend = await elks.sim.dial_in(from_=FRIEND, to=GATE, presses=[(1.0, "1")])
    stranger = await elks.sim.dial_in(from_=STRANGER, to=GATE)
    await hass.async_block_till_done()
    unsubscribe()
    # On the number's device: its page's Activity card shows them.
    assert {e.data["device_id"] for e in rang} == {device.id}
    assert seen == [
        "ringing",
        "answered",
        "keypress",
        "ended",
        "ringing",
        "rejected",
        "ended",
    ]
    sensor = hass.states.get(sensor_id)
    assert sensor is not None
    assert sensor.attributes["call_id"] == stranger.call.id
    assert sensor.attributes["from"] == STRANGER
    assert sensor.attributes["allowed"] is False
    assert sensor.attributes["action"] == "reject"
    assert sensor.state == dt_util.parse_datetime(
        stranger.call.created + "+00:00"
    ).isoformat(timespec="seconds")  # type: ignore[union-attr]
    assert friend.call.id != stranger.call.id
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["incoming_calls"] == {
        "numbers": 1,
        "calls_remembered": 2,
        "calls_by_action": {"menu": 1, "reject": 1},
        "recordings": 0,
    }
    assert diagnostics["subentries"] == {"incoming_call": 1}
    text = json.dumps(diagnostics)
    for secret in (GATE, FRIEND, STRANGER, gate.id, friend.call.id, WEBHOOK_ID):
        assert secret not in text


def test_logbook_describes_incoming_calls() -> None:
    """Incoming calls, their key presses and recordings read as sentences."""
    describers: dict[str, Callable[[Event], dict[str, str]]] = {}

    def describe(
        domain: str, event_type: str, describer: Callable[[Event], dict[str, str]]
    ) -> None:
        describers[event_type] = describer

    logbook.async_describe_events(None, describe)  # type: ignore[arg-type]
    data = {"from": FRIEND, "to": GATE, "allowed": True, "action": "reject"}
    assert describers[EVENT_INCOMING_CALL](Event(EVENT_INCOMING_CALL, data))[
        "message"
    ] == (
        f"call from {FRIEND} (allowed caller) to {GATE} was rejected without answering"
    )
    key = {"from": FRIEND, "to": GATE, "direction": "incoming", "digits": "1"}
    assert (
        describers[EVENT_KEYPRESS](Event(EVENT_KEYPRESS, key | {"label": "Open"}))[
            "message"
        ]
        == f"{FRIEND} pressed 1 (Open)"
    )
    saved = {"from": STRANGER, "duration": 3}
    assert (
        describers[EVENT_RECORDING_SAVED](Event(EVENT_RECORDING_SAVED, saved))[
            "message"
        ]
        == f"{STRANGER} left a message (3 s)"
    )


BLUEPRINT = (
    Path(__file__).parents[2]
    / "blueprints"
    / "automation"
    / "elks"
    / "call_to_open_gate.yaml"
)


def test_blueprint_is_valid() -> None:
    """The shipped blueprint passes Home Assistant's automation blueprint schema."""
    blueprint = Blueprint(
        load_yaml_dict(str(BLUEPRINT)),
        expected_domain="automation",
        schema=AUTOMATION_BLUEPRINT_SCHEMA,
    )
    assert set(blueprint.inputs) == {
        "incoming_call",
        "trigger_on",
        "menu_key",
        "open_actions",
    }


@pytest.mark.parametrize(
    ("trigger_on", "caller", "presses", "opened"),
    [
        ("rejected", FRIEND, [], 1),
        ("rejected", STRANGER, [], 0),
        ("keypress", FRIEND, [(1.0, "1")], 1),
        ("keypress", FRIEND, [(1.0, "2")], 0),
    ],
)
async def test_blueprint_opens_the_gate(
    hass: HomeAssistant,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
    trigger_on: str,
    caller: str,
    presses: list[tuple[float, str]],
    opened: int,
) -> None:
    """An automation from the blueprint runs for the allowed caller's ring or key only."""
    action = "reject" if trigger_on == "rejected" else "menu"
    entry = await set_up(
        hass,
        elks,
        gate,
        **{CONF_ALLOWED_ACTION: action, CONF_MENU: "1: Open\n2: Light"},
    )
    [subentry_id] = entry.subentries
    event_id = er.async_get(hass).async_get_entity_id(
        "event", DOMAIN, f"{elks.account.id}_incoming_call_{subentry_id}"
    )
    folder = Path(hass.config.path("blueprints", "automation", "elks"))
    folder.mkdir(parents=True)
    shutil.copy(BLUEPRINT, folder / BLUEPRINT.name)
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "use_blueprint": {
                    "path": "elks/call_to_open_gate.yaml",
                    "input": {
                        "incoming_call": event_id,
                        "trigger_on": trigger_on,
                        "menu_key": "1",
                        "open_actions": [{"event": "gate_opened"}],
                    },
                }
            }
        },
    )
    await hass.async_block_till_done()
    opens = async_capture_events(hass, "gate_opened")
    await elks.sim.dial_in(from_=caller, to=GATE, presses=presses)
    await hass.async_block_till_done()
    assert len(opens) == opened


async def test_call_ends_once_when_46elks_repeats_the_hangup(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
) -> None:
    """A whenhangup delivered twice ends the incoming call once."""
    entry = await set_up(hass, elks, gate)
    [subentry_id] = entry.subentries
    event_id = er.async_get(hass).async_get_entity_id(
        "event", DOMAIN, f"{elks.account.id}_incoming_call_{subentry_id}"
    )
    assert event_id is not None
    ended: list[str] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        state = event.data["new_state"]
        if state is not None and state.attributes["event_type"] == "ended":
            ended.append(state.attributes["call_id"])

    unsubscribe = async_track_state_change_event(hass, event_id, record)
    elks.sim.faults.duplicate_webhooks = True
    result = await elks.sim.dial_in(from_=FRIEND, to=GATE)
    await hass.async_block_till_done()
    unsubscribe()
    kinds = [d.kind for d in elks.sim.deliveries if d.call_id == result.call.id]
    assert kinds == ["voice_start", "whenhangup", "whenhangup"]
    assert ended == [result.call.id]


async def ask(
    hass: HomeAssistant,
    client: TestClient,
    form: dict[str, str],
    query: str,
) -> tuple[dict[str, Any], str]:
    """Deliver one request of an incoming call; return our answer and its next query."""
    status, text = await deliver(hass, client, WEBHOOK_ID, form, Road.HTTP, query)
    assert status == 200
    answer: dict[str, Any] = json.loads(text or "{}")
    return answer, str(answer.get("next", "")).partition("?")[2]


async def ring_pin_menu(
    hass: HomeAssistant, elks: Elks, gate: Number, client: TestClient
) -> tuple[MockConfigEntry, dict[str, str], str]:
    """Set up a PIN menu and let a friend's call ring; return the next step's query."""
    entry = await set_up(
        hass,
        elks,
        gate,
        **{CONF_ALLOWED_ACTION: "menu", CONF_PIN: "4711", CONF_MENU: "1: Open"},
    )
    form = {
        "direction": "incoming",
        "callid": "c0123456789abcdef",
        "from": FRIEND,
        "to": GATE,
        "created": "2026-11-27T10:00:00.000000",
    }
    answer, query = await ask(hass, client, form, f"on=incoming_call&number={gate.id}")
    assert answer["digits"] == 4  # the PIN is asked first
    return entry, form, query


def pressed(form: dict[str, str], keys: str) -> dict[str, str]:
    """Return 46elks' next-step form for ``keys`` pressed in call ``form``."""
    return {"callid": form["callid"], "result": keys, "from": FRIEND, "to": GATE}


def incoming_event_state(hass: HomeAssistant, elks: Elks, subentry_id: str) -> State:
    """Return the state of an incoming number's event entity."""
    state = hass.states.get(
        er.async_get(hass).async_get_entity_id(
            "event", DOMAIN, f"{elks.account.id}_incoming_call_{subentry_id}"
        )
        or ""
    )
    assert state is not None
    return state


@dataclass
class MidCall:
    """A PIN menu call under way, and the Home Assistant started after a restart."""

    hass: HomeAssistant
    client: TestClient
    entry: MockConfigEntry
    form: dict[str, str]
    query: str
    keys: list[Event]

    async def ask(self, keys: str, query: str) -> tuple[dict[str, Any], str]:
        """Press ``keys`` at the step of ``query``; return the answer and next query."""
        return await ask(self.hass, self.client, pressed(self.form, keys), query)


RestartMidCall = Callable[[str, int], Awaitable[MidCall]]


@pytest.fixture
def restart_mid_call(
    hass: HomeAssistant,
    restarter: Restarter,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
) -> RestartMidCall:
    """Ring the PIN menu, press keys, then restart Home Assistant for real."""

    async def restart(keys: str, digits_asked: int) -> MidCall:
        entry, form, query = await ring_pin_menu(hass, elks, gate, hass_http)
        answer, query = await ask(hass, hass_http, pressed(form, keys), query)
        assert answer["digits"] == digits_asked
        new_hass, client, entry = await restarter.restart(hass, hass_http, entry)
        keys_fired = async_capture_events(new_hass, EVENT_KEYPRESS)
        return MidCall(new_hass, client, entry, form, query, keys_fired)

    return restart


async def test_pin_tries_survive_a_restart(restart_mid_call: RestartMidCall) -> None:
    """After a real restart, a PIN menu goes on where it was: its tries are not reset."""
    # Asked again after a wrong PIN: 2 tries left.
    call = await restart_mid_call("0000", 4)
    answer, query = await call.ask("1111", call.query)
    assert answer["digits"] == 4  # the call went on: 1 try left
    answer, _ = await call.ask("2222", query)
    assert answer["hangup"] == "reject"  # the third wrong PIN, counted across
    await call.hass.async_block_till_done()
    assert call.keys == []


async def test_menu_under_way_goes_on_after_a_restart(
    elks: Elks, gate: Number, restart_mid_call: RestartMidCall
) -> None:
    """After a real restart, the menu's key fires and the call's end is reported."""
    # The right PIN: the menu (one key) is asked.
    call = await restart_mid_call("4711", 1)
    hass, client, entry, form = call.hass, call.client, call.entry, call.form
    await call.ask("1", call.query)
    await hass.async_block_till_done()
    assert [(e.data["call_id"], e.data["label"]) for e in call.keys] == [
        (form["callid"], "Open")
    ]
    hangup = {
        "id": form["callid"],
        "direction": "incoming",
        "from": FRIEND,
        "to": GATE,
        "state": "success",
        "created": form["created"],
        "start": "2026-11-27T10:00:01.000000",
        "duration": "9",
        "cost": "3500",
    }
    query = f"on=incoming_call&number={gate.id}"
    assert await deliver(hass, client, WEBHOOK_ID, hangup, Road.HTTP, query) == (
        200,
        None,
    )
    await hass.async_block_till_done()
    [subentry_id] = entry.subentries
    state = incoming_event_state(hass, elks, subentry_id)
    assert state.attributes["event_type"] == "ended"
    assert state.attributes["duration"] == 9


@pytest.mark.parametrize(
    ("changes", "field", "key"),
    [
        ({CONF_ALLOWED: []}, CONF_ALLOWED, "nobody_allowed"),
        (
            {CONF_ALLOWED: [f"+4670000{i:04d}" for i in range(101)]},
            CONF_ALLOWED,
            "too_many_numbers",
        ),
        (
            {
                CONF_FORWARD_TO: ["+46700000001"] * 2
                + [f"+4670000{i:04d}" for i in range(6)]
            },
            CONF_FORWARD_TO,
            "too_many_numbers",
        ),
        ({CONF_ALLOWED_ACTION: "menu", CONF_MENU: ""}, CONF_MENU, "empty_menu"),
        (
            {CONF_ALLOWED_ACTION: "menu", CONF_MENU: "1: +46 (0)70"},
            CONF_MENU,
            "invalid_number",
        ),
        ({CONF_PIN: "12a4"}, CONF_PIN, "invalid_pin"),
        ({CONF_UNKNOWN_ACTION: "forward"}, CONF_FORWARD_TO, "forward_needs_number"),
        ({CONF_GREETING: "x" * 501}, CONF_GREETING, "message_too_long"),
    ],
)
def test_settings_errors_name_the_field(
    changes: dict[str, Any], field: str, key: str
) -> None:
    """Each refused setting names its form field and a translated reason."""
    with pytest.raises(SettingsError) as err:
        check_settings(settings(**changes))
    assert (err.value.field, err.value.key) == (field, key)
    english = json.loads(
        (
            Path(__file__).parents[2] / "custom_components/elks/translations/en.json"
        ).read_text()
    )
    assert key in english["config_subentries"]["incoming_call"]["error"]


def test_menu_lines() -> None:
    """Labels fire events, numbers connect; blank lines are skipped."""
    menu = parse_menu("1: Open the gate\n\n# = +46 70 123 45 67\n")
    assert menu["1"].label == "Open the gate"
    assert menu["1"].connect is None
    assert menu["#"].connect == "+46701234567"


async def test_forward_falls_back_to_a_message(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
    speech_engine: str,
) -> None:
    """Nobody answers and no recording is wanted: the caller hears the message."""
    await set_up(
        hass,
        elks,
        gate,
        **{
            CONF_ALLOWED_ACTION: "forward",
            CONF_FORWARD_TO: [PHONE_A],
            CONF_NO_ANSWER: "message",
            CONF_NO_ANSWER_MESSAGE: "Nobody is home.",
        },
    )
    elks.sim.set_callee(PHONE_A, Callee.no_answer())
    result = await elks.sim.dial_in(from_=FRIEND, to=GATE)
    assert [a.get("result") for a in result.actions] == ["failed", "success"]
    assert "/api/tts_proxy/" in result.actions[1]["play"]
    assert result.recordings == []


async def test_resent_voice_start_of_a_menu_repeats_its_step(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
    road: Road,
) -> None:
    """A menu's voice_start re-sent gets the step it got, and fires nothing again."""
    await set_up(
        hass, elks, gate, **{CONF_ALLOWED_ACTION: "menu", CONF_MENU: "1: Open"}
    )
    events = async_capture_events(hass, EVENT_INCOMING_CALL)
    form = {
        "direction": "incoming",
        "callid": "c0123456789abcdef",
        "from": FRIEND,
        "to": GATE,
        "created": "2026-11-27T10:00:00.000000",
    }
    query = f"on=incoming_call&number={gate.id}"
    first = await deliver(hass, hass_http, WEBHOOK_ID, form, road, query)
    again = await deliver(hass, hass_http, WEBHOOK_ID, form, Road.HTTP, query)
    assert first == again
    assert len(events) == 1


async def test_recording_refetched_after_a_failed_download(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
    road: Road,
) -> None:
    """Unknown calls and bad forms are ignored; a failed fetch can be re-sent."""
    entry = await set_up(hass, elks, gate)
    saved = async_capture_events(hass, EVENT_RECORDING_SAVED)
    result = await elks.sim.dial_in(from_=FRIEND, to=GATE)
    query = f"on=recording&number={gate.id}"
    good = {
        "callid": result.call.id,
        "created": result.call.created,
        "duration": "7",
        "wav": elks.sim.audio_url("r.wav"),
    }
    for form in (
        good | {"callid": "cunknown"},
        good | {"created": "soon"},
        good | {"wav": f"{elks.base_url}/recordings/missing.wav"},
    ):
        assert await deliver(hass, hass_http, WEBHOOK_ID, form, road, query) == (
            200,
            None,
        )
    assert saved == []
    assert await deliver(hass, hass_http, WEBHOOK_ID, good, road, query) == (200, None)
    assert await deliver(hass, hass_http, WEBHOOK_ID, good, road, query) == (200, None)
    await hass.async_block_till_done()
    [event] = saved
    assert event.data["duration"] == 7
    with pytest.raises(media_source.Unresolvable):
        await media_source.async_resolve_media(
            hass, f"media-source://elks/{entry.entry_id}/../x.wav", None
        )
    with pytest.raises(media_source.Unresolvable):
        await media_source.async_resolve_media(
            hass,
            f"media-source://elks/{entry.entry_id}/20260101T000000_cnone.wav",
            None,
        )
    with pytest.raises(BrowseError):
        await media_source.async_browse_media(hass, "media-source://elks/nope")


async def test_flow_aborts_without_numbers(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """46elks unreachable, or no free voice number: the flow says so."""
    elks.sim.faults.fail_next(500, path="/a1/numbers")
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, SUBENTRY_INCOMING_CALL), context={"source": "user"}
    )
    assert (result["type"], result["reason"]) == (
        FlowResultType.ABORT,
        "cannot_connect",
    )
    for number in elks.sim.numbers.values():
        number.active = False
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, SUBENTRY_INCOMING_CALL), context={"source": "user"}
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "no_numbers")
    # An account that is not set up has no client to ask.
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, SUBENTRY_INCOMING_CALL), context={"source": "user"}
    )
    assert (result["type"], result["reason"]) == (
        FlowResultType.ABORT,
        "cannot_connect",
    )


async def test_recordings_kept_and_served(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The newest recordings are kept; the view serves only files it has."""
    entry_id = loaded_entry.entry_id
    empty = await media_source.async_browse_media(
        hass, f"media-source://elks/{entry_id}"
    )
    assert empty.children == []
    monkeypatch.setattr(recordings, "RECORDINGS_KEPT", 2)
    ids = [
        await recordings.async_save_recording(
            hass, entry_id, f"c{i}", f"2026-11-27T10:00:0{i}.000000", WAV
        )
        for i in range(3)
    ]
    browsed = await media_source.async_browse_media(
        hass, f"media-source://elks/{entry_id}"
    )
    assert [c.media_content_id for c in browsed.children] == [ids[2], ids[1]]
    for name in ("20260101T000000_cnone.wav", "..%2Fsecret.wav"):
        path = async_sign_path(
            hass, f"{recordings.RECORDING_PATH}/{entry_id}/{name}", timedelta(minutes=1)
        )
        assert (await hass_http.get(path)).status == 404


async def test_removing_the_account_deletes_its_recordings(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Callers' recordings go with the account; another account's stay."""
    other = "01OTHERACCOUNT0000000000000"
    kept = await recordings.async_save_recording(
        hass, other, "c1", "2026-11-27T10:00:00.000000", WAV
    )
    await recordings.async_save_recording(
        hass, loaded_entry.entry_id, "c2", "2026-11-27T10:00:01.000000", WAV
    )
    assert recordings.recordings_dir(hass, loaded_entry.entry_id).is_dir()
    await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert not recordings.recordings_dir(hass, loaded_entry.entry_id).exists()
    [left] = recordings.recordings_dir(hass, other).iterdir()
    assert kept.endswith(left.name)


async def test_flow_skips_numbers_taken_and_forgets_our_own_url(
    hass: HomeAssistant, elks: Elks, gate: Number, hass_http: TestClient
) -> None:
    """A number another kind of subentry answers is not offered; a leftover URL of ours is not kept."""
    [caller_id] = [n for n in elks.sim.numbers.values() if n.number == CALLER_ID]
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        unique_id=elks.account.id,
        data=entry_data(elks.base_url),
        options={CONF_CALLER_ID: CALLER_ID, CONF_RING_TIMEOUT: 60},
        subentries_data=[
            # Assist by phone takes the caller id number's calls.
            ConfigSubentryData(
                # Assist by phone, as its flow stores it.
                data={
                    CONF_ASSIST_NUMBER: CALLER_ID,
                    CONF_ASSIST_NUMBER_ID: caller_id.id,
                    CONF_ASSIST_TOKEN: "t" * 32,
                    CONF_ASSIST_PIPELINE: "preferred",
                    CONF_ASSIST_CALLERS: [FRIEND],
                },
                subentry_type=SUBENTRY_ASSIST,
                title=CALLER_ID,
                unique_id=caller_id.id,
            )
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    gate.voice_start = entry.runtime_data.webhook.url_for(
        WebhookRoute.INCOMING_CALL, number=gate.id
    )
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_INCOMING_CALL), context={"source": "user"}
    )
    offered = result["data_schema"].schema[CONF_NUMBER_ID].config["options"]
    assert [o["label"] for o in offered] == [GATE]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NUMBER_ID: gate.id}
    )
    assert result["step_id"] == "settings"
    form = {key: value for key, value in settings().items() if value is not None}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], form
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    [subentry] = [
        s
        for s in entry.subentries.values()
        if s.subentry_type == SUBENTRY_INCOMING_CALL
    ]
    assert subentry.data[CONF_PREVIOUS_VOICE_START] is None


async def test_refusals_log_the_rule_not_the_value(
    hass: HomeAssistant,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An invalid request is logged by field and rule; the value sent never appears."""
    await set_up(hass, elks, gate)
    forged = "+4670\\nFORGED LOG LINE"
    form = {
        "direction": "incoming",
        "callid": "c0123456789abcdef",
        "from": forged,
        "to": GATE,
        "created": "2026-11-27T10:00:00.000000",
    }
    query = f"on=incoming_call&number={gate.id}"
    await deliver(hass, hass_http, WEBHOOK_ID, form, Road.HTTP, query)
    recording = {"callid": "c1", "created": "x", "wav": forged}
    await deliver(
        hass,
        hass_http,
        WEBHOOK_ID,
        recording,
        Road.HTTP,
        f"on=recording&number={gate.id}",
    )
    assert "Refused an invalid incoming-call request" in caplog.text
    assert "from" in caplog.text
    assert "FORGED" not in caplog.text


async def test_hidden_caller_is_unknown_and_still_ends(
    hass: HomeAssistant,
    road_relay: CloudRelay | None,
    elks: Elks,
    gate: Number,
    hass_http: TestClient,
) -> None:
    """A caller without a number is never on the allow-list; the call still ends."""
    await set_up(hass, elks, gate, **{CONF_ALLOWED_ACTION: "busy"})
    rang = async_capture_events(hass, EVENT_INCOMING_CALL)
    result = await elks.sim.dial_in(from_="anonymous", to=GATE)
    await hass.async_block_till_done()
    assert result.actions == [{"hangup": "reject"}]
    [event] = rang
    assert (event.data["from"], event.data["allowed"]) == ("anonymous", False)
    [subentry_id] = hass.config_entries.async_entries(DOMAIN)[0].subentries
    state = incoming_event_state(hass, elks, subentry_id)
    assert state.attributes["event_type"] == "ended"
