"""The "Incoming calls" subentry flow: pick a number, take it over, choose what callers get."""

from __future__ import annotations

from typing import Any

import probatio

from homeassistant.config_entries import SubentryFlowResult

from .const import CONF_PREVIOUS_VOICE_START
from .incoming_settings import SETTINGS_SCHEMA, check_settings
from .models import NumberField
from .subentry_flow import SingleNumberSubentryFlow


class IncomingCallSubentryFlow(SingleNumberSubentryFlow):
    """Let one of the account's numbers answer calls for Home Assistant."""

    # Numbers whose calls a subentry of any kind already takes (incoming
    # calls, Assist by phone) are not offered: one voice_start each.
    field = NumberField.VOICE_START
    no_numbers_reason = "no_numbers"

    def _settings_schema(self) -> probatio.Schema:
        return SETTINGS_SCHEMA

    def _parse_settings(self, user_input: dict[str, Any]) -> dict[str, Any]:
        return check_settings(user_input)

    async def _async_taken(self) -> SubentryFlowResult:
        return await self.async_step_settings()

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Who may call, and what callers get."""
        assert self._chosen is not None
        number = self._chosen

        async def create(options: dict[str, Any]) -> SubentryFlowResult:
            return self.async_create_entry(
                title=number.number,
                data={**self._number_data(CONF_PREVIOUS_VOICE_START), **options},
                unique_id=number.id,
            )

        return await self._async_form(
            "settings",
            SETTINGS_SCHEMA,
            user_input,
            check_settings,
            create,
            placeholders={"number": number.number},
        )
