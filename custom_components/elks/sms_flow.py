"""The Incoming SMS subentry flow: pick a number, take it over, an allow-list."""

from __future__ import annotations

from typing import Any

import probatio

from homeassistant.config_entries import SubentryFlowResult

from .api import InvalidNumberError
from .const import CONF_ALLOWED_SENDERS, CONF_PREVIOUS_SMS_URL
from .incoming_sms import parse_allowed_senders
from .models import NumberField
from .numbers import sms_unique_id
from .subentry_flow import PHONE_NUMBERS, SettingsError, SingleNumberSubentryFlow

# Asked for with the number, and all that can change later.
_SETTINGS_FIELDS: dict[probatio.Marker, Any] = {
    probatio.Optional(CONF_ALLOWED_SENDERS): PHONE_NUMBERS
}


def _allowed(user_input: dict[str, Any]) -> dict[str, Any]:
    """Return the allowed senders typed, normalised, as stored."""
    try:
        allowed = parse_allowed_senders(
            ",".join(user_input.get(CONF_ALLOWED_SENDERS) or [])
        )
    except InvalidNumberError as err:
        raise SettingsError(CONF_ALLOWED_SENDERS, "invalid_allowed_senders") from err
    return {CONF_ALLOWED_SENDERS: allowed}


class IncomingSmsSubentryFlow(SingleNumberSubentryFlow):
    """Lead the SMS of one of the account's numbers to Home Assistant."""

    field = NumberField.SMS_URL
    no_numbers_reason = "no_sms_numbers"
    user_fields = _SETTINGS_FIELDS

    def __init__(self) -> None:
        """Start with no number chosen and nobody allowed."""
        super().__init__()
        self._allowed: dict[str, Any] = {}

    def _settings_schema(self) -> probatio.Schema:
        return probatio.Schema(_SETTINGS_FIELDS)

    def _parse_settings(self, user_input: dict[str, Any]) -> dict[str, Any]:
        return _allowed(user_input)

    def _check_user(self, user_input: dict[str, Any]) -> None:
        self._allowed = _allowed(user_input)
        super()._check_user(user_input)

    async def _async_taken(self) -> SubentryFlowResult:
        assert self._chosen is not None
        return self.async_create_entry(
            title=self._chosen.number,
            unique_id=sms_unique_id(self._chosen.id),
            data={**self._number_data(CONF_PREVIOUS_SMS_URL), **self._allowed},
        )
