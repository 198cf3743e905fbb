"""Learn from 46elks itself how calls ended whose hangup webhook never came.

46elks reports the end of a call once, to ``whenhangup``, and does not retry
a delivery Home Assistant acknowledged. Home Assistant acknowledges (200) a
webhook id that is not registered yet, so a hangup that arrives while Home
Assistant starts, or while the entry waits to retry its setup, is lost; and
without a public URL no hangup is ever sent. ``GET /calls/{id}`` still knows.

After setup every call left open in storage is asked about at once; later an
open call is asked about once its hangup is overdue (ring timeout plus a
margin), then less and less often while 46elks says it is still ongoing. A
call whose hangup arrives in time costs no request at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
import time
from typing import Final

from homeassistant.core import callback
from homeassistant.helpers.event import async_track_time_interval

from .api import ElksError, ElksRateLimitedError, ElksRequestError
from .const import CONF_RING_TIMEOUT, DEFAULT_RING_TIMEOUT, LOGGER
from .models import AccountContext, HangupDisposition
from .tracker import CallTracker

# How often open calls are looked at; a look costs nothing when none is due.
RECONCILE_INTERVAL: Final = timedelta(seconds=30)
# A hangup is overdue this long after the ring timeout: long enough for a
# short message to be played, short enough to report soon without a URL.
OVERDUE_MARGIN_SECONDS: Final = 60.0
# Back-off between questions about one call (still ongoing, or an error),
# and between passes while 46elks fails.
BACKOFF_START_SECONDS: Final = 60.0
BACKOFF_MAX_SECONDS: Final = 30 * 60.0
# At most this many requests per pass, one at a time.
MAX_REQUESTS_PER_PASS: Final = 20
# 46elks answering 404 this many times for a call makes us forget it.
NOT_FOUND_LIMIT: Final = 3


class Reconciled(StrEnum):
    """What one question to 46elks about a call led to."""

    ENDED = "ended"
    ONGOING = "ongoing"
    NOT_OPEN = "not_open"
    NOT_FOUND = "not_found"
    FORGOTTEN = "forgotten"
    FAILED = "failed"


@dataclass(slots=True)
class _Due:
    """When to ask about one open call next."""

    at: float  # wall clock, as the tracker's placement times
    delay: float = BACKOFF_START_SECONDS
    not_found: int = 0

    def back_off(self, now: float) -> None:
        self.at = now + self.delay
        self.delay = min(self.delay * 2, BACKOFF_MAX_SECONDS)


class CallReconciler:
    """Ends open calls of one entry from ``GET /calls/{id}`` when no hangup came."""

    def __init__(self, account: AccountContext, tracker: CallTracker) -> None:
        """Prepare; nothing is asked before :meth:`async_start`."""
        self._account = account
        self._tracker = tracker
        self._due: dict[str, _Due] = {}
        self._running = False
        # While 46elks fails: no pass before this (wall clock), the next
        # pause, and whether the failure was logged already.
        self._paused_until = 0.0
        self._pause = BACKOFF_START_SECONDS
        self._failing = False
        self.requests = 0
        self.ended = 0
        self.forgotten = 0
        self.errors = 0

    @callback
    def async_start(self) -> None:
        """Ask now about calls left open before setup; then look periodically."""
        now = time.time()
        for call_id in self._tracker.open_calls():
            # Their hangup may have been acknowledged and dropped while the
            # webhook was not registered: no reason to wait.
            self._due[call_id] = _Due(now)
        self._account.entry.async_on_unload(
            async_track_time_interval(
                self._account.hass,
                self._async_tick,
                RECONCILE_INTERVAL,
                name="46elks call reconciliation",
                cancel_on_shutdown=True,
            )
        )
        self._async_tick()

    @property
    def diagnostics(self) -> dict[str, int | bool]:
        """Counts only: no call ids, no numbers."""
        now = time.time()
        return {
            "open_calls_watched": len(self._due),
            "overdue": sum(1 for due in self._due.values() if due.at <= now),
            "requests": self.requests,
            "ended": self.ended,
            "forgotten": self.forgotten,
            "errors": self.errors,
            "failing": self._failing,
        }

    @callback
    def _async_tick(self, _now: datetime | None = None) -> None:
        """Start a pass when a call is due and none is running."""
        if self._running:
            return
        now = time.time()
        self._sync(now)
        if now < self._paused_until or not any(
            due.at <= now for due in self._due.values()
        ):
            return
        self._running = True
        self._account.entry.async_create_background_task(
            self._account.hass, self._async_pass(), "46elks call reconciliation"
        )

    def _sync(self, now: float) -> None:
        """Watch newly placed calls; drop those that ended or were forgotten."""
        open_calls = self._tracker.open_calls()
        for call_id in [cid for cid in self._due if cid not in open_calls]:
            del self._due[call_id]
        ring_timeout = float(
            self._account.entry.options.get(CONF_RING_TIMEOUT, DEFAULT_RING_TIMEOUT)
        )
        for call_id, placed_at in open_calls.items():
            if call_id not in self._due:
                self._due[call_id] = _Due(
                    placed_at + ring_timeout + OVERDUE_MARGIN_SECONDS
                )

    async def _async_pass(self) -> None:
        """Ask about the most overdue calls, a bounded number, one at a time."""
        try:
            now = time.time()
            due = sorted(
                (item.at, call_id)
                for call_id, item in self._due.items()
                if item.at <= now
            )
            for _, call_id in due[:MAX_REQUESTS_PER_PASS]:
                result = await self._async_reconcile(call_id)
                if result is Reconciled.FAILED:
                    # 46elks is unwell: the other calls wait for the next pass.
                    break
        finally:
            self._running = False

    async def _async_reconcile(self, call_id: str) -> Reconciled:
        due = self._due.get(call_id)
        if due is None or call_id not in self._tracker.open_calls():
            self._due.pop(call_id, None)
            return Reconciled.NOT_OPEN
        self.requests += 1
        try:
            call = await self._account.client.get_call(call_id)
        except ValueError:
            return self._forget(call_id, "its id is not one 46elks gives")
        except ElksRequestError as err:
            if err.status != 404:
                return self._failed(call_id, err)
            self._succeeded()
            due.not_found += 1
            if due.not_found >= NOT_FOUND_LIMIT:
                return self._forget(call_id, "46elks does not know it")
            LOGGER.debug("46elks does not know call %r (yet)", call_id)
            due.back_off(time.time())
            return Reconciled.NOT_FOUND
        except ElksError as err:
            return self._failed(call_id, err)
        self._succeeded()
        if call.id != call_id:
            return self._failed(call_id, None)
        outcome = self._tracker.call_reported(call_id, call)
        LOGGER.debug("Call %r as 46elks reports it: %s", call_id, outcome)
        if outcome is HangupDisposition.ONGOING:
            due.back_off(time.time())
            return Reconciled.ONGOING
        self._due.pop(call_id, None)
        if outcome is HangupDisposition.APPLIED:
            self.ended += 1
            return Reconciled.ENDED
        return Reconciled.NOT_OPEN

    def _forget(self, call_id: str, why: str) -> Reconciled:
        LOGGER.warning("Forgetting call %r without an end: %s", call_id, why)
        self._due.pop(call_id, None)
        if self._tracker.call_reported(call_id, None) is HangupDisposition.FORGOTTEN:
            self.forgotten += 1
        return Reconciled.FORGOTTEN

    def _failed(self, call_id: str, err: ElksError | None) -> Reconciled:
        """Back off that call and the whole reconciliation; log once per outage."""
        now = time.time()
        self.errors += 1
        if (due := self._due.get(call_id)) is not None:
            due.back_off(now)
        pause = self._pause
        if isinstance(err, ElksRateLimitedError) and err.retry_after:
            pause = max(pause, err.retry_after)
        self._paused_until = now + pause
        self._pause = min(self._pause * 2, BACKOFF_MAX_SECONDS)
        # The type and status only: 46elks' text may quote the request.
        what = _describe(err)
        if self._failing:
            LOGGER.debug("Asking 46elks how calls ended failed again: %s", what)
        else:
            self._failing = True
            LOGGER.warning(
                "Cannot ask 46elks how calls ended (%s); trying again later", what
            )
        return Reconciled.FAILED

    def _succeeded(self) -> None:
        self._paused_until = 0.0
        self._pause = BACKOFF_START_SECONDS
        if self._failing:
            self._failing = False
            LOGGER.info("46elks answers again: learning how calls ended")


def _describe(err: ElksError | None) -> str:
    if err is None:
        return "it answered about another call"
    if isinstance(err, ElksRequestError):
        return f"HTTP {err.status}"
    return type(err).__name__
