"""Spoken messages: rendered once per action or escalation, served by the integration."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.elks import audio
from custom_components.elks.audio import AUDIO_KEEP_SECONDS, DATA_CLIPS
from elks_simulator import Callee
from homeassistant.components import tts
from homeassistant.components.tts.const import DATA_COMPONENT as TTS_ENTITIES
from homeassistant.core import HomeAssistant

from .conftest import HTTP_COMPONENTS_WITH_TTS, WEBHOOK_ID, Elks
from .roads import CloudRelay
from .test_call import call

MESSAGE = "Smoke in the kitchen"


@pytest.fixture
def http_components() -> dict[str, dict[str, Any]]:
    """Add text-to-speech."""
    return HTTP_COMPONENTS_WITH_TTS


@pytest.fixture(autouse=True)
def auto_speech_engine(speech_engine: str) -> None:
    """Every test here can speak."""


def answering(elks: Elks, count: int, series: int) -> list[str]:
    """Return ``count`` numbers that answer at once and hang up after the message."""
    numbers = [f"+4670000{series}{i:03d}" for i in range(count)]
    for number in numbers:
        elks.sim.set_callee(number, Callee.answer(after=0.0))
    return numbers


def spoken_urls(elks: Elks) -> list[str]:
    """Return the audio URL of every call placed, in order."""
    return [json.loads(form["voice_start"])["play"] for form in elks.call_posts()]


def renders(hass: HomeAssistant) -> int:
    """Messages the test engine rendered."""
    engine = hass.data[TTS_ENTITIES].get_entity("tts.test_speech")
    assert isinstance(engine, tts.TextToSpeechEntity)
    return int(getattr(engine, "renders"))  # noqa: B009


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the audio store's clock ``seconds`` on (the event loop's stays)."""
    now = audio.monotonic()
    monkeypatch.setattr(audio, "monotonic", lambda: now + seconds)


async def test_one_render_for_ten_people(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One action to 10 people renders once; 46elks fetches it for each call."""
    response = await call(hass, to=answering(elks, 10, 5), message=MESSAGE)
    calls = response["calls"]
    assert isinstance(calls, list)
    assert len(calls) == 10
    urls = set(spoken_urls(elks))
    assert len(urls) == 1
    [url] = urls
    assert url.startswith(str(hass_http.make_url("/api/elks/audio/")))
    assert WEBHOOK_ID not in url
    for placed in calls:
        await elks.sim.wait_call_finished(placed["id"])
    await hass.async_block_till_done()
    assert renders(hass) == 1
    fetched = [d for d in elks.sim.deliveries if d.kind == "audio"]
    assert [(d.url, d.status) for d in fetched] == [(url, 200)] * 10
    path = url.removeprefix(str(hass_http.make_url("")))
    response_ = await hass_http.get(path)
    assert response_.status == 200
    assert await response_.read() == b"ID3" + MESSAGE.encode()
    # Every call ended: the audio stays for a margin, then is gone.
    later(monkeypatch, AUDIO_KEEP_SECONDS - 1)
    assert (await hass_http.get(path)).status == 200
    later(monkeypatch, AUDIO_KEEP_SECONDS + 1)
    assert (await hass_http.get(path)).status == 404
    assert len(hass.data[DATA_CLIPS]) == 0


async def test_one_render_for_an_escalation(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three people, two rounds: six calls, one render, one URL until the end."""
    numbers = [f"+46700006{i:03d}" for i in range(3)]
    for number in numbers:
        elks.sim.set_callee(number, Callee.busy(after=0.0))
    response = await call(
        hass,
        to=numbers,
        message=MESSAGE,
        language="sv",
        mode="sequential",
        rounds=2,
        timeout=5,
        wait=True,
    )
    assert response["escalation"]["result"] == "exhausted"  # type: ignore[index]
    urls = spoken_urls(elks)
    assert len(urls) == 6
    assert len(set(urls)) == 1
    await hass.async_block_till_done()
    assert renders(hass) == 1
    path = urls[0].removeprefix(str(hass_http.make_url("")))
    assert (await hass_http.get(path)).status == 200
    later(monkeypatch, AUDIO_KEEP_SECONDS + 1)
    assert (await hass_http.get(path)).status == 404


async def test_audio_by_the_external_url_with_the_cloud(
    hass: HomeAssistant,
    elks: Elks,
    cloud_relay: CloudRelay,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """With Home Assistant Cloud, hangups take the cloudhook, audio the public URL.

    Cloudhooks relay JSON and text, not audio.
    """
    response = await call(hass, to=answering(elks, 2, 7), message=MESSAGE)
    calls = response["calls"]
    assert isinstance(calls, list)
    [form, _] = elks.call_posts()
    assert form["whenhangup"] == cloud_relay.url(WEBHOOK_ID)
    [url] = set(spoken_urls(elks))
    assert url.startswith(str(hass_http.make_url("/api/elks/audio/")))
    for placed in calls:
        await elks.sim.wait_call_finished(placed["id"])
    fetched = [d for d in elks.sim.deliveries if d.kind == "audio"]
    assert [(d.url, d.status) for d in fetched] == [(url, 200)] * 2
    assert renders(hass) == 1


async def test_unknown_audio_is_not_found(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_http: TestClient
) -> None:
    """A token nobody was given opens nothing."""
    response = await hass_http.get("/api/elks/audio/not-a-token.mp3")
    assert response.status == 404


async def test_full_store_falls_back_to_a_render_per_call(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the store full, every call still gets audio: Home Assistant's own URL."""
    monkeypatch.setattr(audio, "MAX_CLIPS", 0)
    await call(hass, to=answering(elks, 2, 8), message=MESSAGE)
    urls = spoken_urls(elks)
    assert len(set(urls)) == 2
    assert all(
        url.startswith(str(hass_http.make_url("/api/tts_proxy/"))) for url in urls
    )
