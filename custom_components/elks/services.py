"""The ``elks.call`` and ``elks.cancel`` actions."""

from __future__ import annotations

from collections.abc import Mapping
import json
from typing import Any

import probatio

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_CONFIG_ENTRY_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.helpers import config_validation as cv, service
from homeassistant.util.json import JsonObjectType

from .api import (
    MAX_SMS_LENGTH,
    InvalidActionError,
    InvalidNumberError,
    is_audio_source,
    normalize_number,
    validate_action,
)
from .const import (
    ATTR_ACK_DIGIT,
    ATTR_ACTIONS,
    ATTR_CONNECT,
    ATTR_DRY_RUN,
    ATTR_ESCALATION_ID,
    ATTR_FLASH,
    ATTR_FROM,
    ATTR_LANGUAGE,
    ATTR_LEAD_IN,
    ATTR_MENU,
    ATTR_MESSAGE,
    ATTR_MODE,
    ATTR_PIN,
    ATTR_PLAY,
    ATTR_REPEAT,
    ATTR_REQUIRE_ACK,
    ATTR_ROUNDS,
    ATTR_SMS_FALLBACK,
    ATTR_SMS_FIRST,
    ATTR_SMS_MESSAGE,
    ATTR_TIMEOUT,
    ATTR_TO,
    ATTR_TTS_ENGINE,
    ATTR_TTS_OPTIONS,
    ATTR_WAIT,
    CONF_CALLER_ID,
    CONF_RING_TIMEOUT,
    DEFAULT_RING_TIMEOUT,
    DOMAIN,
    MAX_RING_TIMEOUT,
    MIN_RING_TIMEOUT,
    SERVICE_CALL,
    SERVICE_CANCEL,
    SERVICE_SEND_SMS,
)
from .dialer import invalid
from .models import CallPlan, CallRequest, MenuItem, Speech
from .runtime import ElksConfigEntry
from .sms import SmsRequest

MAX_RECIPIENTS = 250
_SOURCES = (ATTR_PLAY, ATTR_MESSAGE, ATTR_CONNECT, ATTR_ACTIONS)

CALL_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Required(ATTR_TO): probatio.All(
            cv.ensure_list, [cv.string], probatio.Length(min=1, max=MAX_RECIPIENTS)
        ),
        probatio.Optional(ATTR_FROM): cv.string,
        probatio.Optional(ATTR_PLAY): cv.string,
        probatio.Optional(ATTR_MESSAGE): cv.string,
        probatio.Optional(ATTR_TTS_ENGINE): cv.string,
        probatio.Optional(ATTR_LANGUAGE): cv.string,
        probatio.Optional(ATTR_TTS_OPTIONS): dict,
        probatio.Optional(ATTR_CONNECT): cv.string,
        probatio.Optional(ATTR_ACTIONS): probatio.Any(dict, cv.string),
        probatio.Optional(ATTR_TIMEOUT): probatio.All(
            probatio.Coerce(int),
            probatio.Range(min=MIN_RING_TIMEOUT, max=MAX_RING_TIMEOUT),
        ),
        probatio.Optional(ATTR_REPEAT, default=1): probatio.All(
            probatio.Coerce(int), probatio.Range(min=1, max=10)
        ),
        probatio.Optional(ATTR_LEAD_IN, default="none"): probatio.In(
            ["none", "beep", "pause"]
        ),
        probatio.Optional(ATTR_REQUIRE_ACK, default=False): cv.boolean,
        probatio.Optional(ATTR_ACK_DIGIT, default="1"): probatio.All(
            probatio.Coerce(str), probatio.Match(r"^[0-9*#]$")
        ),
        probatio.Optional(ATTR_MENU): dict,
        probatio.Optional(ATTR_PIN): probatio.All(
            probatio.Coerce(str), probatio.Match(r"^[0-9]{4,8}$")
        ),
        probatio.Optional(ATTR_MODE, default="parallel"): probatio.In(
            ["parallel", "sequential"]
        ),
        probatio.Optional(ATTR_ROUNDS, default=1): probatio.All(
            probatio.Coerce(int), probatio.Range(min=1, max=10)
        ),
        probatio.Optional(ATTR_WAIT, default=False): cv.boolean,
        probatio.Optional(ATTR_SMS_FIRST, default=False): cv.boolean,
        probatio.Optional(ATTR_SMS_FALLBACK, default=False): cv.boolean,
        probatio.Optional(ATTR_SMS_MESSAGE): probatio.All(
            cv.string, probatio.Length(min=1, max=MAX_SMS_LENGTH)
        ),
    }
)

CANCEL_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Required(ATTR_ESCALATION_ID): cv.string,
    }
)


SEND_SMS_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Required(ATTR_TO): probatio.All(
            cv.ensure_list, [cv.string], probatio.Length(min=1, max=MAX_RECIPIENTS)
        ),
        probatio.Required(ATTR_MESSAGE): probatio.All(
            cv.string, probatio.Length(min=1, max=MAX_SMS_LENGTH)
        ),
        probatio.Optional(ATTR_FROM): cv.string,
        probatio.Optional(ATTR_FLASH, default=False): cv.boolean,
        probatio.Optional(ATTR_DRY_RUN, default=False): cv.boolean,
    }
)


def _loaded_entries(hass: HomeAssistant) -> list[ElksConfigEntry]:
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]


def _entry_for_call(call: ServiceCall) -> ElksConfigEntry:
    """Return the account to call from: the one named, or the only one set up."""
    if entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID):
        entry: ElksConfigEntry = service.async_get_config_entry(
            call.hass, DOMAIN, entry_id
        )
        return entry
    loaded = _loaded_entries(call.hass)
    if not loaded:
        raise invalid("no_account")
    if len(loaded) > 1:
        raise invalid("account_required")
    return loaded[0]


def _number(value: str, field: str) -> str:
    try:
        return normalize_number(value)
    except InvalidNumberError as err:
        raise invalid("invalid_number", number=value, field=field) from err


def _sms_number(value: str) -> str:
    try:
        return normalize_number(value)
    except InvalidNumberError as err:
        raise invalid("invalid_sms_number", number=value) from err


def _menu(raw: Mapping[Any, Any]) -> dict[str, MenuItem]:
    """Return the keypad menu: digit -> label, or digit -> {connect: number}."""
    menu: dict[str, MenuItem] = {}
    for key, value in raw.items():
        digit = str(key)
        if len(digit) != 1 or digit not in "0123456789*#":
            raise invalid("invalid_menu_key", digit=digit)
        if isinstance(value, str) and value.strip():
            menu[digit] = MenuItem(label=value.strip())
        elif isinstance(value, dict) and isinstance(value.get(ATTR_CONNECT), str):
            label = str(value.get("label") or ATTR_CONNECT)
            menu[digit] = MenuItem(label, _number(value[ATTR_CONNECT], f"menu {digit}"))
        else:
            raise invalid("invalid_menu_entry", digit=digit)
    if not menu:
        raise invalid("empty_menu")
    return menu


def _raw_actions(raw: Any) -> JsonObjectType:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as err:
            raise invalid(
                "invalid_action", path=ATTR_ACTIONS, problem="not valid JSON"
            ) from err
    try:
        return validate_action(raw)
    except InvalidActionError as err:
        raise invalid("invalid_action", path=err.path, problem=err.problem) from err


def _check_flow(data: Mapping[str, Any]) -> None:
    """Refuse contradictory call flows."""
    given = [key for key in _SOURCES if key in data]
    if len(given) != 1:
        raise invalid("one_action_required")
    interactive = data[ATTR_REQUIRE_ACK] or ATTR_MENU in data or ATTR_PIN in data
    if interactive and given[0] not in (ATTR_PLAY, ATTR_MESSAGE):
        raise invalid("interactive_needs_audio")
    if data[ATTR_REQUIRE_ACK] and ATTR_MENU in data:
        raise invalid("ack_or_menu")
    if ATTR_PIN in data and ATTR_MENU not in data:
        raise invalid("pin_needs_menu")
    if ATTR_PLAY in data:
        source = data[ATTR_PLAY].strip()
        if not source.startswith("media-source://") and not is_audio_source(source):
            raise invalid("invalid_audio", source=source)


def call_plan(data: Mapping[str, Any]) -> CallPlan:
    """Check what the call does; audio is made later, right before dialling."""
    _check_flow(data)
    return CallPlan(
        connect=_number(data[ATTR_CONNECT], ATTR_CONNECT)
        if ATTR_CONNECT in data
        else None,
        actions=_raw_actions(data[ATTR_ACTIONS]) if ATTR_ACTIONS in data else None,
        repeat=data[ATTR_REPEAT],
        lead_in=data[ATTR_LEAD_IN],
        ack_digit=data[ATTR_ACK_DIGIT] if data[ATTR_REQUIRE_ACK] else None,
        menu=_menu(data[ATTR_MENU]) if ATTR_MENU in data else None,
        pin=data.get(ATTR_PIN),
    )


def _escalation_sms(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return the SMS an escalation sends: its text, first and/or as fallback."""
    first, fallback = data.get(ATTR_SMS_FIRST), data.get(ATTR_SMS_FALLBACK)
    if not first and not fallback:
        return {}
    if data.get(ATTR_MODE) != "sequential":
        raise invalid("sms_needs_sequential")
    text = data.get(ATTR_SMS_MESSAGE) or data.get(ATTR_MESSAGE)
    if not text:
        raise invalid("sms_needs_text")
    return {
        "sms_text": str(text)[:MAX_SMS_LENGTH],
        "sms_first": bool(first),
        "sms_fallback": bool(fallback),
    }


def call_request(data: Mapping[str, Any], options: Mapping[str, Any]) -> CallRequest:
    """Return the request for ``elks.call`` data (validated by CALL_SCHEMA).

    ``options`` are the account's: caller id and ring timeout when not given.
    """
    recipients = tuple(dict.fromkeys(_number(to, ATTR_TO) for to in data[ATTR_TO]))
    caller_id = data.get(ATTR_FROM) or options.get(CONF_CALLER_ID)
    if not caller_id:
        raise invalid("no_caller_id")
    return CallRequest(
        recipients=recipients,
        caller_id=_number(caller_id, ATTR_FROM),
        plan=call_plan(data),
        timeout=int(
            data.get(ATTR_TIMEOUT)
            or options.get(CONF_RING_TIMEOUT, DEFAULT_RING_TIMEOUT)
        ),
        speech=Speech(
            data[ATTR_MESSAGE],
            data.get(ATTR_TTS_ENGINE),
            data.get(ATTR_LANGUAGE),
            data.get(ATTR_TTS_OPTIONS),
        )
        if ATTR_MESSAGE in data
        else None,
        play=data[ATTR_PLAY].strip() if ATTR_PLAY in data else None,
        sequential=data[ATTR_MODE] == "sequential",
        rounds=data[ATTR_ROUNDS],
        require_ack=data[ATTR_REQUIRE_ACK],
        wait=data[ATTR_WAIT],
        **_escalation_sms(data),
    )


async def _async_call(call: ServiceCall) -> ServiceResponse:
    """Place calls: to every recipient at once, or one after another."""
    entry = _entry_for_call(call)
    request = call_request(call.data, entry.options)
    result = await entry.runtime_data.dialer.async_call(request)
    return result.as_response() if call.return_response else None


async def _async_send_sms(call: ServiceCall) -> ServiceResponse:
    """Send one SMS to each number (or, with ``dry_run``, only price them)."""
    entry = _entry_for_call(call)
    # Every number is checked before anything is sent.
    recipients = tuple(dict.fromkeys(_sms_number(to) for to in call.data[ATTR_TO]))
    sender = entry.runtime_data.sms
    request = SmsRequest(
        recipients=recipients,
        sender=await sender.async_check_sender(
            call.data.get(ATTR_FROM) or sender.default_sender()
        ),
        message=call.data[ATTR_MESSAGE],
        flash=call.data[ATTR_FLASH],
        dry_run=call.data[ATTR_DRY_RUN],
    )
    result = await sender.async_send(request)
    return result.as_response() if call.return_response else None


async def _async_cancel(call: ServiceCall) -> None:
    """Stop an escalation: no further calls are placed."""
    escalation_id = call.data[ATTR_ESCALATION_ID]
    entries = (
        [_entry_for_call(call)]
        if call.data.get(ATTR_CONFIG_ENTRY_ID)
        else _loaded_entries(call.hass)
    )
    for entry in entries:
        if entry.runtime_data.escalations.cancel(escalation_id):
            return
    raise invalid("unknown_escalation", escalation_id=escalation_id)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_CALL,
        _async_call,
        schema=CALL_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN, SERVICE_CANCEL, _async_cancel, schema=CANCEL_SCHEMA
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_SEND_SMS,
        _async_send_sms,
        schema=SEND_SMS_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
