"""One phone call talking to Assist over 46elks' call-audio WebSocket.

The caller's audio (16 kHz PCM, as 46elks sends it with ``listening`` in
``pcm_16000``) feeds an Assist pipeline run of speech-to-text until the
pipeline's voice activity detection hears the end of the sentence; unless
the sentence is a goodbye, a second run gives its text to the conversation
agent and text-to-speech. The answer is sent back while the
next turn already listens, so that the caller can talk over it (barge-in:
``interrupt`` clears what 46elks still has to play). The conversation id of
the first answer is kept for the following turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from homeassistant.core import CALLBACK_TYPE, Context, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from .assist_protocol import (
    AudioFormat,
    Incoming,
    MessageType,
    Playback,
    ProtocolError,
    audio_message,
    message,
    parse_message,
    playback,
)
from .const import LOGGER

if TYPE_CHECKING:
    from homeassistant.components.assist_pipeline import PipelineEvent

# Caller audio waiting for the pipeline: 30 s of 20 ms frames; the oldest
# frame goes when more arrive (the caller talked while nobody listened).
MAX_QUEUED_FRAMES = 1500
# Turns without recognised speech (each ends by the pipeline's own 15 s
# voice timeout) before the call is ended.
MAX_QUIET_TURNS = 2
# Longest TTS answer taken (about 5 minutes of pcm_16000).
MAX_ANSWER_BYTES = 10_000_000
# When 46elks never confirms the end of playback (``sync``), it counts as
# played this long after its own length (or after this for files of
# unknown length).
PLAYBACK_SLACK_SECONDS = 2.0
UNKNOWN_PLAYBACK_SECONDS = 30.0
# Messages taken from 46elks in one call: 15 minutes of 20 ms audio frames
# (MAX_CALL_SECONDS) and some to spare.
MAX_MESSAGES = 50_000
# No message from 46elks this long ends the call (it sends audio every 20 ms).
SILENT_SOCKET_SECONDS = 10.0
# Pipeline errors that the next turn would meet again: the call ends.
PIPELINE_ERROR = "pipeline"
FATAL_ERRORS = frozenset({PIPELINE_ERROR, "validation-error"})
# Spoken when the caller says one of GOODBYES.
FAREWELL = "Goodbye."
GOODBYES = frozenset({"goodbye", "bye", "bye bye", "hang up", "hej då", "hejdå"})


@dataclass(frozen=True, slots=True)
class AssistSettings:
    """What a call needs from its subentry."""

    pipeline_id: str | None
    greeting: str
    user_id: str


@dataclass(slots=True)
class _Turn:
    text: str | None = None
    tts_token: str | None = None
    error: str | None = None


def _is_goodbye(text: str | None) -> bool:
    return bool(text) and text.strip(" .!?").casefold() in GOODBYES  # type: ignore[union-attr]


class AssistCall:
    """A call's conversation: reads 46elks' messages, runs turns, plays answers."""

    def __init__(
        self, hass: HomeAssistant, ws: web.WebSocketResponse, settings: AssistSettings
    ) -> None:
        """Prepare the call; nothing is sent until ``async_run``."""
        self._hass = hass
        self._ws = ws
        self._settings = settings
        self._audio: asyncio.Queue[bytes] = asyncio.Queue(MAX_QUEUED_FRAMES)
        self._send_lock = asyncio.Lock()
        self._format: AudioFormat | None = None
        self._playing = False
        self._played_timer: CALLBACK_TYPE | None = None
        # Set while nothing is playing: the farewell is heard before ``bye``.
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._conversation_id: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # What happened, for logs and tests.
        self.turns = 0
        self.conversation_ids: list[str] = []
        self.done = asyncio.Event()

    async def async_run(self) -> None:
        """Talk until the caller hangs up or says goodbye; then clean up."""
        converse = self._hass.async_create_task(self._converse(), eager_start=False)
        try:
            await self._read(converse)
        finally:
            converse.cancel()
            for task in self._tasks:
                task.cancel()
            with suppress(asyncio.CancelledError):
                await converse
            self._played()
            if not self._ws.closed:
                await self._ws.close()
            self.done.set()

    async def _read(self, converse: asyncio.Task[None]) -> None:
        """Take 46elks' messages until ``bye``, a bad message or the socket ends.

        46elks sends audio every 20 ms for as long as the call lasts: a
        silent socket is a call that is gone.
        """
        for _ in range(MAX_MESSAGES):
            if converse.done():
                return
            try:
                raw = await self._ws.receive(timeout=SILENT_SOCKET_SECONDS)
            except TimeoutError:
                LOGGER.debug("Assist call: no message from 46elks, ended")
                return
            if raw.type != WSMsgType.TEXT:
                return
            try:
                incoming = parse_message(raw.data)
            except ProtocolError as err:
                LOGGER.debug("Assist call: ended by a bad message (%s)", err)
                return
            if not self._take(incoming):
                return
        LOGGER.debug("Assist call: ended after %s messages", MAX_MESSAGES)

    def _take(self, incoming: Incoming) -> bool:
        """Act on a message; False when the call is over."""
        if incoming.type is MessageType.AUDIO:
            if self._audio.full():
                self._audio.get_nowait()
            self._audio.put_nowait(incoming.audio)
        elif incoming.type is MessageType.SYNC:
            self._played()
        elif incoming.type is MessageType.BYE:
            LOGGER.debug("Assist call: 46elks said bye (%s)", incoming.reason)
            return False
        return True

    async def _send(self, text: str) -> None:
        async with self._send_lock:
            await self._ws.send_str(text)

    async def _converse(self) -> None:
        """Greet, then answer turn after turn; end with ``bye``."""
        await self._send(message(MessageType.LISTENING, format=AudioFormat.PCM_16000))
        await self._play(await self._speak(self._settings.greeting))
        quiet = 0
        while quiet < MAX_QUIET_TURNS:
            turn = await self._turn()
            self.turns += 1
            if _is_goodbye(turn.text):
                await self._play(await self._speak(FAREWELL))
                # 46elks may end the call at ``bye``: let it play first.
                await self._quiet.wait()
                break
            if turn.error in FATAL_ERRORS:
                LOGGER.warning("Assist call: the Assist pipeline cannot run")
                break
            if turn.tts_token is None:
                quiet += 1
                continue
            quiet = 0
            await self._play(await self._answer(turn.tts_token))
        await self._send(message(MessageType.BYE))
        await self._ws.close()

    async def _turn(self) -> _Turn:
        """Listen to the next sentence; answer it unless it is a goodbye.

        Two pipeline runs, so that a goodbye never reaches the conversation
        agent (it may be a paid LLM that acts on what it gets) and no answer
        is rendered that nobody would hear.
        """
        turn = _Turn()
        await self._listen(turn)
        if turn.error is None and turn.text and not _is_goodbye(turn.text):
            await self._respond(turn)
        return turn

    async def _listen(self, turn: _Turn) -> None:
        """Run the pipeline's speech-to-text on the caller's next sentence."""
        from homeassistant.components import assist_pipeline, stt  # noqa: PLC0415
        from homeassistant.components.assist_pipeline.error import PipelineError  # noqa: PLC0415
        from homeassistant.components.assist_pipeline.models import PipelineStage  # noqa: PLC0415

        if not self._can_answer():
            turn.error = PIPELINE_ERROR
            return
        try:
            await assist_pipeline.async_pipeline_from_audio_stream(
                self._hass,
                context=Context(user_id=self._settings.user_id),
                event_callback=self._on_event(turn),
                stt_metadata=stt.SpeechMetadata(
                    language="",
                    format=stt.AudioFormats.WAV,
                    codec=stt.AudioCodecs.PCM,
                    bit_rate=stt.AudioBitRates.BITRATE_16,
                    sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
                    channel=stt.AudioChannels.CHANNEL_MONO,
                ),
                stt_stream=self._caller_audio(),
                pipeline_id=self._settings.pipeline_id,
                conversation_id=self._conversation_id,
                end_stage=PipelineStage.STT,
            )
        except PipelineError as err:
            # No such pipeline, or one without speech-to-text or text-to-speech.
            LOGGER.debug("Assist call: %s", err)
            turn.error = PIPELINE_ERROR

    def _can_answer(self) -> bool:
        """Whether the pipeline has text-to-speech.

        A speech-to-text run does not check it: a pipeline that could never
        answer ends the call before the caller talks.
        """
        from homeassistant.components.assist_pipeline.error import PipelineError  # noqa: PLC0415
        from homeassistant.components.assist_pipeline.pipeline import async_get_pipeline  # noqa: PLC0415

        try:
            pipeline = async_get_pipeline(self._hass, self._settings.pipeline_id)
        except PipelineError:
            return False
        return pipeline.tts_engine is not None

    async def _respond(self, turn: _Turn) -> None:
        """Run the pipeline's conversation agent and text-to-speech on the text."""
        from homeassistant.components.assist_pipeline.error import PipelineError  # noqa: PLC0415
        from homeassistant.components.assist_pipeline.models import PipelineStage  # noqa: PLC0415
        from homeassistant.components.assist_pipeline.pipeline import (  # noqa: PLC0415
            PipelineInput,
            PipelineRun,
            async_get_pipeline,
        )
        from homeassistant.helpers import chat_session  # noqa: PLC0415

        try:
            run = PipelineRun(
                self._hass,
                context=Context(user_id=self._settings.user_id),
                pipeline=async_get_pipeline(self._hass, self._settings.pipeline_id),
                start_stage=PipelineStage.INTENT,
                end_stage=PipelineStage.TTS,
                event_callback=self._on_event(turn),
                tts_audio_output={"preferred_format": "wav"},
            )
            with chat_session.async_get_chat_session(
                self._hass, self._conversation_id
            ) as session:
                await PipelineInput(
                    run=run, session=session, intent_input=turn.text
                ).execute(validate=True)
        except PipelineError as err:
            # The pipeline went away, or it has no text-to-speech.
            LOGGER.debug("Assist call: %s", err)
            turn.error = PIPELINE_ERROR

    def _on_event(self, turn: _Turn) -> Callable[[PipelineEvent], None]:
        from homeassistant.components.assist_pipeline import PipelineEventType  # noqa: PLC0415

        @callback
        def on_event(event: PipelineEvent) -> None:
            data: dict[str, Any] = event.data or {}
            if event.type == PipelineEventType.STT_VAD_START and self._playing:
                self._interrupt()
            elif event.type == PipelineEventType.STT_END:
                turn.text = data["stt_output"]["text"]
            elif event.type == PipelineEventType.INTENT_END:
                self._conversation_id = data["intent_output"]["conversation_id"]
                self.conversation_ids.append(self._conversation_id)
            elif event.type == PipelineEventType.TTS_END and data.get("tts_output"):
                turn.tts_token = data["tts_output"]["token"]
            elif event.type == PipelineEventType.ERROR:
                turn.error = data.get("code")
                LOGGER.debug("Assist call: pipeline error %s", data.get("code"))

        return on_event

    async def _caller_audio(self) -> AsyncIterator[bytes]:
        """Yield the caller's audio for as long as the pipeline listens."""
        while True:
            yield await self._audio.get()

    @callback
    def _interrupt(self) -> None:
        """Stop 46elks playing the answer: the caller talks over it."""
        self._played()
        # After an interrupt 46elks wants ``sending`` again before audio.
        self._format = None
        task = self._hass.async_create_task(
            self._send(message(MessageType.INTERRUPT)), eager_start=False
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @callback
    def _played(self, _now: Any = None) -> None:
        self._playing = False
        self._quiet.set()
        if self._played_timer is not None:
            self._played_timer()
            self._played_timer = None

    async def _speak(self, text: str) -> Playback | None:
        """Render ``text`` with the pipeline's TTS engine."""
        from homeassistant.components import tts  # noqa: PLC0415
        from homeassistant.components.assist_pipeline.pipeline import async_get_pipeline  # noqa: PLC0415
        from homeassistant.exceptions import HomeAssistantError  # noqa: PLC0415

        try:
            pipeline = async_get_pipeline(self._hass, self._settings.pipeline_id)
            if pipeline.tts_engine is None:
                return None
            options: dict[str, Any] = {tts.ATTR_PREFERRED_FORMAT: "wav"}
            if pipeline.tts_voice is not None:
                options[tts.ATTR_VOICE] = pipeline.tts_voice
            stream = tts.async_create_stream(
                self._hass,
                pipeline.tts_engine,
                language=pipeline.tts_language,
                options=options,
            )
        except HomeAssistantError as err:
            LOGGER.warning("Assist call: cannot speak: %s", err)
            return None
        stream.async_set_message(text)
        return await self._render(stream)

    async def _answer(self, token: str) -> Playback | None:
        from homeassistant.components import tts  # noqa: PLC0415

        if (stream := tts.async_get_stream(self._hass, token)) is None:
            return None
        return await self._render(stream)

    async def _render(self, stream: Any) -> Playback | None:
        """Read a TTS result (bounded) and make it playable."""
        from homeassistant.exceptions import HomeAssistantError  # noqa: PLC0415

        data = bytearray()
        try:
            async for chunk in stream.async_stream_result():
                data += chunk
                if len(data) > MAX_ANSWER_BYTES:
                    LOGGER.warning("Assist call: answer too long, not played")
                    return None
        except HomeAssistantError as err:
            LOGGER.warning("Assist call: text-to-speech failed: %s", err)
            return None
        if (audio := playback(stream.extension, bytes(data))) is None:
            LOGGER.warning(
                "Assist call: cannot play %r audio on a call", stream.extension
            )
        return audio

    async def _play(self, audio: Playback | None) -> None:
        """Send ``audio``; it counts as playing until 46elks' ``sync``."""
        if audio is None:
            return
        if audio.format != self._format:
            await self._send(message(MessageType.SENDING, format=audio.format))
            self._format = audio.format
        for frame in audio.frames:
            await self._send(audio_message(frame))
        await self._send(message(MessageType.SYNC))
        self._played()
        self._playing = True
        self._quiet.clear()
        seconds = (
            audio.seconds if audio.seconds is not None else UNKNOWN_PLAYBACK_SECONDS
        )
        self._played_timer = async_call_later(
            self._hass, seconds + PLAYBACK_SLACK_SECONDS, self._played
        )
