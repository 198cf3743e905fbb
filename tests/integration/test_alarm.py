"""Alarm-grade calling: spoken messages, acknowledgement, menus, PINs, escalation."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks import escalation
from custom_components.elks.const import (
    DOMAIN,
    EVENT_CALL_ENDED,
    EVENT_ESCALATION_FINISHED,
    EVENT_KEYPRESS,
)
from elks_simulator import Callee
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir

from .conftest import (
    ANSWERS,
    BUSY,
    HTTP_COMPONENTS_WITH_TTS,
    NO_ANSWER,
    PRESSES_1,
    VOICEMAIL,
    WEBHOOK_ID,
    Elks,
)
from .test_call import call

PIN_CALLER = "+46700000107"
PRESSES_2 = "+46700000108"


@pytest.fixture
def http_components() -> dict[str, dict[str, Any]]:
    """Add text-to-speech, which serves its audio over HTTP."""
    return HTTP_COMPONENTS_WITH_TTS


@pytest.fixture(autouse=True)
def auto_speech_engine(speech_engine: str) -> None:
    """Every test here can speak."""


async def ended(hass: HomeAssistant, elks: Elks, call_ids: list[str]) -> None:
    """Wait until the simulator finished the calls and HA processed them."""
    for call_id in call_ids:
        await elks.sim.wait_call_finished(call_id)
    await hass.async_block_till_done()


async def test_spoken_message(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """A message is spoken with HA's TTS from a URL 46elks fetches, repeated, after a beep."""
    response = await call(
        hass, to=ANSWERS, message="Smoke in the kitchen", repeat=2, lead_in="beep"
    )
    [placed] = response["calls"]
    [form] = elks.call_posts()
    voice_start = json.loads(form["voice_start"])
    assert voice_start["play"] == "sound/beep"
    spoken = voice_start["next"]["play"]
    assert spoken.startswith(str(hass_http.make_url("/api/elks/audio/")))
    assert voice_start["next"]["next"] == {"play": spoken, "skippable": False}
    await ended(hass, elks, [placed["id"]])
    fetched = [d for d in elks.sim.deliveries if d.kind == "audio" and d.url == spoken]
    assert fetched
    assert fetched[0].status == 200
    assert [a.get("result") for a in elks.sim.calls[placed["id"]].actions] == [
        "success",
        "success",
        "success",
    ]


async def test_spoken_message_needs_public_url(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Without a public URL a message cannot be fetched: say so, dial nobody."""
    await hass.config.async_update(external_url=None)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, to=ANSWERS, message="Smoke")
    assert err.value.translation_key == "no_public_url"
    assert elks.call_posts() == []
    assert issue_registry.async_get_issue(
        DOMAIN, f"no_public_url_{loaded_entry.entry_id}"
    )


async def test_unknown_tts_engine(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A TTS engine that does not exist is named in the error."""
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, to=ANSWERS, message="Smoke", tts_engine="tts.nope")
    assert err.value.translation_placeholders == {"engine": "tts.nope"}
    assert elks.call_posts() == []


@pytest.mark.parametrize(
    ("to", "outcome"),
    [
        (PRESSES_1, "acknowledged"),
        (VOICEMAIL, "no_input"),
        (BUSY, "busy"),
        (NO_ANSWER, "no_answer"),
    ],
)
async def test_acknowledgement(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    to: str,
    outcome: str,
) -> None:
    """Only a pressed digit acknowledges; voicemail, busy and silence do not."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    [placed] = (
        await call(
            hass,
            to=to,
            play=elks.sim.audio_url("alarm.mp3"),
            require_ack=True,
            timeout=5,
        )
    )["calls"]
    [form] = elks.call_posts()
    assert form["voice_start"] == form["whenhangup"]
    await ended(hass, elks, [placed["id"]])
    [event] = events
    assert event.data["acknowledged"] is (outcome == "acknowledged")
    assert event.data["outcome"] == outcome


async def test_hung_up_before_acknowledging(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A callee who answers and hangs up during the prompt has not acknowledged."""
    elks.sim.set_callee(ANSWERS, Callee.answer(after=1.0, talk=1.0))
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    [placed] = (await call(hass, to=ANSWERS, play="sound/beep", require_ack=True))[
        "calls"
    ]
    await ended(hass, elks, [placed["id"]])
    assert events[0].data["outcome"] == "hung_up"
    assert events[0].data["acknowledged"] is False


async def test_wrong_key_then_right_key(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A wrong key replays the prompt; the right one then acknowledges."""
    elks.sim.set_callee(
        ANSWERS, Callee.answer(after=1.0, presses=[(1.0, "5"), (1.0, "9")])
    )
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    [placed] = (
        await call(hass, to=ANSWERS, play="sound/beep", require_ack=True, ack_digit="9")
    )["calls"]
    await ended(hass, elks, [placed["id"]])
    assert events[0].data["outcome"] == "acknowledged"


async def test_menu_keypress(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A menu choice fires elks_keypress with its label."""
    keys = async_capture_events(hass, EVENT_KEYPRESS)
    [placed] = (
        await call(
            hass,
            to=PRESSES_1,
            play="sound/beep",
            menu={1: "open_door", "2": {"connect": BUSY}},
        )
    )["calls"]
    await ended(hass, elks, [placed["id"]])
    [key] = keys
    assert key.data["digits"] == "1"
    assert key.data["label"] == "open_door"
    assert key.data["call_id"] == placed["id"]
    assert key.data["to"] == PRESSES_1


async def test_menu_connect(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A menu entry with connect puts the callee through."""
    elks.sim.set_callee(PRESSES_2, Callee.answer(after=1.0, presses=[(1.0, "2")]))
    keys = async_capture_events(hass, EVENT_KEYPRESS)
    [placed] = (
        await call(
            hass,
            to=PRESSES_2,
            play="sound/beep",
            menu={"2": {"connect": ANSWERS, "label": "talk"}},
        )
    )["calls"]
    await ended(hass, elks, [placed["id"]])
    assert keys[0].data["label"] == "talk"
    assert any(
        a.get("connect") == ANSWERS for a in elks.sim.calls[placed["id"]].actions
    )


async def test_pin_wrong_then_right(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """The menu opens only after the right PIN; the wrong one fires nothing."""
    elks.sim.set_callee(
        PIN_CALLER,
        Callee.answer(after=1.0, presses=[(1.0, "0000"), (1.0, "4711"), (1.0, "1")]),
    )
    keys = async_capture_events(hass, EVENT_KEYPRESS)
    [placed] = (
        await call(
            hass, to=PIN_CALLER, play="sound/beep", menu={1: "open_door"}, pin="4711"
        )
    )["calls"]
    await ended(hass, elks, [placed["id"]])
    assert [(k.data["digits"], k.data["label"]) for k in keys] == [("1", "open_door")]


async def test_pin_never_right(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Three wrong PINs end the call without any menu choice."""
    elks.sim.set_callee(
        PIN_CALLER,
        Callee.answer(
            after=1.0, presses=[(1.0, "0000"), (1.0, "1111"), (1.0, "2222"), (1.0, "1")]
        ),
    )
    keys = async_capture_events(hass, EVENT_KEYPRESS)
    [placed] = (
        await call(
            hass, to=PIN_CALLER, play="sound/beep", menu={1: "open_door"}, pin="4711"
        )
    )["calls"]
    await ended(hass, elks, [placed["id"]])
    assert keys == []
    assert elks.sim.calls[placed["id"]].actions[-1] == {"hangup": "reject"}


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"connect": BUSY, "require_ack": True}, "interactive_needs_audio"),
        ({"play": "sound/beep", "require_ack": True, "menu": {1: "x"}}, "ack_or_menu"),
        ({"play": "sound/beep", "pin": "1234"}, "pin_needs_menu"),
        ({"play": "sound/beep", "menu": {"12": "x"}}, "invalid_menu_key"),
        ({"play": "sound/beep", "menu": {"1": {"label": "x"}}}, "invalid_menu_entry"),
        ({"play": "sound/beep", "menu": {}}, "empty_menu"),
    ],
)
async def test_invalid_interactive_calls(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    data: dict[str, Any],
    key: str,
) -> None:
    """Contradictory or incomplete flows are refused before dialling."""
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, to=ANSWERS, **data)
    assert err.value.translation_key == key
    assert elks.call_posts() == []


async def test_interactive_needs_webhook(
    hass: HomeAssistant, elks: Elks, config_entry: MockConfigEntry
) -> None:
    """Acknowledgement and escalation need 46elks to reach us during the call."""
    await hass.config.async_update(external_url=None)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    for data in ({"require_ack": True}, {"mode": "sequential"}):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, to=ANSWERS, play="sound/beep", **data)
        assert err.value.translation_key == "needs_webhook"
    assert elks.call_posts() == []


async def test_unknown_call_flow_request_hangs_up(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_http: TestClient
) -> None:
    """A call-flow request for a call we did not place gets an explicit hangup."""
    response = await hass_http.post(
        f"/api/webhook/{WEBHOOK_ID}",
        data="callid=cforged&result=newoutgoing&from=%2B1&to=%2B2&direction=outgoing",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 200
    assert await response.json() == {"hangup": "reject"}


async def test_escalation_second_acknowledges(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Sequential: nobody answers, voicemail does not count, the third acknowledges; nobody after."""
    finished = async_capture_events(hass, EVENT_ESCALATION_FINISHED)
    response = await call(
        hass,
        to=[NO_ANSWER, VOICEMAIL, PRESSES_1, ANSWERS],
        play="sound/beep",
        require_ack=True,
        mode="sequential",
        timeout=5,
        wait=True,
    )
    escalation = response["escalation"]
    assert escalation["result"] == "acknowledged"
    assert escalation["answered_by"] == PRESSES_1
    assert [(a["to"], a["outcome"]) for a in escalation["attempts"]] == [
        (NO_ANSWER, "no_answer"),
        (VOICEMAIL, "no_input"),
        (PRESSES_1, "acknowledged"),
    ]
    assert [form["to"] for form in elks.call_posts()] == [
        NO_ANSWER,
        VOICEMAIL,
        PRESSES_1,
    ]
    await hass.async_block_till_done()
    [event] = finished
    assert event.data["escalation_id"] == escalation["escalation_id"]
    assert event.data["answered_by"] == PRESSES_1


async def test_escalation_rounds_exhausted(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Two rounds of nobody answering call everybody twice, then give up."""
    response = await call(
        hass,
        to=[NO_ANSWER, BUSY],
        play="sound/beep",
        mode="sequential",
        rounds=2,
        timeout=5,
        wait=True,
    )
    assert response["escalation"]["result"] == "exhausted"
    assert [form["to"] for form in elks.call_posts()] == [
        NO_ANSWER,
        BUSY,
        NO_ANSWER,
        BUSY,
    ]


async def test_escalation_without_ack_stops_at_answer(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Without require_ack, an answered call ends the escalation."""
    response = await call(
        hass,
        to=[BUSY, ANSWERS, PRESSES_1],
        play="sound/beep",
        mode="sequential",
        wait=True,
    )
    assert response["escalation"]["result"] == "answered"
    assert response["escalation"]["answered_by"] == ANSWERS


async def acknowledged_escalation(hass: HomeAssistant, to: list[str]) -> dict[str, Any]:
    """Run a sequential beep call that needs an acknowledgement; return its escalation."""
    response = await call(
        hass, to=to, play="sound/beep", require_ack=True, mode="sequential", wait=True
    )
    escalation_data: dict[str, Any] = response["escalation"]
    return escalation_data


async def test_escalation_skips_who_cannot_be_called(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A refused call is noted and the next person is called."""
    elks.sim.faults.fail_next(503, body="Try later")
    attempts = (await acknowledged_escalation(hass, [BUSY, PRESSES_1]))["attempts"]
    assert attempts[0]["outcome"] == "not_placed"
    assert attempts[0]["message"] == "Try later"
    assert attempts[1]["outcome"] == "acknowledged"


async def test_escalation_tries_again_while_46elks_cannot_take_the_call(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """46elks asking to slow down (or unreachable): the same person, after a pause."""
    monkeypatch.setattr(escalation, "RETRY_PAUSES", (0, 0, 0))
    elks.sim.faults.fail_next(429, count=2)
    attempts = (await acknowledged_escalation(hass, [PRESSES_1, BUSY]))["attempts"]
    assert [(a["to"], a["outcome"], a.get("error")) for a in attempts] == [
        (PRESSES_1, "not_placed", "rate_limited"),
        (PRESSES_1, "not_placed", "rate_limited"),
        (PRESSES_1, "acknowledged", None),
    ]
    assert [form["to"] for form in elks.call_posts()] == [PRESSES_1] * 3


async def test_escalation_tries_a_person_again_only_so_long(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the last pause the next person is called; a call that may exist is never retried."""
    monkeypatch.setattr(escalation, "RETRY_PAUSES", (0,))
    elks.sim.faults.fail_next(429, count=2)
    elks.sim.faults.drop_next(after_processing=True)
    escalated = await acknowledged_escalation(hass, [PRESSES_1, BUSY])
    assert escalated["result"] == "exhausted"
    attempts = escalated["attempts"]
    assert [(a["to"], a.get("error")) for a in attempts] == [
        (PRESSES_1, "rate_limited"),
        (PRESSES_1, "rate_limited"),
        (BUSY, "outcome_unknown"),
    ]
    assert [form["to"] for form in elks.call_posts()] == [PRESSES_1, PRESSES_1, BUSY]


async def slow_escalation(hass: HomeAssistant) -> dict[str, Any]:
    """Start an escalation whose first callee rings for 300 s; return at once."""
    return await call(
        hass,
        to=[NO_ANSWER, PRESSES_1],
        play="sound/beep",
        mode="sequential",
        timeout=300,
    )


async def cancel(hass: HomeAssistant, escalation_id: str) -> None:
    """Run elks.cancel."""
    await hass.services.async_call(
        DOMAIN, "cancel", {"escalation_id": escalation_id}, blocking=True
    )


async def test_escalation_cancelled(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """elks.cancel stops the escalation: nobody else is called."""
    finished = async_capture_events(hass, EVENT_ESCALATION_FINISHED)
    elks.sim.time_scale = 1.0  # the first callee rings 300 real seconds
    response = await slow_escalation(hass)
    assert response["first_call"]["to"] == NO_ANSWER
    await cancel(hass, response["escalation_id"])
    await hass.async_block_till_done()
    [event] = finished
    assert event.data["result"] == "cancelled"
    await asyncio.sleep(0.5)
    assert [form["to"] for form in elks.call_posts()] == [NO_ANSWER]
    with pytest.raises(ServiceValidationError) as err:
        await cancel(hass, response["escalation_id"])
    assert err.value.translation_key == "unknown_escalation"


async def test_escalation_interrupted_by_restart(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """An escalation cut short by a stop is reported on the next start."""
    finished = async_capture_events(hass, EVENT_ESCALATION_FINISHED)
    elks.sim.time_scale = 1.0  # the first callee rings 300 real seconds
    response = await slow_escalation(hass)
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    assert finished == []
    assert await hass.config_entries.async_setup(loaded_entry.entry_id)
    await hass.async_block_till_done()
    [event] = finished
    assert event.data["result"] == "interrupted"
    assert event.data["escalation_id"] == response["escalation_id"]
    issue = issue_registry.async_get_issue(
        DOMAIN, f"escalation_interrupted_{response['escalation_id']}"
    )
    assert issue is not None
    assert issue.translation_placeholders["calls"] == "1"
    # Reported once: another restart does not report it again.
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert len(finished) == 1


async def test_waiting_escalation_cancelled(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """An action waiting for an escalation returns its result when it is cancelled."""
    elks.sim.time_scale = 1.0  # the first callee rings 300 real seconds
    waiting = hass.async_create_task(
        call(
            hass,
            to=[NO_ANSWER, PRESSES_1],
            play="sound/beep",
            mode="sequential",
            timeout=300,
            wait=True,
        )
    )
    while not elks.call_posts():
        await asyncio.sleep(0.01)
    [escalation_id] = list(loaded_entry.runtime_data.escalations._running)  # noqa: SLF001
    await cancel(hass, escalation_id)
    response = await waiting
    assert response["escalation"]["result"] == "cancelled"
    assert [form["to"] for form in elks.call_posts()] == [NO_ANSWER]


async def test_wrong_keys_until_hung_up_on(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Three wrong keys: the integration hangs up, and says no valid input came."""
    elks.sim.set_callee(
        ANSWERS, Callee.answer(after=1.0, presses=[(1.0, "5"), (1.0, "5"), (1.0, "5")])
    )
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    [placed] = (await call(hass, to=ANSWERS, play="sound/beep", require_ack=True))[
        "calls"
    ]
    await ended(hass, elks, [placed["id"]])
    assert events[0].data["outcome"] == "no_input"
    assert elks.sim.calls[placed["id"]].actions[-1] == {"hangup": "reject"}


@pytest.mark.parametrize(
    "http_components",
    [{**HTTP_COMPONENTS_WITH_TTS, "media_source": {}}],
)
async def test_play_media_source(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """A media-source item (here a TTS one) is played from a public URL."""
    await call(
        hass,
        to=ANSWERS,
        play="media-source://tts/tts.test_speech?message=Door+open&language=en",
    )
    voice_start = json.loads(elks.call_posts()[0]["voice_start"])
    assert voice_start["play"].startswith(str(hass_http.make_url("/api/tts_proxy/")))


@pytest.mark.parametrize(
    "http_components",
    [{**HTTP_COMPONENTS_WITH_TTS, "media_source": {}}],
)
async def test_play_missing_media_source(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A media-source item that does not resolve is named in the error."""
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, to=ANSWERS, play="media-source://nothing/here")
    assert err.value.translation_key == "media_not_found"
    assert err.value.translation_placeholders["media"] == "media-source://nothing/here"
    assert elks.call_posts() == []


async def test_answer_before_call_response(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """46elks asking for the first step before our POST returned still gets it."""
    response_sent = elks.sim.faults.hold_response_next()
    tracker = loaded_entry.runtime_data.tracker
    asked = asyncio.Event()
    flow_request = tracker.async_flow_request

    async def spy(*args: Any, **kwargs: Any) -> Any:
        asked.set()
        return await flow_request(*args, **kwargs)

    tracker.async_flow_request = spy  # type: ignore[method-assign]
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    placing = hass.async_create_task(
        call(hass, to=PRESSES_1, play="sound/beep", require_ack=True)
    )
    # The call was answered and its first step asked for while 46elks'
    # answer to our POST is still held: the step must wait for the placement.
    await asked.wait()
    assert not placing.done()
    response_sent.set()
    [placed] = (await placing)["calls"]
    await ended(hass, elks, [placed["id"]])
    first_flow = next(d for d in elks.sim.deliveries if d.kind == "voice_start")
    assert "ivr" in json.loads(first_flow.response_text)
    assert events[0].data["outcome"] == "acknowledged"


async def test_interactive_call_survives_restart(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """A restart between the prompt and the key press loses nothing."""
    # The test plays 46elks' part of the call flow itself; the simulator's
    # own hangup (no answer within the ring timeout) is held.
    elks.sim.set_callee(ANSWERS, Callee.answer(after=1e6))
    elks.sim.faults.hold_webhooks()
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    [placed] = (await call(hass, to=ANSWERS, play="sound/beep", require_ack=True))[
        "calls"
    ]

    async def flow(result: str, url: str) -> dict[str, Any]:
        response = await hass_http.post(
            url,
            data=f"callid={placed['id']}&result={result}&direction=outgoing"
            "&from=%2B46766860001&to=%2B46700000101",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return dict(await response.json())

    prompt = await flow("newoutgoing", f"/api/webhook/{WEBHOOK_ID}")
    assert "ivr" in prompt
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    # 46elks asks the URL in the prompt's next.
    next_url = urlsplit(prompt["next"])
    assert await flow("1", f"{next_url.path}?{next_url.query}") == {
        "play": "sound/beep",
        "skippable": False,
    }
    response = await hass_http.post(
        f"/api/webhook/{WEBHOOK_ID}",
        data=(
            f"id={placed['id']}&from=%2B46766860001&to=%2B46700000101&state=success"
            "&created=2026-11-27T10:00:00.000000&start=2026-11-27T10:00:05.000000&duration=9"
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 200
    await hass.async_block_till_done()
    assert events[0].data["outcome"] == "acknowledged"
    assert events[0].data["acknowledged"] is True


async def test_parallel_wait_reports_each_outcome(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """wait: true in parallel mode returns how every call ended."""
    response = await call(
        hass,
        to=[PRESSES_1, VOICEMAIL, BUSY],
        play="sound/beep",
        require_ack=True,
        timeout=5,
        wait=True,
    )
    outcomes = {c["to"]: (c["outcome"], c["acknowledged"]) for c in response["calls"]}
    assert outcomes == {
        PRESSES_1: ("acknowledged", True),
        VOICEMAIL: ("no_input", False),
        BUSY: ("busy", False),
    }


async def test_escalation_three_recipients_second_acknowledges(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Voicemail first, the second acknowledges: the third is never called."""
    finished = async_capture_events(hass, EVENT_ESCALATION_FINISHED)
    response = await call(
        hass,
        to=[VOICEMAIL, PRESSES_1, ANSWERS],
        message="Smoke in the kitchen",
        lead_in="pause",
        require_ack=True,
        mode="sequential",
        wait=True,
    )
    escalation = response["escalation"]
    assert (escalation["result"], escalation["answered_by"]) == (
        "acknowledged",
        PRESSES_1,
    )
    assert [form["to"] for form in elks.call_posts()] == [VOICEMAIL, PRESSES_1]
    await hass.async_block_till_done()
    assert finished[0].data["answered_by"] == PRESSES_1
