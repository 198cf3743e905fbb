"""Recordings of callers nobody answered: kept as WAV files, served to the media browser.

Files live in ``<config>/elks_recordings/<entry id>/`` as
``<time>_<call id>.wav`` (the time, UTC, sorts them). The newest
``RECORDINGS_KEPT`` per account are kept. The view serving them needs a
logged-in user or a signed path, as media-source URLs get.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from pathlib import Path
import re
import shutil

from aiohttp import web

from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import HomeAssistantView
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .api import parse_timestamp
from .const import DOMAIN

RECORDINGS_FOLDER = "elks_recordings"
RECORDING_PATH = "/api/elks/recordings"
# 46elks records at most the ``timelimit`` we give (120 s): 8 kHz 16-bit
# mono is about 2 MB; anything far larger is not a recording of ours.
MAX_RECORDING_BYTES = 16 * 1024 * 1024
RECORDINGS_KEPT = 200
_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}_[A-Za-z0-9]{1,64}\.wav\Z")
_ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
_VIEW_REGISTERED: HassKey[bool] = HassKey(f"{DOMAIN}_recording_view")


def valid_name(entry_id: str, name: str) -> bool:
    """Whether ``entry_id``/``name`` can be one of our recordings (no path tricks)."""
    return bool(_ENTRY_ID.match(entry_id) and _NAME.match(name))


def recording_title(name: str) -> str:
    """Return what the media browser shows for a recording: when, in local time."""
    when = datetime.strptime(name[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return f"{dt_util.as_local(when):%Y-%m-%d %H:%M:%S}"


def recordings_dir(hass: HomeAssistant, entry_id: str) -> Path:
    """Return the folder of one account's recordings."""
    return Path(hass.config.path(RECORDINGS_FOLDER, entry_id))


def media_content_id(entry_id: str, name: str) -> str:
    """Return the media-source id of a recording."""
    return f"media-source://{DOMAIN}/{entry_id}/{name}"


def is_wav(audio: bytes) -> bool:
    """Whether ``audio`` starts like a WAV file."""
    return audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"


def _write(folder: Path, name: str, audio: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(audio)
    for old in sorted(folder.glob("*.wav"), reverse=True)[RECORDINGS_KEPT:]:
        old.unlink(missing_ok=True)


def list_recordings(folder: Path) -> list[str]:
    """Return the names of the recordings in ``folder``, newest first (blocking)."""
    if not folder.is_dir():
        return []
    return sorted((p.name for p in folder.glob("*.wav")), reverse=True)


async def async_save_recording(
    hass: HomeAssistant, entry_id: str, call_id: str, created: str, audio: bytes
) -> str:
    """Save a WAV recording; return its media-source id."""
    when = parse_timestamp(created) or dt_util.utcnow()
    name = f"{when.astimezone(UTC):%Y%m%dT%H%M%S}_{call_id}.wav"
    await hass.async_add_executor_job(
        _write, recordings_dir(hass, entry_id), name, audio
    )
    return media_content_id(entry_id, name)


async def async_remove_recordings(hass: HomeAssistant, entry_id: str) -> None:
    """Delete an account's recordings: callers' voices go with the account."""
    if _ENTRY_ID.match(entry_id):
        await hass.async_add_executor_job(
            partial(shutil.rmtree, recordings_dir(hass, entry_id), ignore_errors=True)
        )


class RecordingView(HomeAssistantView):
    """Serves saved recordings to logged-in users (and signed paths)."""

    url = RECORDING_PATH + "/{entry_id}/{name}"
    name = "api:elks:recording"
    requires_auth = True

    async def get(
        self, request: web.Request, entry_id: str, name: str
    ) -> web.StreamResponse:
        """Return one recording."""
        if not valid_name(entry_id, name):
            return web.Response(status=HTTPStatus.NOT_FOUND)
        hass: HomeAssistant = request.app["hass"]
        path = recordings_dir(hass, entry_id) / name
        if not await hass.async_add_executor_job(path.is_file):
            return web.Response(status=HTTPStatus.NOT_FOUND)
        return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


def async_setup_recordings(hass: HomeAssistant) -> None:
    """Register the view serving recordings (once)."""
    if not hass.data.get(_VIEW_REGISTERED):
        hass.data[_VIEW_REGISTERED] = True
        hass.http.register_view(RecordingView())
