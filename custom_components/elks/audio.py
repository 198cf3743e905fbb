"""Audio 46elks can fetch: spoken messages (TTS) and media-source items.

46elks fetches audio over the internet when the call is answered, so every
URL handed to it must be public: the external URL or Home Assistant Cloud.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.util.json import JsonObjectType

from .const import DOMAIN
from .repairs import async_no_public_url


def public_base_url(hass: HomeAssistant, entry_id: str, title: str) -> str:
    """Return Home Assistant's public URL, or raise a translated error.

    A repair issue explains the fix as well, since the action that failed
    may run unattended.
    """
    try:
        return get_url(hass, allow_internal=False, prefer_external=True)
    except NoURLAvailableError as err:
        async_no_public_url(hass, entry_id, title, missing=True)
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_public_url"
        ) from err


def tts_url(
    hass: HomeAssistant,
    base_url: str,
    message: str,
    *,
    engine: str | None,
    language: str | None,
    options: JsonObjectType | None,
) -> str:
    """Render ``message`` with Home Assistant's TTS; return the URL 46elks fetches.

    The audio is kept in memory for a few minutes, so it is made right
    before dialling. MP3 is one of the formats 46elks plays.
    """
    if "tts" not in hass.config.components:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_tts"
        )
    from homeassistant.components import tts  # noqa: PLC0415

    resolved = tts.async_resolve_engine(hass, engine)
    if resolved is None and engine is None:
        # No engine named and none set up: say what to add, not "-".
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_tts_engine"
        )
    if resolved is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_tts_engine",
            translation_placeholders={"engine": str(engine)},
        )
    try:
        stream = tts.async_create_stream(
            hass,
            resolved,
            language=language,
            options={**(options or {}), "preferred_format": "mp3"},
        )
    except HomeAssistantError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="tts_failed",
            translation_placeholders={"error": str(err)},
        ) from err
    stream.async_set_message(message)
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
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="media_not_found",
            translation_placeholders={"media": media_id, "error": str(err)},
        ) from err
    url = async_process_play_media_url(hass, resolved.url, allow_relative_url=True)
    return base_url.rstrip("/") + url if url.startswith("/") else url
