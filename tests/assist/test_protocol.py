"""46elks' call-audio WebSocket messages: what is refused, and audio to send."""

from __future__ import annotations

import base64
import io
import json
import wave

import pytest

from custom_components.elks.assist_protocol import (
    MAX_AUDIO_BYTES,
    MAX_MESSAGE_CHARS,
    AudioFormat,
    Hello,
    MessageType,
    ProtocolError,
    audio_message,
    message,
    parse_hello,
    parse_message,
    playback,
)


def _wav(rate: int, channels: int = 1, width: int = 2, frames: int = 1600) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(b"\x00" * frames * channels * width)
    return buffer.getvalue()


def test_hello_is_checked() -> None:
    """A good hello passes; missing or odd fields do not."""
    good = {"t": "hello", "callid": "c1a2", "from": "+46701111111", "to": "+4676"}
    assert parse_hello(json.dumps(good)) == Hello("c1a2", "+46701111111", "+4676")
    for bad in (
        {**good, "t": "audio"},
        {**good, "callid": "c1\nforged"},
        {**good, "from": 46701111111},
        {**good, "to": "x" * 65},
        [good],
        {"callid": "c1"},
    ):
        with pytest.raises(ProtocolError):
            parse_hello(json.dumps(bad))
    with pytest.raises(ProtocolError):
        parse_hello(" " * (MAX_MESSAGE_CHARS + 1))


def test_messages_after_hello() -> None:
    """Audio is decoded and bounded; bye keeps a sane reason; others are refused."""
    pcm = b"\x01\x02" * 320
    parsed = parse_message(audio_message(pcm))
    assert (parsed.type, parsed.audio) == (MessageType.AUDIO, pcm)
    assert parse_message('{"t": "sync"}').type is MessageType.SYNC
    assert parse_message('{"t": "bye", "reason": "hangup"}').reason == "hangup"
    assert parse_message('{"t": "bye", "reason": "a\\nb"}').reason == "other"
    too_long = base64.b64encode(bytes(MAX_AUDIO_BYTES + 2)).decode()
    for bad in (
        '{"t": "audio", "data": "not base64!"}',
        '{"t": "audio", "data": "AA=="}',  # odd number of bytes
        '{"t": "audio"}',
        json.dumps({"t": "audio", "data": too_long}),
        '{"t": "listening", "format": "pcm_16000"}',
        "[]",
        "{",
    ):
        with pytest.raises(ProtocolError):
            parse_message(bad)


def test_outgoing_messages() -> None:
    """Messages for 46elks are compact JSON with ``t``."""
    assert json.loads(message(MessageType.SENDING, format=AudioFormat.WAV)) == {
        "t": "sending",
        "format": "wav",
    }


@pytest.mark.parametrize(
    ("wav", "kind", "seconds"),
    [
        (_wav(16000), AudioFormat.PCM_16000, 0.1),
        (_wav(8000, frames=8000), AudioFormat.PCM_8000, 1.0),
        (_wav(24000, frames=2400), AudioFormat.PCM_24000, 0.1),
        (_wav(22050, frames=22050), AudioFormat.WAV, 1.0),
        (_wav(16000, channels=2), AudioFormat.WAV, 0.1),
        (_wav(16000, width=1), AudioFormat.WAV, 0.1),
    ],
)
def test_playback_of_wav(wav: bytes, kind: AudioFormat, seconds: float) -> None:
    """16-bit mono WAV at 8/16/24 kHz goes as PCM frames, other WAV as a file."""
    audio = playback("wav", wav)
    assert audio is not None
    assert audio.format is kind
    assert audio.seconds == pytest.approx(seconds)
    expected = wav[44:] if kind.value.startswith("pcm") else wav
    assert b"".join(audio.frames) == expected


def test_playback_of_other_audio() -> None:
    """MP3 goes as a file of unknown length; broken WAV and other formats cannot."""
    mp3 = b"ID3" + bytes(40_000)
    audio = playback("mp3", mp3)
    assert audio is not None
    assert (audio.format, audio.seconds) == (AudioFormat.MP3, None)
    assert len(audio.frames) == 3 and b"".join(audio.frames) == mp3
    assert playback("wav", b"RIFF-not-really") is None
    assert playback("ogg", b"OggS") is None
