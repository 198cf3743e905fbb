"""Stand-ins for scripts/demo --assist: speech-to-text, text-to-speech, two lights.

Not part of the integration. The speech-to-text engine recognises the
recorded clips of ``tests/assist/audio`` by their audio (no speech model
in the demo); the text-to-speech engine answers with a short tone as WAV.
"""

from __future__ import annotations

from pathlib import Path
import wave

DOMAIN = "elks_demo_voice"
# The repository, through the symbolic link in the demo's custom_components.
AUDIO = Path(__file__).resolve().parents[3] / "tests" / "assist" / "audio"
PHRASES = {
    "kitchen_on": "turn on the kitchen light",
    "kitchen_off": "turn off the kitchen light",
    "garage_on": "turn on the garage light",
    "goodbye": "goodbye",
}


def clip_marks() -> dict[bytes, str]:
    """Return a distinctive 0.1 s of each clip, with its text."""
    marks = {}
    for name, text in PHRASES.items():
        with wave.open(str(AUDIO / f"{name}.wav"), "rb") as wav:
            pcm = wav.readframes(wav.getnframes())
        marks[pcm[len(pcm) // 2 : len(pcm) // 2 + 3200]] = text
    return marks
