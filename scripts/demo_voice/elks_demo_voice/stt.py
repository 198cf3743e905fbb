"""Speech-to-text that knows the recorded clips by their audio."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from homeassistant.components import stt
from homeassistant.core import HomeAssistant

from . import clip_marks


async def async_get_engine(
    hass: HomeAssistant, config: dict[str, Any], discovery_info: Any = None
) -> stt.Provider:
    """Return the engine."""
    marks = await hass.async_add_executor_job(clip_marks)
    return ClipRecognition(marks)


class ClipRecognition(stt.Provider):
    """Return the text of the clip found in the audio."""

    def __init__(self, marks: dict[bytes, str]) -> None:
        """Know ``marks``."""
        self._marks = marks
        self.name = "Demo clip recognition"

    @property
    def supported_languages(self) -> list[str]:
        """English only."""
        return ["en"]

    @property
    def supported_formats(self) -> list[stt.AudioFormats]:
        """WAV."""
        return [stt.AudioFormats.WAV]

    @property
    def supported_codecs(self) -> list[stt.AudioCodecs]:
        """PCM."""
        return [stt.AudioCodecs.PCM]

    @property
    def supported_bit_rates(self) -> list[stt.AudioBitRates]:
        """16 bit."""
        return [stt.AudioBitRates.BITRATE_16]

    @property
    def supported_sample_rates(self) -> list[stt.AudioSampleRates]:
        """16 kHz."""
        return [stt.AudioSampleRates.SAMPLERATE_16000]

    @property
    def supported_channels(self) -> list[stt.AudioChannels]:
        """Mono."""
        return [stt.AudioChannels.CHANNEL_MONO]

    async def async_process_audio_stream(
        self, metadata: stt.SpeechMetadata, stream: AsyncIterable[bytes]
    ) -> stt.SpeechResult:
        """Return the clip's text, or nothing."""
        audio = bytearray()
        async for chunk in stream:
            audio += chunk
        text = next((t for mark, t in self._marks.items() if mark in audio), "")
        return stt.SpeechResult(text, stt.SpeechResultState.SUCCESS)
