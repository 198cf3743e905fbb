"""The Incoming SMS subentry flow: pick a number, take it over, an allow-list."""

from __future__ import annotations

from typing import Any

import probatio

from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_WEBHOOK_ID
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .api import ElksError, InvalidNumberError, PhoneNumber
from .const import (
    CONF_ALLOWED_SENDERS,
    CONF_CLOUDHOOK_URL,
    CONF_NUMBER_ID,
    CONF_PREVIOUS_SMS_URL,
    CONF_RECIPIENT_NUMBER,
)
from .incoming_sms import parse_allowed_senders
from .models import NumberField
from .numbers import describe_target, number_selector, points_at_us, sms_unique_id

# One field per number, as for the allowed callers of the other flows.
_ALLOWED_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.TEL, multiple=True)
)


def _allowed(user_input: dict[str, Any]) -> list[str]:
    """Return the allowed senders typed, normalised (raises InvalidNumberError)."""
    return parse_allowed_senders(",".join(user_input.get(CONF_ALLOWED_SENDERS) or []))


class IncomingSmsSubentryFlow(ConfigSubentryFlow):
    """Lead the SMS of one of the account's numbers to Home Assistant."""

    def __init__(self) -> None:
        """Start with no number chosen."""
        self._numbers: dict[str, PhoneNumber] = {}
        self._chosen: PhoneNumber | None = None
        self._allowed: list[str] = []

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Choose a number that receives SMS, and who may text it."""
        if not self._numbers:
            entry = self._get_entry()
            # The account's client lives while it is set up.
            if entry.state is not ConfigEntryState.LOADED:
                return self.async_abort(reason="cannot_connect")
            try:
                numbers = await entry.runtime_data.client.list_numbers()
            except ElksError:
                return self.async_abort(reason="cannot_connect")
            taken = entry.runtime_data.numbers.claimed(NumberField.SMS_URL)
            self._numbers = {
                n.id: n for n in numbers if n.can_receive_sms and n.id not in taken
            }
            if not self._numbers:
                return self.async_abort(reason="no_sms_numbers")
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                self._allowed = _allowed(user_input)
            except InvalidNumberError:
                errors[CONF_ALLOWED_SENDERS] = "invalid_allowed_senders"
            else:
                self._chosen = self._numbers[user_input[CONF_NUMBER_ID]]
                return await self.async_step_take_over()
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                self._user_schema(), user_input
            ),
            errors=errors,
        )

    def _user_schema(self) -> probatio.Schema:
        return probatio.Schema(
            {
                probatio.Required(CONF_NUMBER_ID): number_selector(
                    self._numbers.values()
                ),
                probatio.Optional(CONF_ALLOWED_SENDERS): _ALLOWED_SELECTOR,
            }
        )

    async def async_step_take_over(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Ask before taking a number whose SMS go somewhere else now.

        Only the host is shown: a full URL may hold somebody's secret.
        """
        number = self._chosen
        assert number is not None
        entry = self._get_entry()
        elsewhere = bool(number.sms_url) and not points_at_us(
            number.sms_url,
            entry.data[CONF_WEBHOOK_ID],
            entry.data.get(CONF_CLOUDHOOK_URL),
        )
        if user_input is not None or not elsewhere:
            return self.async_create_entry(
                title=number.number,
                unique_id=sms_unique_id(number.id),
                data={
                    CONF_NUMBER_ID: number.id,
                    CONF_RECIPIENT_NUMBER: number.number,
                    CONF_PREVIOUS_SMS_URL: number.sms_url,
                    CONF_ALLOWED_SENDERS: self._allowed,
                },
            )
        return self.async_show_form(
            step_id="take_over",
            description_placeholders={
                "number": number.number,
                "target": describe_target(number.sms_url),
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change who may text the number."""
        subentry = self._get_reconfigure_subentry()
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                allowed = _allowed(user_input)
            except InvalidNumberError:
                errors[CONF_ALLOWED_SENDERS] = "invalid_allowed_senders"
            else:
                return self.async_update_and_abort(
                    self._get_entry(),
                    subentry,
                    data={**subentry.data, CONF_ALLOWED_SENDERS: allowed},
                )
        current = list(subentry.data.get(CONF_ALLOWED_SENDERS) or [])
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                probatio.Schema(
                    {probatio.Optional(CONF_ALLOWED_SENDERS): _ALLOWED_SELECTOR}
                ),
                user_input or {CONF_ALLOWED_SENDERS: current},
            ),
            description_placeholders={"number": subentry.title},
            errors=errors,
        )
