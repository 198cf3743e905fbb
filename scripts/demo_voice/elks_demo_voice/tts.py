"""Text-to-speech answering with a short quiet tone as 16 kHz WAV."""

from __future__ import annotations

import io
from typing import Any
import wave

from homeassistant.components import tts
from homeassistant.core import HomeAssistant


def get_engine(
    hass: HomeAssistant, config: dict[str, Any], discovery_info: Any = None
) -> tts.Provider:
    """Return the engine."""
    return ToneSpeech()


class ToneSpeech(tts.Provider):
    """Half a second of tone per sentence."""

    def __init__(self) -> None:
        """Name the engine."""
        self.name = "Demo tone speech"

    @property
    def default_language(self) -> str:
        """English."""
        return "en"

    @property
    def supported_languages(self) -> list[str]:
        """English only."""
        return ["en"]

    def get_tts_audio(
        self, message: str, language: str, options: dict[str, Any]
    ) -> tts.TtsAudioType:
        """Return the tone as WAV."""
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(16000)
            wav.writeframes(b"\x01\x00" * 8000)
        return "wav", buffer.getvalue()
