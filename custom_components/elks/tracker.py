"""Bookkeeping of the calls an account placed, so that webhooks find them.

Every hangup is applied exactly once: repeated deliveries are recognised,
hangups that overtake their ``POST /calls`` response are parked until the
placement claims them, and unfinished calls (with the state of their call
flow) are stored so that webhooks arriving after a restart are still
recognised.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
import time
from typing import Protocol

from homeassistant.core import callback
from homeassistant.util.json import JsonObjectType, JsonValueType

from .api import Call, parse_timestamp
from .call_flow import FlowState, FlowStep, call_outcome, next_step
from .const import (
    CALL_MAX_AGE_SECONDS,
    EARLY_HANGUP_GRACE_SECONDS,
    FINISHED_CALLS_KEPT,
    LOGGER,
    MAX_CALL_SECONDS,
    MAX_RING_TIMEOUT,
)
from .models import (
    AccountContext,
    CallEventType,
    CallOutcome,
    CallPlan,
    HangupDisposition,
)
from .storage import PromptSave, StoreKind

# 46elks' clock and ours may differ: how far a call's ``created`` may lie
# outside the time its uncertain POST /calls was under way.
CLOCK_SKEW_SECONDS = 60.0
# How late after a call's end its hangup may still come (46elks' delivery).
HANGUP_DELIVERY_MARGIN_SECONDS = 300.0
MAX_PARKED_HANGUPS = 1000
# A call-flow request for a call whose POST response is still on its way
# waits this long for it: 46elks waits for our answer meanwhile.
FLOW_WAIT_SECONDS = 10.0


class CallListener(Protocol):
    """Who hears what happens to calls (entities, events, escalations)."""

    def call_placed(self, call: Call) -> None:
        """Hear of a placed call (or one found to have been placed)."""

    def call_ended(
        self, call: Call, outcome: CallOutcome, acknowledged: bool | None
    ) -> None:
        """Hear of a call that ended."""

    def flow_event(
        self, call_id: str, to: str, kind: CallEventType, data: JsonObjectType
    ) -> None:
        """Hear of what happened during an interactive call."""


@dataclass(slots=True)
class _Pending:
    """An unfinished call, or a placement whose outcome is unknown."""

    to: str
    from_number: str
    placed_at: float  # wall clock, so that it survives a restart
    call_id: str | None = None
    # Uncertain placements only: when the POST was sent, and the ring timeout.
    sent_at: float | None = None
    ring_timeout: int = MAX_RING_TIMEOUT

    def may_have_created(self, call: Call) -> bool:
        """Whether an unknown call may be the one this uncertain POST created.

        Its numbers match and 46elks created it while the POST was under way
        (give or take clock skew): a call placed another time is a different
        call, whatever its numbers.
        """
        if self.call_id is not None:
            return self.call_id == call.id
        if (self.to, self.from_number) != (call.to, call.from_number):
            return False
        created = parse_timestamp(call.created)
        if created is None:
            return False
        sent_at = self.placed_at if self.sent_at is None else self.sent_at
        return (
            sent_at - CLOCK_SKEW_SECONDS
            <= created.timestamp()
            <= self.placed_at + CLOCK_SKEW_SECONDS
        )

    def adoptable_until(self) -> float:
        """Wall clock after which this uncertain placement's hangup is not awaited.

        The call rings at most ``ring_timeout``; answered, it may last up to
        the longest call; its hangup then comes within a delivery margin.
        """
        return (
            self.placed_at
            + self.ring_timeout
            + MAX_CALL_SECONDS
            + HANGUP_DELIVERY_MARGIN_SECONDS
        )


@dataclass(frozen=True, slots=True)
class PlacementAttempt:
    """One ``POST /calls`` as sent: what an uncertain placement is matched by."""

    to: str
    from_number: str
    sent_at: float  # wall clock
    ring_timeout: int


@dataclass(slots=True)
class _Live:
    """What is kept in memory for an interactive call."""

    plan: CallPlan
    state: FlowState = field(default_factory=FlowState)


class CallTracker:
    """Calls of one config entry: placed, unfinished and recently finished."""

    def __init__(self, account: AccountContext, listener: CallListener) -> None:
        """Create an empty tracker for the account that reports to ``listener``."""
        self._account = account
        self._listener = listener
        self._saver = PromptSave(
            account.hass, account.entry.entry_id, StoreKind.CALLS, self._data
        )
        self._ongoing: dict[str, _Pending] = {}
        self._live: dict[str, _Live] = {}
        self._uncertain: list[_Pending] = []
        self._finished: OrderedDict[str, CallOutcome] = OrderedDict()
        self._parked: dict[str, tuple[Call, float]] = {}
        self._placements_in_flight = 0
        self._placed = asyncio.Event()
        self._end_waiters: dict[str, list[asyncio.Future[CallOutcome]]] = {}

    @property
    def ongoing_count(self) -> int:
        """Number of calls placed whose hangup has not arrived."""
        return len(self._ongoing)

    @property
    def uncertain_count(self) -> int:
        """Number of placements whose outcome is unknown."""
        return len(self._uncertain)

    @property
    def sizes(self) -> dict[str, int]:
        """Sizes of every internal table (diagnostics, benchmarks)."""
        return {
            "ongoing": len(self._ongoing),
            "interactive": len(self._live),
            "uncertain": len(self._uncertain),
            "finished": len(self._finished),
            "parked": len(self._parked),
        }

    async def async_load(self) -> None:
        """Load unfinished calls stored before a restart."""
        data = await self._saver.async_load()
        # In order of age, as pruning expects.
        ongoing = sorted(
            _objects(data.get("ongoing")),
            key=lambda item: _number(item.get("placed_at")),
        )
        for item in ongoing:
            plan, flow = item.pop("plan", None), item.pop("flow", None)
            pending = _Pending(**item)  # type: ignore[arg-type]
            if pending.call_id:
                self._ongoing[pending.call_id] = pending
                if isinstance(plan, dict):
                    self._live[pending.call_id] = _Live(
                        CallPlan.from_dict(plan),
                        FlowState.from_dict(flow if isinstance(flow, dict) else {}),
                    )
        self._uncertain = [
            _Pending(**item)  # type: ignore[arg-type]
            for item in _objects(data.get("uncertain"))
        ]
        finished = data.get("finished")
        for call_id in finished if isinstance(finished, list) else []:
            self._finished[str(call_id)] = CallOutcome.UNKNOWN
        self._prune()

    async def async_save(self) -> None:
        """Write the state now (on unload)."""
        await self._saver.async_save()

    def _data(self) -> JsonObjectType:
        return {
            "ongoing": [self._stored(pending) for pending in self._ongoing.values()],
            "uncertain": [asdict(pending) for pending in self._uncertain],
            "finished": list(self._finished),
        }

    def _stored(self, pending: _Pending) -> JsonObjectType:
        """Return an unfinished call as stored, with its call flow if it has one."""
        stored: JsonObjectType = asdict(pending)
        if (live := self._live.get(pending.call_id or "")) is not None:
            stored["plan"] = live.plan.as_dict()
            stored["flow"] = live.state.as_dict()
        return stored

    @property
    def placements_in_flight(self) -> int:
        """Number of ``POST /calls`` under way (diagnostics, tests)."""
        return self._placements_in_flight

    @callback
    def placement_started(self) -> None:
        """Note that a ``POST /calls`` is about to be sent."""
        self._placements_in_flight += 1

    @callback
    def placement_succeeded(self, call: Call, plan: CallPlan | None = None) -> None:
        """Register a placed call, and apply its hangup if it came first."""
        self._placements_in_flight -= 1
        self._prune()
        self._notify_placed()
        parked = self._parked.pop(call.id, None)
        if call.state != "ongoing":
            # 46elks may refuse at once with a final state in a 2xx body.
            self._listener.call_placed(call)
            outcome = (
                CallOutcome(call.state)
                if call.state in (CallOutcome.BUSY, CallOutcome.FAILED)
                else call_outcome(call.state, call.answered, None, None)
            )
            self._end(call, outcome, None)
            return
        self._ongoing[call.id] = _Pending(
            call.to, call.from_number, time.time(), call.id
        )
        if plan is not None and plan.interactive:
            self._live[call.id] = _Live(plan)
        self._saver.schedule()
        self._listener.call_placed(call)
        if parked is not None:
            self.hangup_received(parked[0])

    @callback
    def placement_failed(self, attempt: PlacementAttempt, *, may_exist: bool) -> None:
        """Note a failed placement; remember it when the call may exist all the same.

        A hangup is adopted only for a call 46elks created while the POST
        was under way (from ``attempt.sent_at`` until now).
        """
        self._placements_in_flight -= 1
        self._notify_placed()
        if not may_exist:
            return
        pending = _Pending(
            attempt.to,
            attempt.from_number,
            time.time(),
            sent_at=attempt.sent_at,
            ring_timeout=attempt.ring_timeout,
        )
        for call_id, (call, _) in list(self._parked.items()):
            if pending.may_have_created(call):
                del self._parked[call_id]
                self._adopt(call, pending)
                return
        self._uncertain.append(pending)
        self._saver.schedule()

    def _notify_placed(self) -> None:
        # Wake flow requests waiting for a placement; later ones wait anew.
        self._placed.set()
        self._placed = asyncio.Event()

    @callback
    def hangup_received(self, call: Call) -> HangupDisposition:
        """Apply a hangup; returns what was done (for logs and tests).

        ``applied``, ``duplicate``, ``parked`` (its placement has not finished
        yet), ``adopted`` (a placement with unknown outcome did create it),
        ``mismatch`` (known id, other numbers) or ``unknown``.
        """
        if call.id in self._finished:
            return HangupDisposition.DUPLICATE
        if (pending := self._ongoing.get(call.id)) is not None:
            if (pending.to, pending.from_number) != (call.to, call.from_number):
                return HangupDisposition.MISMATCH
            del self._ongoing[call.id]
            live = self._live.pop(call.id, None)
            outcome = call_outcome(
                call.state,
                call.answered,
                live.state if live else None,
                live.plan if live else None,
            )
            acknowledged = (
                live.state.acknowledged if live and live.plan.ack_digit else None
            )
            self._end(call, outcome, acknowledged)
            return HangupDisposition.APPLIED
        now = time.time()
        for pending in self._uncertain:
            if pending.adoptable_until() >= now and pending.may_have_created(call):
                self._uncertain.remove(pending)
                self._adopt(call, pending)
                return HangupDisposition.ADOPTED
        if self._placements_in_flight > 0 and len(self._parked) < MAX_PARKED_HANGUPS:
            # Re-inserted at the end: the table stays in order of age.
            self._parked.pop(call.id, None)
            self._parked[call.id] = (call, time.monotonic())
            return HangupDisposition.PARKED
        return HangupDisposition.UNKNOWN

    def _end(self, call: Call, outcome: CallOutcome, acknowledged: bool | None) -> None:
        self._mark_finished(call.id, outcome)
        self._listener.call_ended(call, outcome, acknowledged)
        self._resolve_waiters(call.id, outcome)

    def _resolve_waiters(self, call_id: str, outcome: CallOutcome) -> None:
        for waiter in self._end_waiters.pop(call_id, []):
            if not waiter.done():
                waiter.set_result(outcome)

    async def async_flow_request(
        self,
        call_id: str,
        result: str,
        why: str | None,
        *,
        from_number: str | None,
        to: str | None,
        hook_url: str,
        step_number: str | None = None,
    ) -> FlowStep | None:
        """Answer 46elks' question what an interactive call does next.

        None when the call is not one of ours (or not interactive), or when
        the request's numbers are not the call's: for an outgoing call 46elks
        sends our caller id as ``from`` and the callee as ``to``.
        """
        await self._async_wait_for_placement(call_id)
        live = self._live.get(call_id)
        pending = self._ongoing.get(call_id)
        if pending is None:
            self._bind_uncertain(call_id, from_number, to)
        if live is None or pending is None:
            return None
        if (pending.from_number, pending.to) != (from_number, to):
            LOGGER.debug(
                "Call-flow request for call %r from %r to %r: not its numbers",
                call_id,
                from_number,
                to,
            )
            return None
        step = next_step(
            live.plan,
            live.state,
            result,
            why,
            hook_url=hook_url,
            caller_id=pending.from_number,
            step=step_number,
        )
        self._saver.schedule()
        for kind, data in step.events:
            self._listener.flow_event(call_id, pending.to, kind, data)
            if kind is CallEventType.ACKNOWLEDGED:
                # Whoever waits (an escalation) need not wait for the hangup.
                self._resolve_waiters(call_id, CallOutcome.ACKNOWLEDGED)
        return step

    async def _async_wait_for_placement(self, call_id: str) -> None:
        """Wait (bounded) while a POST whose answer may name this call is under way."""
        deadline = asyncio.get_running_loop().time() + FLOW_WAIT_SECONDS
        while call_id not in self._live and self._placements_in_flight > 0:
            try:
                async with asyncio.timeout_at(deadline):
                    await self._placed.wait()
            except TimeoutError:
                return

    def _bind_uncertain(
        self, call_id: str, from_number: str | None, to: str | None
    ) -> None:
        """Give an uncertain placement the id of a call that rang while it could.

        46elks asks for an unknown call's first action when it is answered:
        with our numbers, within the ring timeout of an uncertain placement,
        it is that placement's call, and from now on only that call's hangup
        is adopted for it.
        """
        if call_id in self._finished or any(
            p.call_id == call_id for p in self._uncertain
        ):
            return
        now = time.time()
        for pending in self._uncertain:
            if (
                pending.call_id is None
                and (pending.from_number, pending.to) == (from_number, to)
                and now <= pending.placed_at + pending.ring_timeout + CLOCK_SKEW_SECONDS
            ):
                pending.call_id = call_id
                LOGGER.debug(
                    "Call %r to %r is the one whose placement was uncertain",
                    call_id,
                    to,
                )
                self._saver.schedule()
                return

    async def async_outcome(self, call_id: str, ring_timeout: int) -> CallOutcome:
        """Wait for how a call ended (early on acknowledgement).

        ``unknown`` when no hangup came within the ring timeout plus the
        longest a call may take: whoever waits must not wait forever.
        """
        try:
            async with asyncio.timeout(ring_timeout + MAX_CALL_SECONDS):
                return await self.wait_for_end(call_id)
        except TimeoutError:
            return CallOutcome.UNKNOWN

    def wait_for_end(self, call_id: str) -> asyncio.Future[CallOutcome]:
        """Return a future resolved with the call's outcome (early on acknowledgement)."""
        waiter: asyncio.Future[CallOutcome] = asyncio.get_running_loop().create_future()
        if (outcome := self._finished.get(call_id)) is not None:
            waiter.set_result(outcome)
            return waiter
        self._end_waiters.setdefault(call_id, []).append(waiter)
        return waiter

    def _adopt(self, call: Call, pending: _Pending) -> None:
        LOGGER.warning(
            "A call whose placement was reported as uncertain did happen: %r to %r ended %r",
            call.id,
            pending.to,
            call.state,
        )
        # Nobody saw it placed, so it counts as a placement too.
        self._listener.call_placed(call)
        self._end(call, call_outcome(call.state, call.answered, None, None), None)

    def _mark_finished(self, call_id: str, outcome: CallOutcome) -> None:
        self._finished[call_id] = outcome
        self._finished.move_to_end(call_id)
        while len(self._finished) > FINISHED_CALLS_KEPT:
            self._finished.popitem(last=False)
        self._saver.schedule()

    def _prune(self) -> None:
        """Forget calls too old to still hang up and stale parked hangups.

        Both tables are in insertion order, which is the order of age: the
        scan stops at the first entry young enough, so a fan-out of n calls
        does not cost n² (an entry a clock step put out of order is
        forgotten a little later, never early).
        """
        oldest = time.time() - CALL_MAX_AGE_SECONDS
        stale: list[str] = []
        for call_id, pending in self._ongoing.items():
            if pending.placed_at >= oldest:
                break
            stale.append(call_id)
        for call_id in stale:
            LOGGER.debug(
                "Forgetting call %r: no hangup within %s s",
                call_id,
                CALL_MAX_AGE_SECONDS,
            )
            del self._ongoing[call_id]
            self._live.pop(call_id, None)
        if self._uncertain:
            now = time.time()
            self._uncertain = [p for p in self._uncertain if p.adoptable_until() >= now]
        parked_oldest = time.monotonic() - EARLY_HANGUP_GRACE_SECONDS
        while self._parked:
            call_id, (_, at) = next(iter(self._parked.items()))
            if at >= parked_oldest:
                break
            del self._parked[call_id]

    @callback
    def open_calls(self) -> dict[str, float]:
        """Placed calls whose end is not known yet: id -> wall-clock time placed."""
        return {
            call_id: pending.placed_at for call_id, pending in self._ongoing.items()
        }

    @callback
    def call_reported(self, call_id: str, call: Call | None) -> HangupDisposition:
        """Apply what ``GET /calls/{id}`` said about an open call.

        An ended call goes through :meth:`hangup_received`, so it ends exactly
        once whether the webhook or the API told first. ``call`` None means
        46elks does not know the id: the call is forgotten without an end.
        Returns ``ongoing``, ``forgotten``, ``not_open`` (ended or forgotten
        meanwhile) or what :meth:`hangup_received` returned.
        """
        if call_id not in self._ongoing:
            return HangupDisposition.NOT_OPEN
        if call is None:
            del self._ongoing[call_id]
            self._live.pop(call_id, None)
            self._resolve_waiters(call_id, CallOutcome.UNKNOWN)
            self._saver.schedule()
            return HangupDisposition.FORGOTTEN
        if call.state == "ongoing":
            return HangupDisposition.ONGOING
        return self.hangup_received(call)


def _number(value: JsonValueType | None) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _objects(value: JsonValueType | None) -> list[dict[str, JsonValueType]]:
    """Return the objects of a stored list (copies), skipping anything else."""
    if not isinstance(value, list):
        return []
    return [dict(item) for item in value if isinstance(item, dict)]
