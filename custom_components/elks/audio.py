"""Audio 46elks can fetch: spoken messages (TTS) and media-source items.

46elks fetches audio over the internet when the call is answered, so every
URL handed to it must be public: the external URL or Home Assistant Cloud's
remote URL (cloudhooks carry no binary audio). A spoken message is rendered
once per action or escalation and served by the integration itself, from
an unguessable URL that expires after the last call needing it ended.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from http import HTTPStatus
import secrets
from time import monotonic
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.http import HomeAssistantView
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.util.hass_dict import HassKey
from homeassistant.util.json import JsonObjectType

from .const import DOMAIN, LOGGER
from .errors import translated
from .repairs import async_no_public_url

if TYPE_CHECKING:
    from homeassistant.components.tts import ResultStream

AUDIO_PATH = "/api/elks/audio"
# How long audio stays after the last call (or escalation) needing it ended.
AUDIO_KEEP_SECONDS = 300.0
# Spoken messages kept at once; beyond, calls get Home Assistant's own
# short-lived TTS URL each (as before this store), never no audio.
MAX_CLIPS = 100
DATA_CLIPS: HassKey[AudioClips] = HassKey(f"{DOMAIN}_audio_clips")


class Audio(Protocol):
    """What a rendered message offers (Home Assistant's TTS ``ResultStream``)."""

    content_type: str

    def async_stream_result(self) -> AsyncIterator[bytes]:
        """Yield the audio."""


@dataclass(slots=True)
class _Clip:
    audio: Audio
    # Actions or escalations still needing it; expires only when none does.
    users: int = 1
    expires: float | None = None
    data: bytes | None = None


class AudioClips:
    """Rendered messages by token: bounded, and each one expiring."""

    def __init__(self) -> None:
        """Start empty."""
        self._clips: dict[str, _Clip] = {}

    def __len__(self) -> int:
        """Return the number of clips kept (tests, diagnostics)."""
        return len(self._clips)

    @callback
    def add(self, audio: Audio, extension: str) -> str | None:
        """Keep ``audio``; return its URL path, or None when the store is full."""
        self._sweep()
        if len(self._clips) >= MAX_CLIPS:
            return None
        # A random token, unrelated to any secret: the URL only opens this.
        name = f"{secrets.token_urlsafe(32)}.{extension}"
        self._clips[name] = _Clip(audio)
        return f"{AUDIO_PATH}/{name}"

    @callback
    def release(self, path: str) -> None:
        """Note that one user no longer needs the clip at ``path``."""
        clip = self._clips.get(path.rpartition("/")[2])
        if clip is not None:
            clip.users -= 1
            if clip.users <= 0:
                clip.expires = monotonic() + AUDIO_KEEP_SECONDS

    @callback
    def get(self, name: str) -> _Clip | None:
        """Return the clip named ``name`` unless unknown or expired."""
        self._sweep()
        return self._clips.get(name)

    def _sweep(self) -> None:
        now = monotonic()
        for name in [
            n
            for n, c in self._clips.items()
            if c.expires is not None and c.expires < now
        ]:
            del self._clips[name]


class AudioView(HomeAssistantView):
    """Serves rendered messages to 46elks, which fetches them without a login."""

    url = AUDIO_PATH + "/{name}"
    name = "api:elks:audio"
    requires_auth = False

    def __init__(self, clips: AudioClips) -> None:
        """Serve from ``clips``."""
        self._clips = clips

    async def get(self, request: web.Request, name: str) -> web.Response:
        """Return the audio, or 404 for a token unknown or expired."""
        if (clip := self._clips.get(name)) is None:
            return web.Response(status=HTTPStatus.NOT_FOUND)
        if clip.data is None:
            try:
                data = b"".join(
                    [chunk async for chunk in clip.audio.async_stream_result()]
                )
            except HomeAssistantError as err:
                LOGGER.error("A spoken message could not be rendered: %s", err)
                return web.Response(status=HTTPStatus.INTERNAL_SERVER_ERROR)
            clip.data = data
        return web.Response(body=clip.data, content_type=clip.audio.content_type)


@callback
def async_setup_audio(hass: HomeAssistant) -> None:
    """Register the audio view (once, with the integration)."""
    clips = hass.data[DATA_CLIPS] = AudioClips()
    hass.http.register_view(AudioView(clips))


def public_base_url(hass: HomeAssistant, entry_id: str, title: str) -> str:
    """Return Home Assistant's public URL, or raise a translated error.

    A repair issue explains the fix as well, since the action that failed
    may run unattended.
    """
    try:
        return get_url(hass, allow_internal=False, prefer_external=True)
    except NoURLAvailableError as err:
        async_no_public_url(hass, entry_id, title, missing=True)
        raise translated(ServiceValidationError, "no_public_url") from err


def render_message(
    hass: HomeAssistant,
    message: str,
    *,
    engine: str | None,
    language: str | None,
    options: JsonObjectType | None,
) -> ResultStream:
    """Start rendering ``message`` with Home Assistant's TTS; return the result stream.

    MP3 is one of the formats 46elks plays.
    """
    if "tts" not in hass.config.components:
        raise translated(ServiceValidationError, "no_tts")
    from homeassistant.components import tts  # noqa: PLC0415

    resolved = tts.async_resolve_engine(hass, engine)
    if resolved is None and engine is None:
        # No engine named and none set up: say what to add, not "-".
        raise translated(ServiceValidationError, "no_tts_engine")
    if resolved is None:
        raise translated(
            ServiceValidationError, "unknown_tts_engine", engine=str(engine)
        )
    try:
        stream = tts.async_create_stream(
            hass,
            resolved,
            language=language,
            options={**(options or {}), "preferred_format": "mp3"},
        )
    except HomeAssistantError as err:
        raise translated(ServiceValidationError, "tts_failed", error=str(err)) from err
    stream.async_set_message(message)
    return stream


def tts_url(
    hass: HomeAssistant,
    base_url: str,
    message: str,
    *,
    engine: str | None,
    language: str | None,
    options: JsonObjectType | None,
) -> str:
    """Render ``message``; return Home Assistant's own TTS URL for it.

    That audio is kept in memory for a few minutes only: used for each call
    when the integration's own store is full.
    """
    stream = render_message(
        hass, message, engine=engine, language=language, options=options
    )
    return base_url.rstrip("/") + stream.url


async def async_media_source_url(
    hass: HomeAssistant, base_url: str, media_id: str
) -> str:
    """Resolve a ``media-source://`` id to a public URL (signed when it needs auth)."""
    from homeassistant.components import media_source  # noqa: PLC0415
    from homeassistant.components.media_player.browse_media import (  # noqa: PLC0415
        async_process_play_media_url,
    )

    try:
        resolved = await media_source.async_resolve_media(hass, media_id, None)
    except HomeAssistantError as err:
        raise translated(
            ServiceValidationError, "media_not_found", media=media_id, error=str(err)
        ) from err
    url = async_process_play_media_url(hass, resolved.url, allow_relative_url=True)
    return base_url.rstrip("/") + url if url.startswith("/") else url
