"""What the subentry flows share: checked forms, and taking over a number.

Every subentry form is checked by a parser that raises ``SettingsError``
naming the field and the problem. The number subentries (Incoming calls,
Incoming SMS, Assist by phone) offer only the account's numbers that can do
their job and that no subentry claims yet, ask before a number that leads
elsewhere now is taken over (showing the host only: a full URL may hold
somebody's secret), and keep the number once set up: reconfiguring changes
only their settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ClassVar, Final

import probatio

from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_WEBHOOK_ID
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .api import ElksError, PhoneNumber
from .const import CONF_CLOUDHOOK_URL, CONF_NUMBER_ID, CONF_RECIPIENT_NUMBER
from .models import NumberField
from .numbers import describe_target, number_selector, points_at_us


class SettingsError(ValueError):
    """A setting that cannot be used; ``field`` and ``key`` name it for the form."""

    def __init__(self, field: str, key: str) -> None:
        """Name the form field and the translation key of the error."""
        super().__init__(f"{field}: {key}")
        self.field = field
        self.key = key


# A list of phone numbers, one field each: allowed callers and senders, and
# numbers to forward to.
PHONE_NUMBERS = TextSelector(
    TextSelectorConfig(type=TextSelectorType.TEL, multiple=True)
)


def single_select(
    options: Iterable[str] | list[SelectOptionDict],
    translation_key: str | None = None,
    mode: SelectSelectorMode = SelectSelectorMode.DROPDOWN,
) -> SelectSelector:
    """Return a choice of one of ``options``; ``translation_key`` translates labels."""
    # The selector's own schema takes lists only.
    choices = options if isinstance(options, list) else list(options)
    config = SelectSelectorConfig(options=choices, mode=mode)
    if translation_key is not None:
        config["translation_key"] = translation_key
    return SelectSelector(config)


# Which numbers can serve a field, and what the field holds now.
_CAN_SERVE: Final[dict[NumberField, Callable[[PhoneNumber], bool]]] = {
    NumberField.VOICE_START: lambda number: number.can_call_from,
    NumberField.SMS_URL: lambda number: number.can_receive_sms,
}
_CURRENT: Final[dict[NumberField, Callable[[PhoneNumber], str | None]]] = {
    NumberField.VOICE_START: lambda number: number.voice_start,
    NumberField.SMS_URL: lambda number: number.sms_url,
}


class FormSubentryFlow(ConfigSubentryFlow):
    """A subentry flow whose forms are checked by parsers raising SettingsError."""

    async def _async_form[T](
        self,
        step_id: str,
        schema: probatio.Schema,
        user_input: dict[str, Any] | None,
        parse: Callable[[dict[str, Any]], T],
        done: Callable[[T], Awaitable[SubentryFlowResult]],
        *,
        suggested: Mapping[str, Any] | None = None,
        placeholders: Mapping[str, str] | None = None,
    ) -> SubentryFlowResult:
        """Show the form (again, naming the problem) until ``parse`` accepts it."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                value = parse(user_input)
            except SettingsError as err:
                errors[err.field] = err.key
            else:
                return await done(value)
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or suggested
            ),
            errors=errors,
            description_placeholders=placeholders,
        )


class NumberSubentryFlow(FormSubentryFlow):
    """A subentry that takes the account's numbers for a field.

    Subclasses say which field, and how their settings are shown and checked.
    """

    field: ClassVar[NumberField]
    # The abort reason when no number can be offered.
    no_numbers_reason: ClassVar[str]

    def __init__(self) -> None:
        """Start with no number chosen."""
        self._numbers: dict[str, PhoneNumber] = {}

    def _settings_schema(self) -> probatio.Schema:
        """Return the form of what can change after setup."""
        raise NotImplementedError

    def _parse_settings(self, user_input: dict[str, Any]) -> dict[str, Any]:
        """Return the settings as stored, or raise SettingsError."""
        raise NotImplementedError

    def _current_settings(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Return the stored settings as the form shows them."""
        return dict(data)

    def _user_schema(self) -> probatio.Schema:
        """Return the first form: the numbers offered, and what is asked with them."""
        raise NotImplementedError

    def _check_user(self, user_input: dict[str, Any]) -> None:
        """Keep what the first form chose, or raise SettingsError."""
        raise NotImplementedError

    async def _async_user_done(self) -> SubentryFlowResult:
        """Go on once the first form is accepted."""
        raise NotImplementedError

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Offer the numbers that can serve the field and no subentry claims yet."""
        if abort := await self._async_load_numbers():
            return abort
        return await self._async_form(
            "user",
            self._user_schema(),
            user_input,
            self._check_user,
            lambda _: self._async_user_done(),
        )

    async def _async_load_numbers(self) -> SubentryFlowResult | None:
        """Keep the numbers to offer (once); return an abort when there are none."""
        if not self._numbers:
            entry = self._get_entry()
            # The account's client lives while it is set up.
            if entry.state is not ConfigEntryState.LOADED:
                return self.async_abort(reason="cannot_connect")
            try:
                numbers = await entry.runtime_data.client.list_numbers()
            except ElksError:
                return self.async_abort(reason="cannot_connect")
            # One subentry per field of a number, of whatever kind.
            taken = entry.runtime_data.numbers.claimed(self.field)
            can_serve = _CAN_SERVE[self.field]
            self._numbers = {
                n.id: n for n in numbers if can_serve(n) and n.id not in taken
            }
        if not self._numbers:
            return self.async_abort(reason=self.no_numbers_reason)
        return None

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change the settings; the number stays (it was taken over)."""
        subentry = self._get_reconfigure_subentry()

        async def update(settings: dict[str, Any]) -> SubentryFlowResult:
            return self.async_update_and_abort(
                self._get_entry(), subentry, data={**subentry.data, **settings}
            )

        return await self._async_form(
            "reconfigure",
            self._settings_schema(),
            user_input,
            self._parse_settings,
            update,
            suggested=self._current_settings(subentry.data),
            placeholders={"number": subentry.title},
        )


class SingleNumberSubentryFlow(NumberSubentryFlow):
    """A subentry that takes one number, asking first if it leads elsewhere.

    Subclasses say what comes once the number may be taken (``_async_taken``).
    """

    def __init__(self) -> None:
        """Start with no number chosen."""
        super().__init__()
        self._chosen: PhoneNumber | None = None
        # The field's value before us, as shown to the user (None: ours or empty).
        self._previous: str | None = None

    # Fields the first form asks for with the number.
    user_fields: ClassVar[Mapping[probatio.Marker, Any]] = {}

    async def _async_taken(self) -> SubentryFlowResult:
        """Go on once the chosen number may be taken."""
        raise NotImplementedError

    def _user_schema(self) -> probatio.Schema:
        return probatio.Schema(
            {
                probatio.Required(CONF_NUMBER_ID): number_selector(
                    self._numbers.values()
                ),
                **self.user_fields,
            }
        )

    def _check_user(self, user_input: dict[str, Any]) -> None:
        # A select of self._numbers: the schema refused anything else.
        self._chosen = self._numbers[user_input[CONF_NUMBER_ID]]

    def _leads_elsewhere(self, value: str | None) -> bool:
        """Return whether a field's value leads somewhere that is not this account."""
        entry = self._get_entry()
        # A URL of ours left over from an earlier setup is nobody's to keep.
        return bool(value) and not points_at_us(
            value, entry.data[CONF_WEBHOOK_ID], entry.data.get(CONF_CLOUDHOOK_URL)
        )

    async def _async_user_done(self) -> SubentryFlowResult:
        """Ask before taking the chosen number if it leads elsewhere."""
        assert self._chosen is not None
        current = _CURRENT[self.field](self._chosen)
        self._previous = current if self._leads_elsewhere(current) else None
        if self._previous:
            return await self.async_step_take_over()
        return await self._async_taken()

    def _number_data(self, previous_key: str) -> dict[str, Any]:
        """Return what the subentry keeps of its number."""
        assert self._chosen is not None
        return {
            CONF_NUMBER_ID: self._chosen.id,
            CONF_RECIPIENT_NUMBER: self._chosen.number,
            previous_key: self._previous,
        }

    async def async_step_take_over(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Ask before taking a number that leads elsewhere (host shown only)."""
        assert self._chosen is not None
        if user_input is not None:
            return await self._async_taken()
        return self.async_show_form(
            step_id="take_over",
            data_schema=probatio.Schema({}),
            description_placeholders={
                "number": self._chosen.number,
                "target": describe_target(self._previous),
            },
        )
