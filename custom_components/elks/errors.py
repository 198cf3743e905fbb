"""The errors a user sees: Home Assistant's translated exceptions for this domain."""

from __future__ import annotations

from homeassistant.exceptions import HomeAssistantError

from .const import DOMAIN


def translated[E: HomeAssistantError](
    cls: type[E], translation_key: str, **placeholders: str
) -> E:
    """Return ``cls`` with the message ``translation_key`` of the translations."""
    return cls(
        translation_domain=DOMAIN,
        translation_key=translation_key,
        translation_placeholders=placeholders or None,
    )
