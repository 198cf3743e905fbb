"""The elks.call action against the simulator, through Home Assistant."""

from __future__ import annotations

import json

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks.const import DOMAIN, EVENT_CALL_ENDED
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr

from .conftest import (
    ANSWERS,
    BUSY,
    CALLER_ID,
    FAILS,
    MOBILE,
    NO_ANSWER,
    WEBHOOK_ID,
    Elks,
)

SENSOR = "sensor.home_last_call"


async def call(hass: HomeAssistant, **data: object) -> dict[str, object]:
    """Run elks.call and return its response."""
    response = await hass.services.async_call(
        DOMAIN, "call", data, blocking=True, return_response=True
    )
    assert response is not None
    return dict(response)


async def held_hangup(
    hass: HomeAssistant, elks: Elks, to: str = ANSWERS
) -> dict[str, str]:
    """Place a call and hold back its real hangup; return that hangup's form.

    The form's ``id`` is the call's id; ``release_webhooks`` sends it later.
    """
    elks.sim.faults.hold_webhooks()
    [placed] = (await call(hass, to=to, play="sound/beep"))["calls"]  # type: ignore[misc]
    await elks.sim.wait_webhook_held(placed["id"])
    [held] = [item for item in elks.sim.faults.held if item.call_id == placed["id"]]
    return dict(held.form)


async def test_play_call_end_to_end(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """A played call goes out once, and its hangup updates sensor and event."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    audio = elks.sim.audio_url("alarm.mp3")
    response = await call(hass, to="+46 70-000 01 01", play=audio)

    [placed] = response["calls"]
    assert placed["to"] == ANSWERS
    assert placed["from"] == CALLER_ID
    assert placed["state"] == "ongoing"
    assert response["errors"] == []
    [form] = elks.call_posts()
    assert form["from"] == CALLER_ID
    assert form["to"] == ANSWERS
    assert json.loads(form["voice_start"]) == {"play": audio, "skippable": False}
    assert form["timeout"] == "60"
    assert form["whenhangup"] == str(hass_http.make_url(f"/api/webhook/{WEBHOOK_ID}"))
    assert hass.states.get(SENSOR).state == "ongoing"

    await elks.sim.wait_call_finished(placed["id"])
    await hass.async_block_till_done()

    state = hass.states.get(SENSOR)
    assert state.state == "success"
    assert state.attributes["id"] == placed["id"]
    assert state.attributes["duration"] > 0
    assert state.attributes["cost"] > 0
    # The cost's unit: the account's currency.
    assert state.attributes["currency"] == "SEK"
    assert state.attributes["start"] is not None
    [event] = events
    # The account's device: what shows the event in its Activity card.
    device = dr.async_get(hass).async_get(event.data["device_id"])
    assert device is not None
    assert device.config_entry_id == loaded_entry.entry_id
    assert event.data["call_id"] == placed["id"]
    assert event.data["answered"] is True
    assert event.data["state"] == "success"
    assert event.data["to"] == ANSWERS
    assert event.data["from"] == CALLER_ID
    assert event.data["duration"] == elks.sim.calls[placed["id"]].duration
    assert event.data["cost"] == elks.sim.calls[placed["id"]].cost / 10000


async def test_busy_and_unanswered(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Busy and unanswered calls end without start, duration or cost."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    response = await call(hass, to=[BUSY, NO_ANSWER], play="sound/beep", timeout=5)
    assert {c["to"] for c in response["calls"]} == {BUSY, NO_ANSWER}
    for placed in response["calls"]:
        await elks.sim.wait_call_finished(placed["id"])
    await hass.async_block_till_done()
    states = {e.data["to"]: e.data for e in events}
    assert states[BUSY]["state"] == "busy"
    assert states[NO_ANSWER]["state"] == "failed"
    assert not states[BUSY]["answered"]
    assert states[NO_ANSWER]["start"] is None
    assert states[NO_ANSWER]["duration"] == 0
    assert {form["timeout"] for form in elks.call_posts()} == {"5"}


async def test_failed_in_response_body(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A 2xx answer that already says failed ends the call at once, once."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    response = await call(hass, to=FAILS, play="sound/beep")
    [placed] = response["calls"]
    assert placed["state"] == "failed"
    await elks.sim.wait_call_finished(placed["id"])
    await hass.async_block_till_done()
    assert hass.states.get(SENSOR).state == "failed"
    assert [e.data["call_id"] for e in events] == [placed["id"]]


async def test_connect(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Connect sends a connect action with our caller id."""
    await call(hass, to=ANSWERS, connect="+46 (70) 000-0102", **{"from": MOBILE})
    [form] = elks.call_posts()
    assert form["from"] == MOBILE
    assert json.loads(form["voice_start"]) == {"connect": BUSY, "callerid": MOBILE}


@pytest.mark.parametrize(
    "actions",
    [
        {"play": "sound/beep", "next": {"connect": "+46700000102"}},
        '{"ivr": "sound/beep", "1": {"play": "sound/beep"}, "next": "https://example.com/next"}',
    ],
)
async def test_raw_actions(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry, actions: object
) -> None:
    """Raw action objects (or their JSON) are passed on as they are."""
    await call(hass, to=ANSWERS, actions=actions)
    [form] = elks.call_posts()
    expected = json.loads(actions) if isinstance(actions, str) else actions
    assert json.loads(form["voice_start"]) == expected


async def test_many_recipients_normalised_and_deduplicated(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Every recipient is called once, in E.164, whatever the notation."""
    numbers = [f"+46 70 000 02 {i:02d}" for i in range(10)]
    response = await call(hass, to=[*numbers, "0046700000200"], play="sound/beep")
    called = sorted(form["to"] for form in elks.call_posts())
    assert called == sorted(n.replace(" ", "") for n in numbers)
    assert len(response["calls"]) == 10


async def test_fan_out_writes_the_last_call_sensor_once(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """One action to 10 people is one state write of the last call sensor, not 10."""
    elks.sim.faults.hold_webhooks()  # no hangup may add a write
    writes = async_capture_events(hass, EVENT_STATE_CHANGED)
    numbers = [f"+46 70 000 04 {i:02d}" for i in range(10)]
    response = await call(hass, to=numbers, play="sound/beep")
    await hass.async_block_till_done()
    shown = [e.data["new_state"] for e in writes if e.data["entity_id"] == SENSOR]
    assert len(shown) == 1
    placed = {c["id"] for c in response["calls"]}  # type: ignore[attr-defined]
    assert len(placed) == 10
    assert shown[0].state == "ongoing"
    assert shown[0].attributes["id"] in placed
    elks.sim.faults.release_webhooks()


async def release_hangups_as_the_test_ends(
    hass: HomeAssistant, elks: Elks, count: int = 10
) -> None:
    """Place calls and release their hangups, so they are in flight at teardown."""
    elks.sim.faults.hold_webhooks()
    numbers = [f"+46 70 000 03 {i:02d}" for i in range(count)]
    response = await call(hass, to=numbers, play="sound/beep")
    for placed in response["calls"]:  # type: ignore[attr-defined]
        await elks.sim.wait_webhook_held(placed["id"])
    elks.sim.faults.release_webhooks()


async def test_teardown_with_hangups_in_flight(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Hangups arriving as the test ends do not break its teardown.

    pytest must stop the simulator before Home Assistant's HTTP server goes
    away, or a hangup reaches a closing server ("Error on transport creation
    for incoming connection").
    """
    await release_hangups_as_the_test_ends(hass, elks)


@pytest.mark.parametrize(
    ("data", "key", "placeholders"),
    [
        (
            {"to": [ANSWERS, "12345x"], "play": "sound/beep"},
            "invalid_number",
            {"number": "12345x", "field": "to"},
        ),
        (
            {"to": ANSWERS, "connect": "070"},
            "invalid_number",
            {"number": "070", "field": "connect"},
        ),
        (
            {"to": ANSWERS, "from": "+0", "play": "sound/beep"},
            "invalid_number",
            {"number": "+0", "field": "from"},
        ),
        ({"to": ANSWERS}, "one_action_required", None),
        (
            {"to": ANSWERS, "play": "sound/beep", "connect": BUSY},
            "one_action_required",
            None,
        ),
        (
            {"to": ANSWERS, "play": "ftp://x/y.mp3"},
            "invalid_audio",
            {"source": "ftp://x/y.mp3"},
        ),
        (
            {"to": ANSWERS, "actions": {"play": "sound/beep", "dial": 1}},
            "invalid_action",
            {"path": "actions", "problem": "unknown key 'dial'"},
        ),
        ({"to": ANSWERS, "actions": {"next": "https://x.y/z"}}, "invalid_action", None),
        (
            {"to": ANSWERS, "actions": "{not json"},
            "invalid_action",
            {"path": "actions", "problem": "not valid JSON"},
        ),
        (
            {"to": ANSWERS, "actions": {"play": "sound/beep", "next": "file:///etc"}},
            "invalid_action",
            None,
        ),
    ],
)
async def test_invalid_input_dials_nothing(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    data: dict[str, object],
    key: str,
    placeholders: dict[str, str] | None,
) -> None:
    """Mistakes are translated validation errors, and nobody is called."""
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "call", data, blocking=True)
    assert err.value.translation_key == key
    if placeholders is not None:
        assert err.value.translation_placeholders == placeholders
    assert elks.call_posts() == []


async def test_caller_id_refused_by_46elks(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """46elks' own message names the caller id it refuses."""
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, to=ANSWERS, play="sound/beep", **{"from": "+46766860002"})
    assert err.value.translation_key == "call_rejected"
    assert err.value.translation_placeholders["to"] == ANSWERS
    assert "+46766860002" in err.value.translation_placeholders["message"]
    assert "+46766860002" in str(err.value)


async def test_message_without_tts(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Without text-to-speech set up, a message is refused with a clear error."""
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, to=ANSWERS, message="Smoke")
    assert err.value.translation_key == "no_tts"
    assert elks.call_posts() == []
