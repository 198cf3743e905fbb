"""46elks' call-audio WebSocket: its messages, checked, and audio to play back.

46elks opens a WebSocket to a "websocket number"'s ``voice_start`` URL when
the number is called. Every message is a JSON object whose ``t`` names it:
46elks sends ``hello`` (callid, from, to), ``audio`` (base64 ``data``),
``sync`` and ``bye`` (``reason``); it takes ``listening`` and ``sending``
(each with a ``format``), ``audio``, ``interrupt``, ``sync`` and ``bye``.
Everything from the socket is untrusted: sizes and fields are bounded here,
before anything else sees them. No Home Assistant imports.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum
import io
import json
import re
from typing import Any
import wave

# A text message from 46elks: 1 s of pcm_16000 in base64 is about 43 kB.
MAX_MESSAGE_CHARS = 65_536
# Decoded audio of one message (1 s of pcm_16000).
MAX_AUDIO_BYTES = 32_000
# Audio is sent back in frames of 100 ms (pcm) or 16 kB (files).
FRAME_SECONDS = 0.1
FILE_FRAME_BYTES = 16_384

_CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Caller ids are E.164 numbers, but a hidden or foreign caller id can be
# anything printable: kept as text, bounded, and compared exactly.
_PARTY = re.compile(r"^[A-Za-z0-9+*#._@:-]{1,64}$")
_REASON = re.compile(r"^[A-Za-z0-9 _.-]{0,64}$")


class AudioFormat(StrEnum):
    """Audio formats of ``listening``/``sending``; ``wav``/``mp3`` send only."""

    PCM_8000 = "pcm_8000"
    PCM_16000 = "pcm_16000"
    PCM_24000 = "pcm_24000"
    WAV = "wav"
    MP3 = "mp3"


PCM_RATES = {
    8000: AudioFormat.PCM_8000,
    16000: AudioFormat.PCM_16000,
    24000: AudioFormat.PCM_24000,
}


class MessageType(StrEnum):
    """The ``t`` of a message."""

    HELLO = "hello"
    AUDIO = "audio"
    SYNC = "sync"
    BYE = "bye"
    LISTENING = "listening"
    SENDING = "sending"
    INTERRUPT = "interrupt"


class ProtocolError(ValueError):
    """A message 46elks would not send: the call is ended."""


@dataclass(frozen=True, slots=True)
class Hello:
    """The first message: which call this is."""

    callid: str
    caller: str
    to: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message after ``hello``: ``audio`` carries PCM, ``bye`` a reason."""

    type: MessageType
    audio: bytes = b""
    reason: str = ""


def _load(text: str) -> dict[str, Any]:
    if len(text) > MAX_MESSAGE_CHARS:
        raise ProtocolError("message too large")
    try:
        message = json.loads(text)
    except ValueError as err:
        raise ProtocolError("not JSON") from err
    if not isinstance(message, dict) or not isinstance(message.get("t"), str):
        raise ProtocolError("no type")
    return message


def _text(message: dict[str, Any], key: str, pattern: re.Pattern[str]) -> str:
    value = message.get(key)
    if not isinstance(value, str) or not pattern.match(value):
        raise ProtocolError(f"bad {key}")
    return value


def parse_hello(text: str) -> Hello:
    """Check the first message; it must be ``hello``."""
    message = _load(text)
    if message["t"] != MessageType.HELLO:
        raise ProtocolError("expected hello")
    return Hello(
        _text(message, "callid", _CALL_ID),
        _text(message, "from", _PARTY),
        _text(message, "to", _PARTY),
    )


def parse_message(text: str) -> Incoming:
    """Check a message after ``hello``; unknown types are refused."""
    message = _load(text)
    kind = message["t"]
    if kind == MessageType.AUDIO:
        return Incoming(MessageType.AUDIO, audio=_audio(message.get("data")))
    if kind == MessageType.SYNC:
        return Incoming(MessageType.SYNC)
    if kind == MessageType.BYE:
        reason = message.get("reason", "")
        if not isinstance(reason, str) or not _REASON.match(reason):
            reason = "other"
        return Incoming(MessageType.BYE, reason=reason)
    raise ProtocolError("unexpected type")


def _audio(data: object) -> bytes:
    if not isinstance(data, str) or len(data) > MAX_MESSAGE_CHARS:
        raise ProtocolError("bad audio")
    try:
        audio = base64.b64decode(data, validate=True)
    except binascii.Error as err:
        raise ProtocolError("bad audio") from err
    if len(audio) > MAX_AUDIO_BYTES or len(audio) % 2:
        raise ProtocolError("bad audio")
    return audio


def message(kind: MessageType, **fields: str) -> str:
    """Return a message for 46elks."""
    return json.dumps({"t": kind, **fields}, separators=(",", ":"))


def audio_message(data: bytes) -> str:
    """Return an ``audio`` message carrying ``data``."""
    return message(MessageType.AUDIO, data=base64.b64encode(data).decode())


@dataclass(frozen=True, slots=True)
class Playback:
    """Audio ready for 46elks: the ``sending`` format and its frames."""

    format: AudioFormat
    frames: tuple[bytes, ...]
    # Playing time, when known from the audio (pcm); None for files.
    seconds: float | None


def playback(extension: str, data: bytes) -> Playback | None:
    """Turn TTS output into frames 46elks can play; None when it cannot.

    16-bit mono WAV at 8, 16 or 24 kHz is sent as raw PCM in 100 ms frames,
    so that an interruption stops it within a frame; other WAV and MP3 go as
    files in 16 kB pieces (46elks takes ``wav``/``mp3`` for sending).
    """
    if extension == "wav":
        try:
            with wave.open(io.BytesIO(data), "rb") as wav:
                rate, width = wav.getframerate(), wav.getsampwidth()
                channels = wav.getnchannels()
                pcm = wav.readframes(wav.getnframes())
        except wave.Error, EOFError:
            return None
        if width == 2 and channels == 1 and rate in PCM_RATES:
            size = int(rate * FRAME_SECONDS) * 2
            frames = tuple(pcm[i : i + size] for i in range(0, len(pcm), size))
            return Playback(PCM_RATES[rate], frames, len(pcm) / (2 * rate))
        seconds = len(pcm) / (width * channels * rate) if rate else None
        return Playback(AudioFormat.WAV, _pieces(data), seconds)
    if extension == "mp3":
        return Playback(AudioFormat.MP3, _pieces(data), None)
    return None


def _pieces(data: bytes) -> tuple[bytes, ...]:
    return tuple(
        data[i : i + FILE_FRAME_BYTES] for i in range(0, len(data), FILE_FRAME_BYTES)
    )
