"""Placing one call: one POST, its bookkeeping, and an honest failure report."""

from __future__ import annotations

from dataclasses import dataclass
import time
from typing import Any

from homeassistant.core import HomeAssistant

from .api import (
    Call,
    ElksAuthenticationError,
    ElksCallOutcomeUnknownError,
    ElksConnectionError,
    ElksError,
    ElksRateLimitedError,
    ElksRequestError,
)
from .const import LOGGER
from .flows import CallPlan, inline_voice_start
from .models import ElksConfigEntry


@dataclass(frozen=True, slots=True)
class PlacementFailure:
    """Why one recipient was not called."""

    to: str
    code: str
    message: str
    may_have_been_placed: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the failure as response data."""
        return {
            "to": self.to,
            "error": self.code,
            "message": self.message,
            "may_have_been_placed": self.may_have_been_placed,
        }


def failure_for(to: str, err: ElksError) -> PlacementFailure:
    """Describe an API error for one recipient."""
    if isinstance(err, ElksRequestError):
        return PlacementFailure(to, "rejected", err.message)
    if isinstance(err, ElksCallOutcomeUnknownError):
        return PlacementFailure(
            to, "outcome_unknown", str(err), may_have_been_placed=True
        )
    if isinstance(err, ElksAuthenticationError):
        return PlacementFailure(
            to, "auth_failed", "46elks rejected the API credentials"
        )
    if isinstance(err, ElksRateLimitedError):
        return PlacementFailure(
            to, "rate_limited", "46elks asked to slow down (HTTP 429)"
        )
    if isinstance(err, ElksConnectionError):
        return PlacementFailure(to, "cannot_connect", str(err))
    return PlacementFailure(to, "unexpected_response", str(err))


async def async_place_call(
    hass: HomeAssistant,
    entry: ElksConfigEntry,
    *,
    to: str,
    caller_id: str,
    plan: CallPlan,
    timeout: int,
    hook_url: str | None,
) -> Call | PlacementFailure:
    """Place one call with exactly one ``POST /calls``; never retried.

    Interactive plans need ``hook_url``: 46elks asks it for each next step.
    """
    runtime = entry.runtime_data
    if plan.interactive:
        assert hook_url is not None
        voice_start: dict[str, Any] | str = hook_url
    else:
        voice_start = inline_voice_start(plan, caller_id)
    tracker = runtime.tracker
    sent_at = time.time()
    tracker.placement_started()
    try:
        placed = await runtime.client.place_call(
            from_number=caller_id,
            to=to,
            voice_start=voice_start,
            whenhangup=hook_url,
            timeout=timeout,
        )
    except ElksError as err:
        failure = failure_for(to, err)
        tracker.placement_failed(
            to,
            caller_id,
            may_exist=failure.may_have_been_placed,
            sent_at=sent_at,
            ring_timeout=timeout,
        )
        if failure.code == "auth_failed":
            entry.async_start_reauth(hass)
        return failure
    except BaseException as err:
        # Cancelled (script stopped, automation restarted, shutdown) or a
        # bug: the POST may have reached 46elks, so its hangup must still be
        # recognised, and the placement must not count as under way forever.
        tracker.placement_failed(
            to, caller_id, may_exist=True, sent_at=sent_at, ring_timeout=timeout
        )
        LOGGER.warning(
            "Placing the call to %r was interrupted (%s); 46elks may have placed it",
            to,
            type(err).__name__,
        )
        raise
    tracker.placement_succeeded(placed, plan)
    return placed
