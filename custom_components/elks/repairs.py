"""Repair issues: each in one place, with its id, severity and text key."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import (
    DOMAIN,
    ISSUE_ESCALATION_INTERRUPTED,
    ISSUE_LOW_BALANCE,
    ISSUE_NO_PUBLIC_URL,
    ISSUE_NUMBER_NOT_UPDATED,
)

REMOTE_ACCESS_DOCS = "https://www.home-assistant.io/docs/configuration/remote/"


@callback
def _async_warning(
    hass: HomeAssistant,
    issue_id: str,
    translation_key: str,
    placeholders: dict[str, str] | None,
    learn_more_url: str,
) -> None:
    """Raise a warning that lasts while its cause does; None clears it."""
    if placeholders is None:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=translation_key,
        translation_placeholders=placeholders,
        learn_more_url=learn_more_url,
    )


@callback
def async_no_public_url(
    hass: HomeAssistant, entry_id: str, title: str, *, missing: bool
) -> None:
    """Say (or stop saying) that 46elks cannot reach Home Assistant."""
    _async_warning(
        hass,
        f"{ISSUE_NO_PUBLIC_URL}_{entry_id}",
        ISSUE_NO_PUBLIC_URL,
        {"account": title} if missing else None,
        REMOTE_ACCESS_DOCS,
    )


@callback
def async_low_balance(
    hass: HomeAssistant, entry_id: str, placeholders: dict[str, str] | None
) -> None:
    """Warn of a low balance (placeholders given), or clear the warning (None)."""
    _async_warning(
        hass,
        f"{ISSUE_LOW_BALANCE}_{entry_id}",
        ISSUE_LOW_BALANCE,
        placeholders,
        "https://46elks.com/account",
    )


@callback
def async_escalation_interrupted(
    hass: HomeAssistant, escalation_id: str, placeholders: dict[str, str]
) -> None:
    """Report an escalation that a stop cut short; the user dismisses it."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{ISSUE_ESCALATION_INTERRUPTED}_{escalation_id}",
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_ESCALATION_INTERRUPTED,
        translation_placeholders=placeholders,
    )


@callback
def async_number_not_updated(
    hass: HomeAssistant, entry_id: str, placeholders: dict[str, str] | None
) -> None:
    """Say which numbers 46elks could not be told about (None clears it)."""
    _async_warning(
        hass,
        f"{ISSUE_NUMBER_NOT_UPDATED}_{entry_id}",
        ISSUE_NUMBER_NOT_UPDATED,
        placeholders,
        "https://46elks.com/numbers",
    )
