"""The ``elks.call`` action."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
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
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, service

from .api import (
    Call,
    ElksAuthenticationError,
    ElksCallOutcomeUnknownError,
    ElksConnectionError,
    ElksError,
    ElksRateLimitedError,
    ElksRequestError,
    InvalidActionError,
    InvalidNumberError,
    connect_action,
    is_audio_source,
    normalize_number,
    play_action,
    validate_action,
)
from .const import (
    ATTR_ACTIONS,
    ATTR_CONNECT,
    ATTR_FROM,
    ATTR_PLAY,
    ATTR_TIMEOUT,
    ATTR_TO,
    CONF_CALLER_ID,
    CONF_RING_TIMEOUT,
    DEFAULT_RING_TIMEOUT,
    DOMAIN,
    LOGGER,
    MAX_RING_TIMEOUT,
    MIN_RING_TIMEOUT,
    SERVICE_CALL,
)
from .models import ElksConfigEntry

MAX_RECIPIENTS = 250

CALL_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Required(ATTR_TO): probatio.All(
            cv.ensure_list, [cv.string], probatio.Length(min=1, max=MAX_RECIPIENTS)
        ),
        probatio.Optional(ATTR_FROM): cv.string,
        probatio.Optional(ATTR_PLAY): cv.string,
        probatio.Optional(ATTR_CONNECT): cv.string,
        probatio.Optional(ATTR_ACTIONS): probatio.Any(dict, cv.string),
        probatio.Optional(ATTR_TIMEOUT): probatio.All(
            probatio.Coerce(int),
            probatio.Range(min=MIN_RING_TIMEOUT, max=MAX_RING_TIMEOUT),
        ),
    }
)


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why one recipient was not called."""

    to: str
    code: str
    message: str
    may_have_been_placed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "error": self.code,
            "message": self.message,
            "may_have_been_placed": self.may_have_been_placed,
        }


def _entry_for_call(call: ServiceCall) -> ElksConfigEntry:
    """Return the account to call from: the one named, or the only one set up."""
    if entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID):
        entry: ElksConfigEntry = service.async_get_config_entry(
            call.hass, DOMAIN, entry_id
        )
        return entry
    loaded = [
        entry
        for entry in call.hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]
    if not loaded:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_account"
        )
    if len(loaded) > 1:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="account_required"
        )
    return loaded[0]


def _number(value: str, field: str) -> str:
    try:
        return normalize_number(value)
    except InvalidNumberError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_number",
            translation_placeholders={"number": value, "field": field},
        ) from err


def _voice_start(data: dict[str, Any], caller_id: str) -> dict[str, Any]:
    """Return the first action of the call: exactly one of play, connect or actions."""
    given = [key for key in (ATTR_PLAY, ATTR_CONNECT, ATTR_ACTIONS) if key in data]
    if len(given) != 1:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="one_action_required"
        )
    if ATTR_PLAY in data:
        source = data[ATTR_PLAY].strip()
        if not is_audio_source(source):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_audio",
                translation_placeholders={"source": source},
            )
        return play_action(source)
    if ATTR_CONNECT in data:
        return connect_action(_number(data[ATTR_CONNECT], ATTR_CONNECT), caller_id)
    raw = data[ATTR_ACTIONS]
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_action",
                translation_placeholders={
                    "path": ATTR_ACTIONS,
                    "problem": "not valid JSON",
                },
            ) from err
    try:
        return validate_action(raw)
    except InvalidActionError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_action",
            translation_placeholders={"path": err.path, "problem": err.problem},
        ) from err


def _failure(to: str, err: ElksError) -> _Failure:
    if isinstance(err, ElksRequestError):
        return _Failure(to, "rejected", err.message)
    if isinstance(err, ElksCallOutcomeUnknownError):
        return _Failure(to, "outcome_unknown", str(err), may_have_been_placed=True)
    if isinstance(err, ElksAuthenticationError):
        return _Failure(to, "auth_failed", "46elks rejected the API credentials")
    if isinstance(err, ElksRateLimitedError):
        return _Failure(to, "rate_limited", "46elks asked to slow down (HTTP 429)")
    if isinstance(err, ElksConnectionError):
        return _Failure(to, "cannot_connect", str(err))
    return _Failure(to, "unexpected_response", str(err))


def _error_for(failure: _Failure) -> HomeAssistantError:
    """Return the translated error for the only recipient, who could not be called."""
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=f"call_{failure.code}",
        translation_placeholders={"to": failure.to, "message": failure.message},
    )


async def _async_call(call: ServiceCall) -> ServiceResponse:
    """Place a call to every recipient at once."""
    entry = _entry_for_call(call)
    data = call.data
    recipients = list(dict.fromkeys(_number(to, ATTR_TO) for to in data[ATTR_TO]))
    caller_id = data.get(ATTR_FROM) or entry.options.get(CONF_CALLER_ID)
    if not caller_id:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_caller_id"
        )
    caller_id = _number(caller_id, ATTR_FROM)
    voice_start = _voice_start(dict(data), caller_id)
    timeout = int(
        data.get(ATTR_TIMEOUT)
        or entry.options.get(CONF_RING_TIMEOUT, DEFAULT_RING_TIMEOUT)
    )

    runtime = entry.runtime_data
    hangup_url = runtime.webhook.hangup_url()
    tracker = runtime.tracker

    async def place(to: str) -> Call | _Failure:
        tracker.placement_started()
        try:
            placed = await runtime.client.place_call(
                from_number=caller_id,
                to=to,
                voice_start=voice_start,
                whenhangup=hangup_url,
                timeout=timeout,
            )
        except ElksError as err:
            failure = _failure(to, err)
            tracker.placement_failed(
                to, caller_id, may_exist=failure.may_have_been_placed
            )
            return failure
        tracker.placement_succeeded(placed)
        return placed

    results = await asyncio.gather(*(place(to) for to in recipients))
    placed = [result for result in results if isinstance(result, Call)]
    failures = [result for result in results if isinstance(result, _Failure)]

    if any(failure.code == "auth_failed" for failure in failures):
        entry.async_start_reauth(call.hass)
    for failure in failures:
        LOGGER.error(
            "Call to %s was not placed (%s): %s%s",
            failure.to,
            failure.code,
            failure.message,
            " - it may have been placed anyway and was not retried"
            if failure.may_have_been_placed
            else "",
        )
    if not placed:
        if len(failures) == 1:
            raise _error_for(failures[0])
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="no_call_placed",
            translation_placeholders={
                "errors": "; ".join(f"{f.to}: {f.message}" for f in failures)
            },
        )
    if not call.return_response:
        return None
    return {
        "calls": [
            {
                "id": placed_call.id,
                "to": placed_call.to,
                "from": placed_call.from_number,
                "state": placed_call.state,
                "created": placed_call.created,
            }
            for placed_call in placed
        ],
        "errors": [failure.as_dict() for failure in failures],
    }


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
