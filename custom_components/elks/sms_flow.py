"""The Incoming SMS subentry flow: pick a number, take it over, an allow-list."""

from __future__ import annotations

from typing import Any

import probatio

from homeassistant.config_entries import SubentryFlowResult

from .api import InvalidNumberError
from .const import CONF_ALLOWED_SENDERS, CONF_NUMBER_ID, CONF_PREVIOUS_SMS_URL
from .incoming_sms import parse_allowed_senders
from .models import NumberField
from .numbers import number_selector, sms_unique_id
from .subentry_flow import PHONE_NUMBERS, SettingsError, SingleNumberSubentryFlow

_SETTINGS_SCHEMA = probatio.Schema(
    {probatio.Optional(CONF_ALLOWED_SENDERS): PHONE_NUMBERS}
)


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

    def __init__(self) -> None:
        """Start with no number chosen and nobody allowed."""
        super().__init__()
        self._allowed: dict[str, Any] = {}

    def _settings_schema(self) -> probatio.Schema:
        return _SETTINGS_SCHEMA

    def _parse_settings(self, user_input: dict[str, Any]) -> dict[str, Any]:
        return _allowed(user_input)

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Choose a number that receives SMS, and who may text it."""
        if abort := await self._async_load_numbers():
            return abort

        async def take(allowed: dict[str, Any]) -> SubentryFlowResult:
            assert user_input is not None
            self._allowed = allowed
            return await self._async_take(user_input[CONF_NUMBER_ID])

        return await self._async_form(
            "user",
            probatio.Schema(
                {
                    probatio.Required(CONF_NUMBER_ID): number_selector(
                        self._numbers.values()
                    ),
                    probatio.Optional(CONF_ALLOWED_SENDERS): PHONE_NUMBERS,
                }
            ),
            user_input,
            _allowed,
            take,
        )

    async def _async_taken(self) -> SubentryFlowResult:
        assert self._chosen is not None
        return self.async_create_entry(
            title=self._chosen.number,
            unique_id=sms_unique_id(self._chosen.id),
            data={**self._number_data(CONF_PREVIOUS_SMS_URL), **self._allowed},
        )
