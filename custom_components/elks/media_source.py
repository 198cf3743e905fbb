"""The media browser's "46elks" folder: recordings of callers, per account."""

from __future__ import annotations

from homeassistant.components.media_player.const import MediaClass
from homeassistant.components.media_player.errors import BrowseError
from homeassistant.components.media_source import (
    BrowseMediaSource,
    MediaSource,
    MediaSourceItem,
    PlayMedia,
    Unresolvable,
)
from homeassistant.core import HomeAssistant

from .const import DOMAIN
from .recordings import (
    RECORDING_PATH,
    list_recordings,
    recording_title,
    recordings_dir,
    valid_name,
)

_WAV = "audio/wav"


async def async_get_media_source(hass: HomeAssistant) -> ElksMediaSource:
    """Return the recordings media source."""
    return ElksMediaSource(hass)


class ElksMediaSource(MediaSource):
    """Recordings of incoming calls, one folder per 46elks account."""

    name = "46elks"

    def __init__(self, hass: HomeAssistant) -> None:
        """Serve recordings of ``hass``'s accounts."""
        super().__init__(DOMAIN)
        self.hass = hass

    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """Return the URL of a recording."""
        entry_id, _, name = (item.identifier or "").partition("/")
        if not valid_name(entry_id, name):
            raise Unresolvable(f"Not a 46elks recording: {item.identifier}")
        path = recordings_dir(self.hass, entry_id) / name
        if not await self.hass.async_add_executor_job(path.is_file):
            raise Unresolvable(f"No such 46elks recording: {item.identifier}")
        return PlayMedia(f"{RECORDING_PATH}/{entry_id}/{name}", _WAV, path=path)

    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """List accounts, or one account's recordings (newest first)."""
        if not item.identifier:
            return self._folder(
                None,
                "46elks",
                [
                    self._folder(entry.entry_id, entry.title, [])
                    for entry in self.hass.config_entries.async_entries(DOMAIN)
                ],
            )
        entry = self.hass.config_entries.async_get_entry(item.identifier)
        if entry is None or entry.domain != DOMAIN:
            raise BrowseError(f"Unknown 46elks account: {item.identifier}")
        names = await self.hass.async_add_executor_job(
            list_recordings, recordings_dir(self.hass, entry.entry_id)
        )
        return self._folder(
            entry.entry_id,
            entry.title,
            [
                BrowseMediaSource(
                    domain=DOMAIN,
                    identifier=f"{entry.entry_id}/{name}",
                    media_class=MediaClass.MUSIC,
                    media_content_type=_WAV,
                    title=recording_title(name),
                    can_play=True,
                    can_expand=False,
                )
                for name in names
            ],
        )

    @staticmethod
    def _folder(
        identifier: str | None, title: str, children: list[BrowseMediaSource]
    ) -> BrowseMediaSource:
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=identifier,
            media_class=MediaClass.DIRECTORY,
            media_content_type="",
            title=title,
            can_play=False,
            can_expand=True,
            children_media_class=MediaClass.MUSIC
            if identifier
            else MediaClass.DIRECTORY,
            children=children,
        )
