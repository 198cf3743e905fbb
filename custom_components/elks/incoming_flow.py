"""The "Incoming calls" subentry flow: pick a number, take it over, choose what callers get."""

from __future__ import annotations

from typing import Any

import probatio

from homeassistant.config_entries import ConfigSubentryFlow, SubentryFlowResult
from homeassistant.const import CONF_WEBHOOK_ID
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .api import ElksError, PhoneNumber
from .const import (
    CONF_ALLOW_ANYONE,
    CONF_ALLOWED,
    CONF_ALLOWED_ACTION,
    CONF_CLOUDHOOK_URL,
    CONF_FORWARD_TO,
    CONF_GREETING,
    CONF_MENU,
    CONF_NO_ANSWER,
    CONF_NO_ANSWER_MESSAGE,
    CONF_NUMBER_ID,
    CONF_PIN,
    CONF_PREVIOUS_VOICE_START,
    CONF_RECIPIENT_NUMBER,
    CONF_UNKNOWN_ACTION,
    CONF_UNKNOWN_MESSAGE,
)
from .incoming_settings import (
    ALLOWED_ACTIONS,
    UNKNOWN_ACTIONS,
    SettingsError,
    check_settings,
)
from .models import IncomingAction, NoAnswerAction, NumberField
from .numbers import describe_target, number_selector, points_at_us
from .runtime import ElksConfigEntry

_PHONES = TextSelector(TextSelectorConfig(type=TextSelectorType.TEL, multiple=True))
_TEXT = TextSelector(TextSelectorConfig(multiline=True))


def _select(options: tuple[str, ...], key: str) -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(
            options=list(options),
            translation_key=key,
            mode=SelectSelectorMode.DROPDOWN,
        )
    )


SETTINGS_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_ALLOW_ANYONE, default=False): BooleanSelector(),
        probatio.Optional(CONF_ALLOWED): _PHONES,
        probatio.Required(CONF_ALLOWED_ACTION, default=IncomingAction.REJECT): _select(
            ALLOWED_ACTIONS, CONF_ALLOWED_ACTION
        ),
        probatio.Optional(CONF_GREETING): _TEXT,
        probatio.Optional(CONF_PIN): TextSelector(),
        probatio.Optional(CONF_MENU): _TEXT,
        probatio.Required(CONF_UNKNOWN_ACTION, default=IncomingAction.REJECT): _select(
            UNKNOWN_ACTIONS, CONF_UNKNOWN_ACTION
        ),
        probatio.Optional(CONF_UNKNOWN_MESSAGE): _TEXT,
        probatio.Optional(CONF_FORWARD_TO): _PHONES,
        probatio.Required(CONF_NO_ANSWER, default=NoAnswerAction.RECORD): _select(
            tuple(NoAnswerAction), CONF_NO_ANSWER
        ),
        probatio.Optional(CONF_NO_ANSWER_MESSAGE): _TEXT,
    }
)


class IncomingCallSubentryFlow(ConfigSubentryFlow):
    """Let one of the account's numbers answer calls for Home Assistant."""

    def __init__(self) -> None:
        """Start without a number."""
        self._number: PhoneNumber | None = None
        # The number's voice_start before us, as shown to the user.
        self._previous: str | None = None
        self._numbers: dict[str, PhoneNumber] = {}

    def _account(self) -> ElksConfigEntry:
        entry: ElksConfigEntry = self._get_entry()
        return entry

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Pick an active voice number of the account not set up yet."""
        entry = self._account()
        if not self._numbers:
            try:
                self._numbers = await self._async_free_numbers(entry)
            except ElksError:
                return self.async_abort(reason="cannot_connect")
        if not self._numbers:
            return self.async_abort(reason="no_numbers")
        if user_input is not None:
            self._number = self._numbers[user_input[CONF_NUMBER_ID]]
            current = self._number.voice_start
            # A URL of ours left over from an earlier setup is nobody's to keep.
            ours = points_at_us(
                current, entry.data[CONF_WEBHOOK_ID], entry.data.get(CONF_CLOUDHOOK_URL)
            )
            self._previous = None if ours else current
            if self._previous:
                return await self.async_step_take_over()
            return await self.async_step_settings()
        return self.async_show_form(
            step_id="user",
            data_schema=probatio.Schema(
                {
                    probatio.Required(CONF_NUMBER_ID): number_selector(
                        self._numbers.values()
                    )
                }
            ),
        )

    @staticmethod
    async def _async_free_numbers(entry: ElksConfigEntry) -> dict[str, PhoneNumber]:
        """Return the account's active voice numbers no subentry answers yet."""
        numbers = await entry.runtime_data.client.list_numbers()
        # Numbers whose calls a subentry of any kind already takes
        # (incoming calls, Assist by phone): one voice_start each.
        taken = entry.runtime_data.numbers.claimed(NumberField.VOICE_START)
        return {n.id: n for n in numbers if n.can_call_from and n.id not in taken}

    async def async_step_take_over(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Ask before taking a number whose calls go elsewhere (host shown only)."""
        assert self._number is not None
        if user_input is not None:
            return await self.async_step_settings()
        return self.async_show_form(
            step_id="take_over",
            data_schema=probatio.Schema({}),
            description_placeholders={
                "number": self._number.number,
                "target": describe_target(self._number.voice_start),
            },
        )

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Who may call, and what callers get."""
        assert self._number is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                options = check_settings(user_input)
            except SettingsError as err:
                errors[err.field] = err.key
            else:
                number = self._number
                return self.async_create_entry(
                    title=number.number,
                    data={
                        CONF_NUMBER_ID: number.id,
                        CONF_RECIPIENT_NUMBER: number.number,
                        CONF_PREVIOUS_VOICE_START: self._previous,
                        **options,
                    },
                    unique_id=number.id,
                )
        return self.async_show_form(
            step_id="settings",
            data_schema=self.add_suggested_values_to_schema(
                SETTINGS_SCHEMA, user_input
            ),
            errors=errors,
            description_placeholders={"number": self._number.number},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change who may call and what callers get; the number stays."""
        subentry = self._get_reconfigure_subentry()
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                options = check_settings(user_input)
            except SettingsError as err:
                errors[err.field] = err.key
            else:
                return self.async_update_and_abort(
                    self._get_entry(),
                    subentry,
                    data={**subentry.data, **options},
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                SETTINGS_SCHEMA, user_input or dict(subentry.data)
            ),
            errors=errors,
            description_placeholders={"number": subentry.title},
        )
