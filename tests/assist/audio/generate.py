"""Regenerate the test speech: ``python3 tests/assist/audio/generate.py``.

Needs ``espeak-ng`` on PATH (Debian: ``apt-get install espeak-ng``). Each
phrase is spoken by espeak-ng, resampled to 16 kHz 16-bit mono (the format
46elks streams as ``pcm_16000``) with the standard library only, and written
next to this file. The clips are committed so that the tests do not need
espeak-ng.
"""

from __future__ import annotations

from array import array
from pathlib import Path
import subprocess
import sys
import tempfile
import wave

HERE = Path(__file__).parent
RATE = 16000
PHRASES = {
    "kitchen_on": "turn on the kitchen light",
    "kitchen_off": "turn off the kitchen light",
    "garage_on": "turn on the garage light",
    "goodbye": "goodbye",
}


def resample(samples: array[int], rate: int) -> array[int]:
    """Linear interpolation from ``rate`` to 16 kHz."""
    count = len(samples) * RATE // rate
    out = array("h")
    for i in range(count):
        pos = i * rate / RATE
        left = int(pos)
        right = min(left + 1, len(samples) - 1)
        frac = pos - left
        out.append(round(samples[left] * (1 - frac) + samples[right] * frac))
    return out


def speak(text: str, target: Path) -> None:
    """Write ``text`` spoken by espeak-ng to ``target`` as 16 kHz mono WAV."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text],
            check=True,
        )
        with wave.open(str(raw), "rb") as source:
            rate = source.getframerate()
            samples = array("h", source.readframes(source.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    out = resample(samples, rate)
    with wave.open(str(target), "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(RATE)
        sink.writeframes(out.tobytes())


def main() -> None:
    """Write every phrase."""
    for name, text in PHRASES.items():
        speak(text, HERE / f"{name}.wav")
        print(f"{name}.wav: {text!r}")  # noqa: T201


if __name__ == "__main__":
    main()
