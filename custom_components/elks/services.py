"""The ``elks.call`` and ``elks.cancel`` actions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
import json
from typing import Any, cast

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
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, service
from homeassistant.util.json import JsonValueType

from .api import (
    Call,
    InvalidActionError,
    InvalidNumberError,
    is_audio_source,
    normalize_number,
    validate_action,
)
from .audio import async_media_source_url, public_base_url, tts_url
from .const import (
    ATTR_ACK_DIGIT,
    ATTR_ACTIONS,
    ATTR_CONNECT,
    ATTR_ESCALATION_ID,
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
    ATTR_TIMEOUT,
    ATTR_TO,
    ATTR_TTS_ENGINE,
    ATTR_TTS_OPTIONS,
    ATTR_WAIT,
    CONF_CALLER_ID,
    CONF_RING_TIMEOUT,
    DEFAULT_RING_TIMEOUT,
    DOMAIN,
    LOGGER,
    MAX_RING_TIMEOUT,
    MIN_RING_TIMEOUT,
    SERVICE_CALL,
    SERVICE_CANCEL,
)
from .flows import CallPlan, MenuItem
from .models import ElksConfigEntry
from .placement import PlacementFailure, async_place_call

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
    }
)

CANCEL_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Required(ATTR_ESCALATION_ID): cv.string,
    }
)


def _invalid(translation_key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=translation_key,
        translation_placeholders=placeholders or None,
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
        raise _invalid("no_account")
    if len(loaded) > 1:
        raise _invalid("account_required")
    return loaded[0]


def _number(value: str, field: str) -> str:
    try:
        return normalize_number(value)
    except InvalidNumberError as err:
        raise _invalid("invalid_number", number=value, field=field) from err


def _menu(raw: dict[Any, Any]) -> dict[str, MenuItem]:
    """Return the keypad menu: digit -> label, or digit -> {connect: number}."""
    menu: dict[str, MenuItem] = {}
    for key, value in raw.items():
        digit = str(key)
        if len(digit) != 1 or digit not in "0123456789*#":
            raise _invalid(
                "invalid_menu", digit=digit, problem="keys are single keypad digits"
            )
        if isinstance(value, str) and value.strip():
            menu[digit] = MenuItem(label=value.strip())
        elif isinstance(value, dict) and isinstance(value.get(ATTR_CONNECT), str):
            label = str(value.get("label") or ATTR_CONNECT)
            menu[digit] = MenuItem(label, _number(value[ATTR_CONNECT], f"menu {digit}"))
        else:
            raise _invalid(
                "invalid_menu",
                digit=digit,
                problem="give a label, or connect: with a number",
            )
    if not menu:
        raise _invalid("invalid_menu", digit="-", problem="the menu is empty")
    return menu


def _raw_actions(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as err:
            raise _invalid(
                "invalid_action", path=ATTR_ACTIONS, problem="not valid JSON"
            ) from err
    try:
        return validate_action(raw)
    except InvalidActionError as err:
        raise _invalid("invalid_action", path=err.path, problem=err.problem) from err


def _plan_without_audio(data: dict[str, Any]) -> CallPlan:
    """Check what the call does; audio is resolved later, right before dialling."""
    given = [key for key in _SOURCES if key in data]
    if len(given) != 1:
        raise _invalid("one_action_required")
    plan = CallPlan(repeat=data[ATTR_REPEAT], lead_in=data[ATTR_LEAD_IN])
    interactive = data[ATTR_REQUIRE_ACK] or ATTR_MENU in data or ATTR_PIN in data
    if interactive and given[0] not in (ATTR_PLAY, ATTR_MESSAGE):
        raise _invalid("interactive_needs_audio")
    if data[ATTR_REQUIRE_ACK] and ATTR_MENU in data:
        raise _invalid("ack_or_menu")
    if ATTR_PIN in data and ATTR_MENU not in data:
        raise _invalid("pin_needs_menu")
    if ATTR_PLAY in data:
        source = data[ATTR_PLAY].strip()
        if not source.startswith("media-source://") and not is_audio_source(source):
            raise _invalid("invalid_audio", source=source)
    elif ATTR_CONNECT in data:
        plan.connect = _number(data[ATTR_CONNECT], ATTR_CONNECT)
    elif ATTR_ACTIONS in data:
        plan.actions = _raw_actions(data[ATTR_ACTIONS])
    if data[ATTR_REQUIRE_ACK]:
        plan.ack_digit = data[ATTR_ACK_DIGIT]
    if ATTR_MENU in data:
        plan.menu = _menu(data[ATTR_MENU])
    plan.pin = data.get(ATTR_PIN)
    return plan


async def _async_audio_maker(
    hass: HomeAssistant, entry: ElksConfigEntry, data: dict[str, Any]
) -> Callable[[], str] | None:
    """Return a function making the audio URL for one call, or None without audio."""
    if ATTR_MESSAGE in data:
        base = public_base_url(hass, entry.entry_id, entry.title)
        message: str = data[ATTR_MESSAGE]

        def speak() -> str:
            return tts_url(
                hass,
                base,
                message,
                engine=data.get(ATTR_TTS_ENGINE),
                language=data.get(ATTR_LANGUAGE),
                options=data.get(ATTR_TTS_OPTIONS),
            )

        # Made now so that a TTS problem fails the action before anybody is
        # called; the first call uses it, later ones get fresh audio.
        ready = [speak()]

        def next_audio() -> str:
            return ready.pop() if ready else speak()

        return next_audio
    if ATTR_PLAY in data:
        source: str = data[ATTR_PLAY].strip()
        if source.startswith("media-source://"):
            base = public_base_url(hass, entry.entry_id, entry.title)
            source = await async_media_source_url(hass, base, source)
        return lambda: source
    return None


async def _async_call(call: ServiceCall) -> ServiceResponse:
    """Place calls: to every recipient at once, or one after another."""
    hass = call.hass
    entry = _entry_for_call(call)
    data = dict(call.data)
    recipients = list(dict.fromkeys(_number(to, ATTR_TO) for to in data[ATTR_TO]))
    caller_id = data.get(ATTR_FROM) or entry.options.get(CONF_CALLER_ID)
    if not caller_id:
        raise _invalid("no_caller_id")
    caller_id = _number(caller_id, ATTR_FROM)
    plan = _plan_without_audio(data)
    sequential = data[ATTR_MODE] == "sequential"
    timeout = int(
        data.get(ATTR_TIMEOUT)
        or entry.options.get(CONF_RING_TIMEOUT, DEFAULT_RING_TIMEOUT)
    )
    runtime = entry.runtime_data
    hook_url = runtime.webhook.hangup_url()
    if hook_url is None and (plan.interactive or sequential or data[ATTR_WAIT]):
        raise _invalid("needs_webhook")
    make_audio = await _async_audio_maker(hass, entry, data)

    async def place(to: str) -> Call | PlacementFailure:
        # Fresh TTS audio per call: Home Assistant keeps it only minutes.
        call_plan = replace(plan, audio=make_audio()) if make_audio else plan
        return await async_place_call(
            hass,
            entry,
            to=to,
            caller_id=caller_id,
            plan=call_plan,
            timeout=timeout,
            hook_url=hook_url,
        )

    if sequential:
        return await _async_escalate(call, entry, recipients, data, place, timeout)

    results = await asyncio.gather(*(place(to) for to in recipients))
    placed = [result for result in results if isinstance(result, Call)]
    failures = [result for result in results if isinstance(result, PlacementFailure)]
    _log_failures(failures)
    if not placed:
        raise _all_failed(failures)
    calls = [_call_data(placed_call) for placed_call in placed]
    if data[ATTR_WAIT]:
        outcomes = await asyncio.gather(
            *(
                entry.runtime_data.tracker.async_outcome(placed_call.id, timeout)
                for placed_call in placed
            )
        )
        for call_data, outcome in zip(calls, outcomes, strict=True):
            call_data["outcome"] = outcome
            call_data["acknowledged"] = (
                outcome == "acknowledged" if plan.ack_digit else None
            )
    if not call.return_response:
        return None
    return {
        "calls": cast("list[JsonValueType]", calls),
        "errors": [cast("JsonValueType", failure.as_dict()) for failure in failures],
    }


async def _async_escalate(
    call: ServiceCall,
    entry: ElksConfigEntry,
    recipients: list[str],
    data: dict[str, Any],
    place: Callable[[str], Any],
    timeout: int,
) -> ServiceResponse:
    manager = entry.runtime_data.escalations
    escalation = manager.start(
        lambda coro, name: entry.async_create_background_task(call.hass, coro, name),
        recipients=recipients,
        rounds=data[ATTR_ROUNDS],
        require_ack=data[ATTR_REQUIRE_ACK],
        place=place,
        call_timeout=timeout,
    )
    if data[ATTR_WAIT]:
        await manager.async_wait(escalation.id)
        return {"escalation": escalation.as_dict()} if call.return_response else None
    first = await manager.async_first_call(escalation.id)
    if not call.return_response:
        return None
    return {"escalation_id": escalation.id, "first_call": first}


def _call_data(placed: Call) -> dict[str, Any]:
    return {
        "id": placed.id,
        "to": placed.to,
        "from": placed.from_number,
        "state": placed.state,
        "created": placed.created,
    }


def _log_failures(failures: list[PlacementFailure]) -> None:
    for failure in failures:
        LOGGER.error(
            "Call to %s was not placed (%s): %r%s",
            failure.to,
            failure.code,
            failure.message,
            " - it may have been placed anyway and was not retried"
            if failure.may_have_been_placed
            else "",
        )


def _all_failed(failures: list[PlacementFailure]) -> HomeAssistantError:
    """Return the translated error when nobody could be called."""
    if len(failures) == 1:
        failure = failures[0]
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=f"call_{failure.code}",
            translation_placeholders={"to": failure.to, "message": failure.message},
        )
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="no_call_placed",
        translation_placeholders={
            "errors": "; ".join(f"{f.to}: {f.message}" for f in failures)
        },
    )


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
    raise _invalid("unknown_escalation", escalation_id=escalation_id)


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
