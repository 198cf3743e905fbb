"""Assist by phone under test: a real Assist pipeline with test STT and TTS.

The speech-to-text engine recognises the recorded clips of
``tests/assist/audio`` by their audio (each clip's middle must arrive
unchanged) and counts the bytes it got; the text-to-speech engine answers
with WAV audio of a chosen rate and length. Assist's own conversation agent
controls two lights: the kitchen light is exposed to Assist, the garage
light is not.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass, field
import io
from pathlib import Path
from typing import Any
import wave

from aiohttp.test_utils import TestClient
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_config_flow,
    mock_integration,
    mock_platform,
)

from custom_components.elks.assist import assist_path
from custom_components.elks.const import (
    CONF_ASSIST_CALLERS,
    CONF_ASSIST_NUMBER,
    CONF_ASSIST_NUMBER_ID,
    CONF_ASSIST_PIPELINE,
    CONF_ASSIST_TOKEN,
    SUBENTRY_ASSIST,
)
from elks_simulator import Number
from elks_simulator.websocket import WebSocketCaller
from homeassistant.components import stt, tts
from homeassistant.components.assist_pipeline import (
    PipelineEventType,
    async_create_default_pipeline,
)
from homeassistant.components.assist_pipeline.runtime import KEY_ASSIST_PIPELINE
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.components.light import ColorMode, LightEntity
from homeassistant.components.tts.const import DATA_TTS_MANAGER
from homeassistant.config_entries import ConfigEntry, ConfigFlow, ConfigSubentryData
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.setup import async_setup_component

AUDIO = Path(__file__).parents[2] / "assist" / "audio"
TOKEN = "Zm9vYmFyLXNlY3JldC1hc3Npc3QtdG9rZW4tZm9yLXRlc3Rz"
ALLOWED = "+46701111111"
STRANGER = "+46702222222"
WEBSOCKET_NUMBER = "+46766861000"
PHRASES = {
    "kitchen_on": "turn on the kitchen light",
    "kitchen_off": "turn off the kitchen light",
    "garage_on": "turn on the garage light",
    "goodbye": "goodbye",
}

ASSIST_COMPONENTS: dict[str, dict[str, Any]] = {
    "http": {},
    "webhook": {},
    "diagnostics": {},
    "notify": {},
    "tts": {},
    "stt": {},
    "homeassistant": {},
    "conversation": {},
    "intent": {},
    "assist_pipeline": {},
}


def clip(name: str) -> bytes:
    """Return the PCM of a recorded clip (16 kHz, 16-bit mono)."""
    with wave.open(str(AUDIO / f"{name}.wav"), "rb") as wav:
        return wav.readframes(wav.getnframes())


def wav_bytes(seconds: float, rate: int = 16000, channels: int = 1) -> bytes:
    """Return a WAV file of a quiet tone (not silence, so that it is recognisable)."""
    frames = int(seconds * rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x01\x00" * frames * channels)
    return buffer.getvalue()


@dataclass
class Engines:
    """What the test engines saw and will answer."""

    # Bytes of audio each recognition got, and the text it returned.
    heard: list[tuple[int, str]] = field(default_factory=list)
    spoken: list[str] = field(default_factory=list)
    # The answer's sample rate and channels (format negotiation).
    answer_rate: int = 16000
    answer_channels: int = 1
    # Seconds of audio per answer (long ones to talk over).
    answer_seconds: float = 0.5


class RecognisingSTT(stt.SpeechToTextEntity):
    """Speech-to-text that knows the recorded clips by their audio."""

    _attr_name = "Test recognition"
    _attr_unique_id = "test_recognition"

    def __init__(self, engines: Engines) -> None:
        """Recognise into ``engines``."""
        self._engines = engines
        self._marks = {
            clip(name)[len(clip(name)) // 2 : len(clip(name)) // 2 + 3200]: text
            for name, text in PHRASES.items()
        }

    supported_languages = ["en"]
    supported_formats = [stt.AudioFormats.WAV]
    supported_codecs = [stt.AudioCodecs.PCM]
    supported_bit_rates = [stt.AudioBitRates.BITRATE_16]
    supported_sample_rates = [stt.AudioSampleRates.SAMPLERATE_16000]
    supported_channels = [stt.AudioChannels.CHANNEL_MONO]

    async def async_process_audio_stream(
        self, metadata: stt.SpeechMetadata, stream: AsyncIterable[bytes]
    ) -> stt.SpeechResult:
        """Return the text of the clip found in the audio, or nothing."""
        audio = bytearray()
        async for chunk in stream:
            audio += chunk
        text = next((t for mark, t in self._marks.items() if mark in audio), "")
        self._engines.heard.append((len(audio), text))
        return stt.SpeechResult(text, stt.SpeechResultState.SUCCESS)


class AnsweringTTS(tts.TextToSpeechEntity):
    """Text-to-speech answering with WAV audio of the chosen shape."""

    _attr_name = "Test voice"
    _attr_unique_id = "test_voice"
    _attr_supported_languages = ["en"]
    _attr_default_language = "en"
    _attr_supported_options = [tts.ATTR_PREFERRED_FORMAT]

    def __init__(self, engines: Engines) -> None:
        """Speak into ``engines``."""
        self._engines = engines

    def get_tts_audio(
        self, message: str, language: str, options: dict[str, Any]
    ) -> tts.TtsAudioType:
        """Return WAV audio for ``message``."""
        self._engines.spoken.append(message)
        engines = self._engines
        return (
            "wav",
            wav_bytes(
                engines.answer_seconds, engines.answer_rate, engines.answer_channels
            ),
        )


class Light(LightEntity):
    """A light that only keeps its state."""

    _attr_color_mode = ColorMode.ONOFF
    _attr_supported_color_modes = {ColorMode.ONOFF}
    _attr_is_on = False

    def __init__(self, name: str) -> None:
        """Name the light."""
        self._attr_name = name
        self._attr_unique_id = name.lower().replace(" ", "_")

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn on."""
        self._attr_is_on = True
        self.async_write_ha_state()

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn off."""
        self._attr_is_on = False
        self.async_write_ha_state()


async def async_setup_assist_world(hass: HomeAssistant, engines: Engines) -> str:
    """Set up the test engines, the lights and a pipeline; return its id."""
    for component, config in ASSIST_COMPONENTS.items():
        assert await async_setup_component(hass, component, {component: config})
    hass.data[DATA_TTS_MANAGER].use_file_cache = False

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(
            entry, [Platform.STT, Platform.TTS, Platform.LIGHT]
        )
        return True

    def platform(entities: list[Any]) -> MockPlatform:
        async def setup(
            hass: HomeAssistant, entry: ConfigEntry, add: AddConfigEntryEntitiesCallback
        ) -> None:
            add(entities)

        return MockPlatform(async_setup_entry=setup)

    mock_integration(hass, MockModule("test_voice", async_setup_entry=setup_entry))
    mock_platform(hass, "test_voice.stt", platform([RecognisingSTT(engines)]))
    mock_platform(hass, "test_voice.tts", platform([AnsweringTTS(engines)]))
    lights = [Light("Kitchen light"), Light("Garage light")]
    mock_platform(hass, "test_voice.light", platform(lights))
    mock_platform(hass, "test_voice.config_flow")
    entry = MockConfigEntry(domain="test_voice")
    entry.add_to_hass(hass)
    with mock_config_flow("test_voice", ConfigFlow):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    async_expose_entity(hass, "conversation", "light.kitchen_light", True)
    async_expose_entity(hass, "conversation", "light.garage_light", False)
    pipeline = await async_create_default_pipeline(
        hass, "stt.test_recognition", "tts.test_voice", "Phone"
    )
    assert pipeline is not None
    return pipeline.id


def agent_got(hass: HomeAssistant, pipeline_id: str) -> list[str]:
    """Return every text the pipeline gave its conversation agent, in order.

    Read from the pipeline's own record of its runs (what its debug view shows).
    """
    runs = hass.data[KEY_ASSIST_PIPELINE].pipeline_debug.get(pipeline_id, {})
    return [
        event.data["intent_input"]
        for run in runs.values()
        for event in run.events
        if event.type == PipelineEventType.INTENT_START and event.data
    ]


def assist_subentry(
    pipeline_id: str, number: Number, **overrides: Any
) -> ConfigSubentryData:
    """Return an ``assist`` subentry on websocket ``number``, answering ALLOWED."""
    return ConfigSubentryData(
        data={
            CONF_ASSIST_PIPELINE: pipeline_id,
            CONF_ASSIST_TOKEN: TOKEN,
            CONF_ASSIST_CALLERS: [ALLOWED],
            CONF_ASSIST_NUMBER: number.number,
            CONF_ASSIST_NUMBER_ID: number.id,
        }
        | overrides,
        subentry_type=SUBENTRY_ASSIST,
        title="Assist by phone",
        unique_id=number.id,
    )


def phone(
    client: TestClient, caller: str = ALLOWED, token: str = TOKEN
) -> WebSocketCaller:
    """Return a caller on the websocket number, connecting over loopback."""
    url = str(client.make_url(assist_path(token))).replace("http", "ws", 1)
    return WebSocketCaller(client.session, url, caller=caller, to=WEBSOCKET_NUMBER)
