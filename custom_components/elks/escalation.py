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
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
import uuid

from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError

from .const import CONF_RECIPIENT_NUMBER, LOGGER, SUBENTRY_RECIPIENT
from .models import (
    AccountContext,
    CallOutcome,
    Dialing,
    Escalation,
    EscalationAttempt,
    EscalationResult,
    FailureCode,
    Placement,
    PlacementFailure,
    now_timestamp,
)
from .repairs import async_escalation_interrupted
from .signals import CallSignals
from .storage import StoreKind, entry_store

# Outcomes that end an escalation (answered only when no acknowledgement is required).
_STOPS: dict[CallOutcome, EscalationResult] = {
    CallOutcome.ACKNOWLEDGED: EscalationResult.ACKNOWLEDGED,
    CallOutcome.ANSWERED: EscalationResult.ANSWERED,
}

# A person 46elks could not be asked to call (unreachable, or "slow down"):
# certainly not called, and likely soon possible. They are tried again after
# these pauses (s), about 6 minutes in all, before the next person: an
# internet outage does not use up an alarm's escalation in an instant.
RETRY_PAUSES = (5, 10, 20, 40, 60, 60, 60, 60, 60)
_PASSING_FAILURES = frozenset({FailureCode.CANNOT_CONNECT, FailureCode.RATE_LIMITED})

PlaceCall = Callable[[Dialing, str], Awaitable[Placement]]
WaitForOutcome = Callable[[str, int], Awaitable[CallOutcome]]
# Sends one SMS to each number (the SmsSender's default sender).
TextRecipients = Callable[[tuple[str, ...], str], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Outreach:
    """How an escalation reaches people: the Dialer's and the SmsSender's means."""

    # Places one call.
    place: PlaceCall
    # Waits for a placed call's end.
    outcome: WaitForOutcome
    # Sends the SMS of escalations that text.
    text: TextRecipients


TEXT_FIRST = "first"
TEXT_FALLBACK = "fallback"
# The line the fallback SMS ends with, naming who was called (by language).
_FALLBACK_LINES = {
    (True, "en"): "Nobody acknowledged. Called: {who}.",
    (False, "en"): "Nobody answered. Called: {who}.",
    (True, "sv"): "Ingen kvitterade. Ringde: {who}.",
    (False, "sv"): "Ingen svarade. Ringde: {who}.",
}


class EscalationManager:
    """Runs the escalations of one config entry."""

    def __init__(
        self, account: AccountContext, signals: CallSignals, outreach: Outreach
    ) -> None:
        """Prepare to call and text people through ``outreach``."""
        self._account = account
        self._signals = signals
        self._outreach = outreach
        self._store = entry_store(
            account.hass, account.entry.entry_id, StoreKind.ESCALATIONS
        )
        # Registered before their task runs, so that every save includes them.
        self._running: dict[str, Escalation] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._first_call: dict[str, asyncio.Future[EscalationAttempt | None]] = {}
        # Escalations the user cancelled; any other cancellation interrupts.
        self._cancel_requested: set[str] = set()
        self._unloading = False

    async def async_load(self) -> None:
        """Report escalations that a stop or crash cut short."""
        data = await self._store.async_load() or {}
        running = data.get("running")
        interrupted = [
            Escalation.from_stored(item)
            for item in (running if isinstance(running, list) else [])
            if isinstance(item, dict)
        ]
        for escalation in interrupted:
            self._report_interrupted(escalation)
        if interrupted:
            await self._async_save()
        for escalation in interrupted:
            self._fallback_later(escalation)

    @callback
    def _fallback_later(self, escalation: Escalation) -> None:
        """Send an interrupted escalation's fallback: nobody acknowledged it."""
        if escalation.sms_fallback:
            self._account.entry.async_create_background_task(
                self._account.hass,
                self._async_text(escalation, TEXT_FALLBACK),
                f"elks escalation {escalation.id} fallback SMS",
            )

    @callback
    def _report_interrupted(self, escalation: Escalation) -> None:
        escalation.result = EscalationResult.INTERRUPTED
        escalation.finished = now_timestamp()
        LOGGER.error(
            "Escalation %s was interrupted after %s call(s); nobody acknowledged it",
            escalation.id,
            len(escalation.attempts),
        )
        async_escalation_interrupted(
            self._account.hass,
            escalation.id,
            {
                "escalation_id": escalation.id,
                "started": escalation.started,
                "recipients": ", ".join(escalation.recipients),
                "calls": str(len(escalation.attempts)),
            },
        )
        self._signals.escalation_finished(escalation.as_dict())

    async def _async_save(self) -> None:
        await self._store.async_save(
            {"running": [escalation.stored() for escalation in self._running.values()]}
        )

    @callback
    def start(self, dialing: Dialing) -> Escalation:
        """Start an escalation in the background; it is stored before its first call."""
        request = dialing.request
        escalation = Escalation(
            id=uuid.uuid4().hex,
            recipients=list(request.recipients),
            rounds=request.rounds,
            require_ack=request.require_ack,
            started=now_timestamp(),
            sms_text=request.sms_text,
            sms_first=request.sms_first,
            sms_fallback=request.sms_fallback,
        )
        # Registered before the task starts (eagerly): its first, awaited save
        # must already include it, before the first POST /a1/calls.
        self._running[escalation.id] = escalation
        self._first_call[escalation.id] = self._account.hass.loop.create_future()
        task = self._account.entry.async_create_background_task(
            self._account.hass,
            self._async_run(escalation, dialing),
            f"elks escalation {escalation.id}",
        )
        if escalation.id in self._running:
            self._tasks[escalation.id] = task
        return escalation

    async def async_first_call(self, escalation_id: str) -> EscalationAttempt | None:
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
            if not self._account.hass.is_stopping and self.cancel(escalation_id):
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

    async def _async_run(self, escalation: Escalation, dialing: Dialing) -> None:
        first = self._first_call[escalation.id]
        interrupted = False
        try:
            # Written now, not delayed: a crash during the first call is reported.
            await self._async_save()
            escalation.result = await self._async_rounds(escalation, dialing, first)
            if (
                escalation.result is EscalationResult.EXHAUSTED
                and escalation.sms_fallback
            ):
                await self._async_text(escalation, TEXT_FALLBACK)
        except asyncio.CancelledError:
            if escalation.id in self._cancel_requested:
                escalation.result = EscalationResult.CANCELLED
            else:  # Home Assistant stops, or the entry unloads
                interrupted = True
            raise
        finally:
            self._cancel_requested.discard(escalation.id)
            if dialing.release is not None:
                dialing.release()
            if not first.done():
                first.set_result(None)
            if (
                interrupted
                and not self._account.hass.is_stopping
                and not self._unloading
            ):
                # Cancelled by neither the user nor a stop: say so now.
                self._report_interrupted(escalation)
                await self._async_finish(escalation)
                self._fallback_later(escalation)
            elif interrupted or self._unloading:
                # Stays stored, with the call in progress: the next start
                # reports it. While stopping, the write happens in the final
                # write stage, before Home Assistant exits.
                await asyncio.shield(self._async_save())
                # What an action still waiting for it returns (stored as running).
                escalation.result = EscalationResult.INTERRUPTED
            else:
                await self._async_finish(escalation)

    async def _async_rounds(
        self,
        escalation: Escalation,
        dialing: Dialing,
        first: asyncio.Future[EscalationAttempt | None],
    ) -> EscalationResult:
        """Call each recipient in turn, round after round, until one stops it."""
        if escalation.sms_first:
            await self._async_text(escalation, TEXT_FIRST)
        for round_number in range(1, escalation.rounds + 1):
            for to in escalation.recipients:
                outcome = await self._async_call_person(
                    escalation, dialing, first, EscalationAttempt(round_number, to)
                )
                if (result := _STOPS.get(outcome)) is not None and (
                    outcome is CallOutcome.ACKNOWLEDGED or not escalation.require_ack
                ):
                    escalation.answered_by = to
                    return result
                # Not written here, between this hangup and the next POST:
                # the save after the next placement (or the final one)
                # carries this outcome too. Until then a crash finds the
                # escalation stored, running, with this call.
        return EscalationResult.EXHAUSTED

    async def _async_call_person(
        self,
        escalation: Escalation,
        dialing: Dialing,
        first: asyncio.Future[EscalationAttempt | None],
        attempt: EscalationAttempt,
    ) -> CallOutcome:
        """Call one person; while 46elks cannot take the call, try again after a pause.

        Each try is an attempt of its own (``not_placed`` with its error).
        """
        pauses = iter(RETRY_PAUSES)
        while True:
            escalation.attempts.append(attempt)
            outcome = await self._async_attempt(attempt, dialing, first)
            if (
                attempt.error not in _PASSING_FAILURES
                or (pause := next(pauses, None)) is None
            ):
                return outcome
            LOGGER.warning(
                "Escalation %s: the call to %s was not placed (%s); trying again in %s s",
                escalation.id,
                attempt.to,
                attempt.error,
                pause,
            )
            await asyncio.sleep(pause)
            attempt = EscalationAttempt(attempt.round, attempt.to)

    async def _async_text(self, escalation: Escalation, kind: str) -> None:
        """Text every recipient, once per escalation and kind, whatever restarts.

        Noted and stored before the POSTs: an SMS that may have gone out is
        never sent again. A failure is logged; the calls go on.
        """
        if kind in escalation.texts or escalation.sms_text is None:
            return
        escalation.texts.append(kind)
        await self._async_save()
        text = escalation.sms_text
        if kind == TEXT_FALLBACK:
            text = f"{text}\n{self._fallback_line(escalation)}"
        try:
            await self._outreach.text(tuple(escalation.recipients), text)
        except HomeAssistantError as err:
            LOGGER.error(
                "The %s SMS of escalation %s was not sent: %s", kind, escalation.id, err
            )

    def _fallback_line(self, escalation: Escalation) -> str:
        """Name who was called: recipients by their name too, when they are one."""
        names = {
            str(sub.data.get(CONF_RECIPIENT_NUMBER)): sub.title
            for sub in self._account.entry.subentries.values()
            if sub.subentry_type == SUBENTRY_RECIPIENT
        }
        tried = dict.fromkeys(attempt.to for attempt in escalation.attempts)
        who = ", ".join(f"{names[to]} ({to})" if to in names else to for to in tried)
        language = "sv" if self._account.hass.config.language.startswith("sv") else "en"
        line = _FALLBACK_LINES[escalation.require_ack, language]
        return line.format(who=who or "-")

    async def _async_finish(self, escalation: Escalation) -> None:
        self._running.pop(escalation.id, None)
        self._tasks.pop(escalation.id, None)
        self._first_call.pop(escalation.id, None)
        if escalation.result is not EscalationResult.INTERRUPTED:  # else reported
            escalation.finished = now_timestamp()
            self._signals.escalation_finished(escalation.as_dict())
        # Shielded: a cancelled escalation must still be removed from storage.
        await asyncio.shield(self._async_save())

    async def _async_attempt(
        self,
        attempt: EscalationAttempt,
        dialing: Dialing,
        first: asyncio.Future[EscalationAttempt | None],
    ) -> CallOutcome:
        result = await self._outreach.place(dialing, attempt.to)
        if isinstance(result, PlacementFailure):
            attempt.outcome = CallOutcome.NOT_PLACED
            attempt.error = result.code
            attempt.message = result.message
        else:
            attempt.call_id = result.id
        if not first.done():
            first.set_result(replace(attempt))
        # Stored after every placement, placed or not (with the outcome of
        # the call before): a crash is reported with the calls made so far.
        await self._async_save()
        if isinstance(result, PlacementFailure):
            return CallOutcome.NOT_PLACED
        # "unknown" when no hangup came: move on rather than wait forever.
        attempt.outcome = await self._outreach.outcome(
            result.id, dialing.request.timeout
        )
        return attempt.outcome

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
