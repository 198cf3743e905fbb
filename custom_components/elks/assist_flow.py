"""Setting up Assist by phone: the ``assist`` subentry's flow.

The user picks an Assist pipeline, the account's websocket number (whose
``voice_start`` becomes the WebSocket URL), optionally a number to dial in
on (connected to the websocket number), and the callers allowed to talk
(the settings that can change later are in ``assist_settings.py``).
Numbers that lead elsewhere now are shown by host only (a full URL may hold
somebody's secret) and taken over only after the user confirms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import probatio

from homeassistant.config_entries import SubentryFlowResult
from homeassistant.helpers.selector import SelectOptionDict

from .assist import is_assist_url, new_token, websocket_url
from .assist_settings import (
    CALLERS_AND_GREETING,
    parse_settings,
    pipeline_field,
    settings_schema,
    shown_settings,
)
from .const import (
    CONF_ASSIST_DIAL_IN,
    CONF_ASSIST_DIAL_IN_ID,
    CONF_ASSIST_NUMBER,
    CONF_ASSIST_NUMBER_ID,
    CONF_ASSIST_TOKEN,
)
from .models import NumberField
from .numbers import describe_target, number_selector
from .subentry_flow import NumberSubentryFlow, SettingsError

NO_DIAL_IN = "none"


def _previous(field: str) -> str:
    return f"previous_{field}"


class AssistSubentryFlow(NumberSubentryFlow):
    """Add Assist by phone to a 46elks account."""

    # Numbers whose calls a subentry already takes (Incoming calls, another
    # Assist by phone) are not offered: one voice_start each.
    field = NumberField.VOICE_START
    no_numbers_reason = "no_voice_numbers"

    def __init__(self) -> None:
        """Start with nothing chosen."""
        super().__init__()
        self._data: dict[str, Any] = {}

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Choose the pipeline, the numbers and the callers."""
        if "assist_pipeline" not in self.hass.config.components:
            return self.async_abort(reason="no_assist")
        return await super().async_step_user(user_input)

    async def _async_user_done(self) -> SubentryFlowResult:
        return await self.async_step_confirm()

    def _user_schema(self) -> probatio.Schema:
        no_dial_in = SelectOptionDict(value=NO_DIAL_IN, label=NO_DIAL_IN)
        return probatio.Schema(
            {
                **pipeline_field(self.hass),
                probatio.Required(CONF_ASSIST_NUMBER): number_selector(
                    self._numbers.values()
                ),
                probatio.Required(CONF_ASSIST_DIAL_IN, default=NO_DIAL_IN): (
                    number_selector(
                        self._numbers.values(),
                        no_dial_in,
                        translation_key=CONF_ASSIST_DIAL_IN,
                    )
                ),
                **CALLERS_AND_GREETING,
            }
        )

    def _settings_schema(self) -> probatio.Schema:
        return settings_schema(self.hass)

    def _check_user(self, user_input: dict[str, Any]) -> None:
        """Check the form; keep what the subentry will hold."""
        number_id = user_input[CONF_ASSIST_NUMBER]
        dial_in_id = user_input.get(CONF_ASSIST_DIAL_IN, NO_DIAL_IN)
        # Both are selects of self._numbers: the schema refused anything else.
        if dial_in_id == number_id:
            raise SettingsError(CONF_ASSIST_DIAL_IN, "same_number")
        settings = parse_settings(user_input)
        token = new_token()
        if websocket_url(self.hass, token) is None:
            raise SettingsError("base", "no_public_url")
        self._data = {**settings, CONF_ASSIST_TOKEN: token}
        self._add_number(CONF_ASSIST_NUMBER, CONF_ASSIST_NUMBER_ID, number_id)
        if dial_in_id != NO_DIAL_IN:
            self._add_number(CONF_ASSIST_DIAL_IN, CONF_ASSIST_DIAL_IN_ID, dial_in_id)

    def _add_number(self, key: str, id_key: str, number_id: str) -> None:
        number = self._numbers[number_id]
        self._data[key] = number.number
        self._data[id_key] = number_id
        self._data[_previous(key)] = number.voice_start

    def _taken_over(self) -> list[str]:
        """Return the chosen numbers that lead somewhere else now, with where."""
        return [
            f"{self._data[key]} → {describe_target(self._data[_previous(key)])}"
            for key in (CONF_ASSIST_NUMBER, CONF_ASSIST_DIAL_IN)
            if key in self._data
            and self._data[_previous(key)]
            and not is_assist_url(self._data[_previous(key)])
        ]

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Ask before numbers that lead elsewhere are pointed at Home Assistant."""
        taken = self._taken_over()
        if user_input is None and taken:
            return self.async_show_form(
                step_id="confirm",
                description_placeholders={"numbers": ", ".join(taken)},
            )
        for subentry in self._get_entry().subentries.values():
            if subentry.unique_id == self._data[CONF_ASSIST_NUMBER_ID]:
                return self.async_abort(reason="already_configured")
        return self.async_create_entry(
            # The number, as for Incoming calls and SMS: the page already
            # groups it under "Assist by phone".
            title=self._data[CONF_ASSIST_NUMBER],
            data=self._data,
            unique_id=self._data[CONF_ASSIST_NUMBER_ID],
        )

    def _parse_settings(self, user_input: dict[str, Any]) -> dict[str, Any]:
        return parse_settings(user_input)

    def _current_settings(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return shown_settings(data)
