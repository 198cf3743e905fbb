"""Escalations that text: an SMS first, and an SMS when nobody acknowledged."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks.const import (
    CONF_RECIPIENT_NUMBER,
    EVENT_ESCALATION_FINISHED,
    SUBENTRY_RECIPIENT,
)
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError

from .conftest import (
    BUSY,
    CALLER_ID,
    HTTP_COMPONENTS_WITH_TTS,
    NO_ANSWER,
    PRESSES_1,
    Elks,
)
from .roads import Restarter
from .test_call import call
from .test_escalation_restart import Capture, until
from .test_sms import sms_posts

ALARM: dict[str, Any] = {
    "play": "sound/beep",
    "mode": "sequential",
    "require_ack": True,
    "timeout": 5,
    "wait": True,
    "sms_message": "Smoke alarm at home",
}


@pytest.fixture
def http_components() -> dict[str, dict[str, Any]]:
    """Text-to-speech too, for the spoken message as the SMS text."""
    return HTTP_COMPONENTS_WITH_TTS


def request_paths(elks: Elks) -> list[str]:
    """Return the POSTs to /a1/calls and /a1/sms, in the order 46elks got them."""
    return [
        r.path.lower()
        for r in elks.sim.requests
        if r.method == "POST" and r.path.lower() in ("/a1/calls", "/a1/sms")
    ]


async def test_fallback_after_nobody_acknowledged(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Everybody gets one SMS at the end, naming who was called (by name too)."""
    hass.config_entries.async_add_subentry(
        loaded_entry,
        ConfigSubentry(
            data={CONF_RECIPIENT_NUMBER: BUSY},  # type: ignore[arg-type]
            subentry_type=SUBENTRY_RECIPIENT,
            title="Bob",
            unique_id=None,
        ),
    )
    await hass.async_block_till_done()
    finished = async_capture_events(hass, EVENT_ESCALATION_FINISHED)
    response = await call(
        hass, to=[NO_ANSWER, BUSY], rounds=2, sms_fallback=True, **ALARM
    )
    escalation = response["escalation"]
    assert escalation["result"] == "exhausted"
    assert escalation["texts"] == ["fallback"]
    posts = sms_posts(elks)
    assert sorted(p["to"] for p in posts) == sorted([NO_ANSWER, BUSY])
    for post in posts:
        assert post["from"] == CALLER_ID
        assert post["message"] == (
            "Smoke alarm at home\n"
            f"Nobody acknowledged. Called: {NO_ANSWER}, Bob ({BUSY})."
        )
    # The calls first, then the SMS.
    assert request_paths(elks) == ["/a1/calls"] * 4 + ["/a1/sms"] * 2
    await hass.async_block_till_done()
    assert finished[0].data["texts"] == ["fallback"]


async def test_no_fallback_when_acknowledged(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Somebody acknowledged: no SMS."""
    response = await call(hass, to=[NO_ANSWER, PRESSES_1], sms_fallback=True, **ALARM)
    assert response["escalation"]["result"] == "acknowledged"
    assert response["escalation"]["texts"] == []
    assert sms_posts(elks) == []


async def test_sms_first_then_calls(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """With sms_first, everybody is texted before the first call."""
    response = await call(hass, to=[NO_ANSWER, PRESSES_1], sms_first=True, **ALARM)
    assert response["escalation"]["result"] == "acknowledged"
    assert response["escalation"]["texts"] == ["first"]
    assert request_paths(elks) == ["/a1/sms"] * 2 + ["/a1/calls"] * 2
    assert {p["message"] for p in sms_posts(elks)} == {"Smoke alarm at home"}


async def test_sms_first_failing_does_not_stop_the_calls(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """46elks refusing the SMS: the calls go out all the same."""
    elks.sim.sms.refused.update({NO_ANSWER, PRESSES_1})
    response = await call(hass, to=[NO_ANSWER, PRESSES_1], sms_first=True, **ALARM)
    assert response["escalation"]["result"] == "acknowledged"
    assert [p for p in request_paths(elks) if p == "/a1/calls"] == ["/a1/calls"] * 2


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"mode": "parallel", "sms_first": True}, "sms_needs_sequential"),
        ({"mode": "parallel", "sms_fallback": True}, "sms_needs_sequential"),
        ({"mode": "sequential", "sms_fallback": True}, "sms_needs_text"),
    ],
)
async def test_refused(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    data: dict[str, Any],
    key: str,
) -> None:
    """SMS options outside an escalation, or without a text, are refused."""
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, to=[NO_ANSWER], play="sound/beep", **data)
    assert err.value.translation_key == key
    assert elks.call_posts() == []
    assert sms_posts(elks) == []


async def test_spoken_message_is_the_default_text(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    speech_engine: str,
) -> None:
    """Without sms_message, the SMS says what the call says."""
    await call(
        hass,
        to=[PRESSES_1],
        message="Fire in the kitchen",
        tts_engine=speech_engine,
        mode="sequential",
        sms_first=True,
        wait=True,
    )
    assert [p["message"] for p in sms_posts(elks)] == ["Fire in the kitchen"]


async def test_fallback_after_a_restart_cut_it_short(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    restarter: Restarter,
    hass_storage: dict[str, Any],
) -> None:
    """Interrupted by a stop: nobody acknowledged, so the fallback goes out at start, once."""
    elks.sim.faults.hold_webhooks()
    data = {**ALARM, "wait": False, "timeout": 300, "sms_fallback": True}
    response = await call(hass, to=[NO_ANSWER, PRESSES_1], **data)
    await elks.sim.wait_webhook_held(response["first_call"]["call_id"])
    assert sms_posts(elks) == []

    first = Capture(hass_storage, loaded_entry.entry_id)
    hass2, client2, entry2 = await restarter.restart(
        hass, hass_http, loaded_entry, before_setup=first
    )
    [event] = first.finished
    assert event.data["result"] == "interrupted"
    await until(lambda: len(sms_posts(elks)) == 2)
    await hass2.async_block_till_done()
    for post in sms_posts(elks):
        assert post["message"] == (
            f"Smoke alarm at home\nNobody acknowledged. Called: {NO_ANSWER}."
        )
    second = Capture(hass_storage, loaded_entry.entry_id)
    await restarter.restart(hass2, client2, entry2, before_setup=second)
    assert second.finished == []
    assert len(sms_posts(elks)) == 2


async def test_fallback_when_cut_short_otherwise(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Cancelled by neither the user nor a stop: reported now, and the fallback sent."""
    elks.sim.faults.hold_webhooks()
    data = {**ALARM, "wait": False, "timeout": 300, "sms_fallback": True}
    response = await call(hass, to=[NO_ANSWER, PRESSES_1], **data)
    await elks.sim.wait_webhook_held(response["first_call"]["call_id"])
    finished = async_capture_events(hass, EVENT_ESCALATION_FINISHED)
    manager = loaded_entry.runtime_data.escalations
    manager._tasks[response["escalation_id"]].cancel()  # noqa: SLF001
    await until(lambda: len(sms_posts(elks)) == 2)
    await hass.async_block_till_done()
    assert [e.data["result"] for e in finished] == ["interrupted"]
    assert {p["to"] for p in sms_posts(elks)} == {NO_ANSWER, PRESSES_1}
