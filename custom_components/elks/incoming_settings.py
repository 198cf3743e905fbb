"""What an incoming-calls subentry says: who may call, and what each caller gets.

Plain data read from the subentry each time a call comes in, so that a
changed setting applies to the next call without a reload. The settings
form is here too, next to the parsers that check it: the subentry flow
shows it when a number is set up and when it is reconfigured, so stored
data is always valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import re
from typing import Any

import probatio

from homeassistant.helpers.selector import (
    BooleanSelector,
    TextSelector,
    TextSelectorConfig,
)

from .api import InvalidNumberError, normalize_number
from .const import (
    CONF_ALLOW_ANYONE,
    CONF_ALLOWED,
    CONF_ALLOWED_ACTION,
    CONF_FORWARD_TO,
    CONF_GREETING,
    CONF_MENU,
    CONF_NO_ANSWER,
    CONF_NO_ANSWER_MESSAGE,
    CONF_NUMBER_ID,
    CONF_PIN,
    CONF_RECIPIENT_NUMBER,
    CONF_UNKNOWN_ACTION,
    CONF_UNKNOWN_MESSAGE,
)
from .models import IncomingAction, MenuItem, NoAnswerAction
from .subentry_flow import PHONE_NUMBERS, SettingsError, single_select

# What allowed and unknown callers may get.
ALLOWED_ACTIONS = (
    IncomingAction.REJECT,
    IncomingAction.BUSY,
    IncomingAction.MENU,
    IncomingAction.FORWARD,
)
UNKNOWN_ACTIONS = (
    IncomingAction.REJECT,
    IncomingAction.MESSAGE,
    IncomingAction.FORWARD,
)
# 46elks rings comma-separated numbers at once; more is a mistake, not a plan.
MAX_FORWARD_TARGETS = 5
MAX_ALLOWED = 100
MAX_MESSAGE_LENGTH = 500
_MENU_LINE = re.compile(r"^\s*([0-9*#])\s*[:=]\s*(.{1,100}?)\s*$")
_PIN = re.compile(r"^[0-9]{4,8}\Z")

_TEXT = TextSelector(TextSelectorConfig(multiline=True))


# The settings form, checked by check_settings.
SETTINGS_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_ALLOW_ANYONE, default=False): BooleanSelector(),
        probatio.Optional(CONF_ALLOWED): PHONE_NUMBERS,
        probatio.Required(
            CONF_ALLOWED_ACTION, default=IncomingAction.REJECT
        ): single_select(ALLOWED_ACTIONS, CONF_ALLOWED_ACTION),
        probatio.Optional(CONF_GREETING): _TEXT,
        probatio.Optional(CONF_PIN): TextSelector(),
        probatio.Optional(CONF_MENU): _TEXT,
        probatio.Required(
            CONF_UNKNOWN_ACTION, default=IncomingAction.REJECT
        ): single_select(UNKNOWN_ACTIONS, CONF_UNKNOWN_ACTION),
        probatio.Optional(CONF_UNKNOWN_MESSAGE): _TEXT,
        probatio.Optional(CONF_FORWARD_TO): PHONE_NUMBERS,
        probatio.Required(CONF_NO_ANSWER, default=NoAnswerAction.RECORD): single_select(
            NoAnswerAction, CONF_NO_ANSWER
        ),
        probatio.Optional(CONF_NO_ANSWER_MESSAGE): _TEXT,
    }
)


@dataclass(frozen=True, slots=True)
class IncomingSettings:
    """One number's incoming-call settings."""

    number_id: str
    number: str
    allow_anyone: bool
    allowed: frozenset[str]
    allowed_action: IncomingAction
    unknown_action: IncomingAction
    greeting: str
    pin: str | None
    menu: Mapping[str, MenuItem]
    unknown_message: str
    forward_to: tuple[str, ...]
    no_answer: NoAnswerAction
    no_answer_message: str

    def is_allowed(self, caller: str) -> bool:
        """Whether ``caller`` (as 46elks sent it) is on the allow-list."""
        return self.allow_anyone or caller in self.allowed

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> IncomingSettings:
        """Read stored subentry data (checked by the flow when it was saved)."""
        return cls(
            number_id=str(data[CONF_NUMBER_ID]),
            number=str(data[CONF_RECIPIENT_NUMBER]),
            allow_anyone=bool(data.get(CONF_ALLOW_ANYONE)),
            allowed=frozenset(data.get(CONF_ALLOWED) or ()),
            allowed_action=IncomingAction(
                data.get(CONF_ALLOWED_ACTION, IncomingAction.REJECT)
            ),
            unknown_action=IncomingAction(
                data.get(CONF_UNKNOWN_ACTION, IncomingAction.REJECT)
            ),
            greeting=str(data.get(CONF_GREETING) or ""),
            pin=data.get(CONF_PIN) or None,
            menu=parse_menu(str(data.get(CONF_MENU) or "")),
            unknown_message=str(data.get(CONF_UNKNOWN_MESSAGE) or ""),
            forward_to=tuple(data.get(CONF_FORWARD_TO) or ()),
            no_answer=NoAnswerAction(data.get(CONF_NO_ANSWER, NoAnswerAction.RECORD)),
            no_answer_message=str(data.get(CONF_NO_ANSWER_MESSAGE) or ""),
        )


def parse_numbers(values: list[str], field: str, limit: int) -> list[str]:
    """Return phone numbers in E.164, or raise naming the field."""
    numbers: list[str] = []
    for value in values:
        if not value.strip():
            continue
        try:
            number = normalize_number(value)
        except InvalidNumberError as err:
            raise SettingsError(field, "invalid_number") from err
        if number not in numbers:
            numbers.append(number)
    if len(numbers) > limit:
        raise SettingsError(field, "too_many_numbers")
    return numbers


def parse_menu(text: str) -> dict[str, MenuItem]:
    """Parse menu lines ``<key>: <label>`` or ``<key>: <phone number>`` (connect)."""
    menu: dict[str, MenuItem] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if (match := _MENU_LINE.match(line)) is None:
            raise SettingsError(CONF_MENU, "invalid_menu_line")
        key, value = match.groups()
        if value.startswith("+"):
            try:
                menu[key] = MenuItem(value, normalize_number(value))
            except InvalidNumberError as err:
                raise SettingsError(CONF_MENU, "invalid_number") from err
        else:
            menu[key] = MenuItem(value)
    return menu


def check_settings(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return the options part of a settings form as stored, or raise."""
    allowed = parse_numbers(
        list(data.get(CONF_ALLOWED) or []), CONF_ALLOWED, MAX_ALLOWED
    )
    forward_to = parse_numbers(
        list(data.get(CONF_FORWARD_TO) or []), CONF_FORWARD_TO, MAX_FORWARD_TARGETS
    )
    allowed_action = IncomingAction(data[CONF_ALLOWED_ACTION])
    unknown_action = IncomingAction(data[CONF_UNKNOWN_ACTION])
    menu_text = str(data.get(CONF_MENU) or "")
    pin = str(data.get(CONF_PIN) or "").strip() or None
    if allowed_action is IncomingAction.MENU and not parse_menu(menu_text):
        raise SettingsError(CONF_MENU, "empty_menu")
    if pin is not None and not _PIN.match(pin):
        raise SettingsError(CONF_PIN, "invalid_pin")
    if IncomingAction.FORWARD in (allowed_action, unknown_action) and not forward_to:
        raise SettingsError(CONF_FORWARD_TO, "forward_needs_number")
    if not data.get(CONF_ALLOW_ANYONE) and not allowed:
        raise SettingsError(CONF_ALLOWED, "nobody_allowed")
    texts = (CONF_GREETING, CONF_UNKNOWN_MESSAGE, CONF_NO_ANSWER_MESSAGE)
    for key in texts:
        if len(str(data.get(key) or "")) > MAX_MESSAGE_LENGTH:
            raise SettingsError(key, "message_too_long")
    return {
        CONF_ALLOW_ANYONE: bool(data.get(CONF_ALLOW_ANYONE)),
        CONF_ALLOWED: allowed,
        CONF_ALLOWED_ACTION: allowed_action.value,
        CONF_GREETING: str(data.get(CONF_GREETING) or "").strip(),
        CONF_PIN: pin,
        CONF_MENU: menu_text.strip(),
        CONF_UNKNOWN_ACTION: unknown_action.value,
        CONF_UNKNOWN_MESSAGE: str(data.get(CONF_UNKNOWN_MESSAGE) or "").strip(),
        CONF_FORWARD_TO: forward_to,
        CONF_NO_ANSWER: NoAnswerAction(
            data.get(CONF_NO_ANSWER, NoAnswerAction.RECORD)
        ).value,
        CONF_NO_ANSWER_MESSAGE: str(data.get(CONF_NO_ANSWER_MESSAGE) or "").strip(),
    }
