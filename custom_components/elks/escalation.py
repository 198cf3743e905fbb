"""Escalation: call recipients one at a time until somebody answers or acknowledges.

A running escalation is stored before its first call and after every call,
so that one cut short by a stop, a reload or a crash is reported as
``interrupted`` when Home Assistant starts again instead of vanishing. Only
the user's own cancel (``elks.cancel``, or cancelling the action that waits
for it) ends an escalation as ``cancelled``: stopping Home Assistant cancels
its task too, and that must not look like a user's decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any
import uuid

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .api import Call
from .const import DOMAIN, LOGGER
from .events import CallEvents
from .issues import async_escalation_interrupted
from .placement import PlacementFailure

STORAGE_VERSION = 1
_RESULTS_THAT_STOP = {"acknowledged", "answered"}

PlaceCall = Callable[[str], Awaitable[Call | PlacementFailure]]
WaitForOutcome = Callable[[str, int], Awaitable[str]]


@dataclass(slots=True)
class Escalation:
    """One escalation and what happened so far."""

    id: str
    recipients: list[str]
    rounds: int
    require_ack: bool
    started: str
    attempts: list[dict[str, Any]] = field(default_factory=list)
    result: str = "running"
    answered_by: str | None = None
    finished: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the escalation as event and response data."""
        return {
            "escalation_id": self.id,
            "recipients": self.recipients,
            "rounds": self.rounds,
            "require_ack": self.require_ack,
            "started": self.started,
            "finished": self.finished,
            "result": self.result,
            "answered_by": self.answered_by,
            "attempts": self.attempts,
        }


class EscalationManager:
    """Runs the escalations of one config entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        events: CallEvents,
        outcome: WaitForOutcome,
    ) -> None:
        """Prepare; nothing runs until ``start``."""
        self._hass = hass
        self._entry_id = entry_id
        self._events = events
        self._outcome = outcome
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.escalations"
        )
        # Registered before their task runs, so that every save includes them.
        self._running: dict[str, Escalation] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._first_call: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # Escalations the user cancelled; any other cancellation interrupts.
        self._cancel_requested: set[str] = set()
        self._unloading = False

    async def async_load(self) -> None:
        """Report escalations that a stop or crash cut short."""
        data = await self._store.async_load() or {}
        interrupted = [Escalation(**item) for item in data.get("running", [])]
        for escalation in interrupted:
            self._report_interrupted(escalation)
        if interrupted:
            await self._async_save()

    @callback
    def _report_interrupted(self, escalation: Escalation) -> None:
        escalation.result = "interrupted"
        escalation.finished = dt_util.utcnow().isoformat()
        LOGGER.error(
            "Escalation %s was interrupted after %s call(s); nobody acknowledged it",
            escalation.id,
            len(escalation.attempts),
        )
        async_escalation_interrupted(
            self._hass,
            escalation.id,
            {
                "escalation_id": escalation.id,
                "started": escalation.started,
                "recipients": ", ".join(escalation.recipients),
                "calls": str(len(escalation.attempts)),
            },
        )
        self._events.escalation_finished(escalation.as_dict())

    async def async_remove(self) -> None:
        """Delete stored escalations (the entry is being removed)."""
        await self._store.async_remove()

    async def _async_save(self) -> None:
        await self._store.async_save(
            {"running": [asdict(escalation) for escalation in self._running.values()]}
        )

    @callback
    def start(
        self,
        entry_create_task: Callable[
            [Coroutine[Any, Any, None], str], asyncio.Task[None]
        ],
        *,
        recipients: list[str],
        rounds: int,
        require_ack: bool,
        place: PlaceCall,
        call_timeout: int,
    ) -> Escalation:
        """Start an escalation in the background; it is stored before its first call."""
        escalation = Escalation(
            id=uuid.uuid4().hex,
            recipients=recipients,
            rounds=rounds,
            require_ack=require_ack,
            started=dt_util.utcnow().isoformat(),
        )
        # Registered before the task starts (eagerly): its first, awaited save
        # must already include it, before the first POST /a1/calls.
        self._running[escalation.id] = escalation
        self._first_call[escalation.id] = self._hass.loop.create_future()
        task = entry_create_task(
            self._async_run(escalation, place, call_timeout),
            f"elks escalation {escalation.id}",
        )
        if escalation.id in self._running:
            self._tasks[escalation.id] = task
        return escalation

    async def async_first_call(self, escalation_id: str) -> dict[str, Any]:
        """Wait for the first attempt of an escalation to be placed (or fail).

        Cancelling the waiting action cancels the escalation: it has not
        even returned the escalation id that ``elks.cancel`` needs.
        """
        with self._cancel_with_action(escalation_id):
            return await asyncio.shield(self._first_call[escalation_id])

    async def async_wait(self, escalation_id: str) -> None:
        """Wait for an escalation to finish, however it finishes.

        Cancelling the waiting action (``script.turn_off``, an automation in
        ``restart`` mode) cancels the escalation too: it ends as
        ``cancelled``, with its event. A stop does not: the escalation stays
        stored and is reported as ``interrupted`` at the next start.
        """
        if (task := self._tasks.get(escalation_id)) is not None:
            with self._cancel_with_action(escalation_id):
                await asyncio.wait([task])

    @contextmanager
    def _cancel_with_action(self, escalation_id: str) -> Iterator[None]:
        try:
            yield
        except asyncio.CancelledError:
            if not self._hass.is_stopping and self.cancel(escalation_id):
                LOGGER.warning(
                    "Escalation %s is cancelled: the action that started it was cancelled",
                    escalation_id,
                )
            raise

    @property
    def running_count(self) -> int:
        """Number of escalations running now."""
        return len(self._running)

    @callback
    def cancel(self, escalation_id: str) -> bool:
        """Stop an escalation on the user's request; no further calls are placed."""
        if (task := self._tasks.get(escalation_id)) is None or task.done():
            return False
        self._cancel_requested.add(escalation_id)
        task.cancel()
        return True

    async def _async_run(
        self, escalation: Escalation, place: PlaceCall, call_timeout: int
    ) -> None:
        first = self._first_call[escalation.id]
        interrupted = False
        try:
            # Written now, not delayed: a crash during the first call is reported.
            await self._async_save()
            for round_number in range(1, escalation.rounds + 1):
                for to in escalation.recipients:
                    attempt: dict[str, Any] = {"round": round_number, "to": to}
                    escalation.attempts.append(attempt)
                    outcome = await self._async_attempt(
                        attempt, place, call_timeout, first
                    )
                    if outcome in _RESULTS_THAT_STOP and (
                        outcome == "acknowledged" or not escalation.require_ack
                    ):
                        escalation.result = outcome
                        escalation.answered_by = to
                        return
                    await self._async_save()
            escalation.result = "exhausted"
        except asyncio.CancelledError:
            if escalation.id in self._cancel_requested:
                escalation.result = "cancelled"
            else:  # Home Assistant stops, or the entry unloads
                interrupted = True
            raise
        finally:
            self._cancel_requested.discard(escalation.id)
            if not first.done():
                first.set_result({})
            if interrupted and not self._hass.is_stopping and not self._unloading:
                # Cancelled by neither the user nor a stop: say so now.
                self._report_interrupted(escalation)
                await self._async_finish(escalation)
            elif interrupted or self._unloading:
                # Stays stored, with the call in progress: the next start
                # reports it. While stopping, the write happens in the final
                # write stage, before Home Assistant exits.
                await asyncio.shield(self._async_save())
                # What an action still waiting for it returns (stored as running).
                escalation.result = "interrupted"
            else:
                await self._async_finish(escalation)

    async def _async_finish(self, escalation: Escalation) -> None:
        self._running.pop(escalation.id, None)
        self._tasks.pop(escalation.id, None)
        self._first_call.pop(escalation.id, None)
        if escalation.result != "interrupted":  # else already reported
            escalation.finished = dt_util.utcnow().isoformat()
            self._events.escalation_finished(escalation.as_dict())
        # Shielded: a cancelled escalation must still be removed from storage.
        await asyncio.shield(self._async_save())

    async def _async_attempt(
        self,
        attempt: dict[str, Any],
        place: PlaceCall,
        call_timeout: int,
        first: asyncio.Future[dict[str, Any]],
    ) -> str:
        result = await place(attempt["to"])
        if isinstance(result, PlacementFailure):
            attempt.update(
                outcome="not_placed", error=result.code, message=result.message
            )
        else:
            attempt["call_id"] = result.id
        if not first.done():
            first.set_result(dict(attempt))
        if isinstance(result, PlacementFailure):
            return "not_placed"
        # The call id is stored, so that a crash during the call is reported with it.
        await self._async_save()
        # "unknown" when no hangup came: move on rather than wait forever.
        outcome = await self._outcome(result.id, call_timeout)
        attempt["outcome"] = outcome
        return outcome

    async def async_unload(self) -> None:
        """Stop running escalations but keep them stored as running.

        Unload happens on stop or reload; the next load reports them as
        interrupted.
        """
        self._unloading = True
        await self._async_save()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()
        self._tasks.clear()
