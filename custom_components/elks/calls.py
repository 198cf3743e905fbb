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
from typing import Any, Protocol

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from .api import Call
from .const import (
    CALL_MAX_AGE_SECONDS,
    DOMAIN,
    EARLY_HANGUP_GRACE_SECONDS,
    FINISHED_CALLS_KEPT,
    LOGGER,
    MAX_CALL_SECONDS,
)
from .flows import CallPlan, FlowState, FlowStep, call_outcome, next_step

STORAGE_VERSION = 1
SAVE_DELAY = 1.0
MAX_PARKED_HANGUPS = 1000
# A call-flow request for a call whose POST response is still on its way
# waits this long for it: 46elks waits for our answer meanwhile.
FLOW_WAIT_SECONDS = 10.0


class CallListener(Protocol):
    """Who hears what happens to calls (entities, events, escalations)."""

    def call_placed(self, call: Call) -> None:
        """Hear of a placed call (or one found to have been placed)."""

    def call_ended(self, call: Call, outcome: str, acknowledged: bool | None) -> None:
        """Hear of a call that ended."""

    def flow_event(
        self, call_id: str, to: str, kind: str, data: dict[str, Any]
    ) -> None:
        """Hear of what happened during an interactive call."""


@dataclass(slots=True)
class _Pending:
    """An unfinished call, or a placement whose outcome is unknown."""

    to: str
    from_number: str
    placed_at: float  # wall clock, so that it survives a restart
    call_id: str | None = None


@dataclass(slots=True)
class _Live:
    """What is kept in memory for an interactive call."""

    plan: CallPlan
    state: FlowState = field(default_factory=FlowState)


class CallTracker:
    """Calls of one config entry: placed, unfinished and recently finished."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, listener: CallListener
    ) -> None:
        """Create an empty tracker that reports to ``listener``."""
        self._listener = listener
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.calls"
        )
        self._ongoing: dict[str, _Pending] = {}
        self._live: dict[str, _Live] = {}
        self._uncertain: list[_Pending] = []
        self._finished: OrderedDict[str, str] = OrderedDict()  # id -> outcome
        self._parked: dict[str, tuple[Call, float]] = {}
        self._placements_in_flight = 0
        self._placed = asyncio.Event()
        self._end_waiters: dict[str, list[asyncio.Future[str]]] = {}

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
        data = await self._store.async_load() or {}
        for item in data.get("ongoing", []):
            item = dict(item)
            plan, flow = item.pop("plan", None), item.pop("flow", None)
            pending = _Pending(**item)
            if pending.call_id:
                self._ongoing[pending.call_id] = pending
                if plan is not None:
                    self._live[pending.call_id] = _Live(
                        CallPlan.from_dict(plan), FlowState(**(flow or {}))
                    )
        self._uncertain = [_Pending(**item) for item in data.get("uncertain", [])]
        for call_id in data.get("finished", []):
            self._finished[call_id] = "unknown"
        self._prune()

    async def async_save(self) -> None:
        """Write the state now (on unload)."""
        await self._store.async_save(self._data())

    async def async_remove(self) -> None:
        """Delete stored state (the entry is being removed)."""
        await self._store.async_remove()

    def _data(self) -> dict[str, Any]:
        return {
            "ongoing": [self._stored(pending) for pending in self._ongoing.values()],
            "uncertain": [asdict(pending) for pending in self._uncertain],
            "finished": list(self._finished),
        }

    def _stored(self, pending: _Pending) -> dict[str, Any]:
        """Return an unfinished call as stored, with its call flow if it has one."""
        stored = asdict(pending)
        if (live := self._live.get(pending.call_id or "")) is not None:
            stored["plan"] = live.plan.as_dict()
            stored["flow"] = live.state.as_dict()
        return stored

    @callback
    def _schedule_save(self) -> None:
        self._store.async_delay_save(self._data, SAVE_DELAY)

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
            self._end(call, call.state, None)
            return
        self._ongoing[call.id] = _Pending(
            call.to, call.from_number, time.time(), call.id
        )
        if plan is not None and plan.interactive:
            self._live[call.id] = _Live(plan)
        self._schedule_save()
        self._listener.call_placed(call)
        if parked is not None:
            self.hangup_received(parked[0])

    @callback
    def placement_failed(self, to: str, from_number: str, *, may_exist: bool) -> None:
        """Note a failed placement; remember it when the call may exist all the same."""
        self._placements_in_flight -= 1
        self._notify_placed()
        if not may_exist:
            return
        pending = _Pending(to, from_number, time.time())
        for call_id, (call, _) in list(self._parked.items()):
            if call.to == to and call.from_number == from_number:
                del self._parked[call_id]
                self._adopt(call, pending)
                return
        self._uncertain.append(pending)
        self._schedule_save()

    def _notify_placed(self) -> None:
        # Wake flow requests waiting for a placement; later ones wait anew.
        self._placed.set()
        self._placed = asyncio.Event()

    @callback
    def hangup_received(self, call: Call) -> str:
        """Apply a hangup; returns what was done (for logs and tests).

        ``applied``, ``duplicate``, ``parked`` (its placement has not finished
        yet), ``adopted`` (a placement with unknown outcome did create it),
        ``mismatch`` (known id, other numbers) or ``unknown``.
        """
        if call.id in self._finished:
            return "duplicate"
        if (pending := self._ongoing.get(call.id)) is not None:
            if (pending.to, pending.from_number) != (call.to, call.from_number):
                return "mismatch"
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
            return "applied"
        for pending in self._uncertain:
            if (pending.to, pending.from_number) == (call.to, call.from_number):
                self._uncertain.remove(pending)
                self._adopt(call, pending)
                return "adopted"
        if self._placements_in_flight > 0 and len(self._parked) < MAX_PARKED_HANGUPS:
            self._parked[call.id] = (call, time.monotonic())
            return "parked"
        return "unknown"

    def _end(self, call: Call, outcome: str, acknowledged: bool | None) -> None:
        self._mark_finished(call.id, outcome)
        self._listener.call_ended(call, outcome, acknowledged)
        self._resolve_waiters(call.id, outcome)

    def _resolve_waiters(self, call_id: str, outcome: str) -> None:
        for waiter in self._end_waiters.pop(call_id, []):
            if not waiter.done():
                waiter.set_result(outcome)

    async def async_flow_request(
        self, call_id: str, result: str, why: str | None, *, hook_url: str
    ) -> FlowStep | None:
        """Answer 46elks' question what an interactive call does next.

        None when the call is not one of ours (or not interactive).
        """
        deadline = asyncio.get_running_loop().time() + FLOW_WAIT_SECONDS
        while call_id not in self._live and self._placements_in_flight > 0:
            try:
                async with asyncio.timeout_at(deadline):
                    await self._placed.wait()
            except TimeoutError:
                break
        live = self._live.get(call_id)
        pending = self._ongoing.get(call_id)
        if live is None or pending is None:
            return None
        step = next_step(
            live.plan,
            live.state,
            result,
            why,
            hook_url=hook_url,
            caller_id=pending.from_number,
        )
        self._schedule_save()
        for kind, data in step.events:
            self._listener.flow_event(call_id, pending.to, kind, data)
            if kind == "acknowledged":
                # Whoever waits (an escalation) need not wait for the hangup.
                self._resolve_waiters(call_id, "acknowledged")
        return step

    async def async_outcome(self, call_id: str, ring_timeout: int) -> str:
        """Wait for how a call ended (early on acknowledgement).

        ``unknown`` when no hangup came within the ring timeout plus the
        longest a call may take: whoever waits must not wait forever.
        """
        try:
            async with asyncio.timeout(ring_timeout + MAX_CALL_SECONDS):
                return await self.wait_for_end(call_id)
        except TimeoutError:
            return "unknown"

    def wait_for_end(self, call_id: str) -> asyncio.Future[str]:
        """Return a future resolved with the call's outcome (early on acknowledgement)."""
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if (outcome := self._finished.get(call_id)) is not None:
            waiter.set_result(outcome)
            return waiter
        self._end_waiters.setdefault(call_id, []).append(waiter)
        return waiter

    def _adopt(self, call: Call, pending: _Pending) -> None:
        LOGGER.warning(
            "A call whose placement was reported as uncertain did happen: %s to %s ended %s",
            call.id,
            pending.to,
            call.state,
        )
        # Nobody saw it placed, so it counts as a placement too.
        self._listener.call_placed(call)
        self._end(call, call_outcome(call.state, call.answered, None, None), None)

    def _mark_finished(self, call_id: str, outcome: str = "unknown") -> None:
        self._finished[call_id] = outcome
        self._finished.move_to_end(call_id)
        while len(self._finished) > FINISHED_CALLS_KEPT:
            self._finished.popitem(last=False)
        self._schedule_save()

    def _prune(self) -> None:
        """Forget calls too old to still hang up and stale parked hangups."""
        oldest = time.time() - CALL_MAX_AGE_SECONDS
        for call_id in [
            cid for cid, p in self._ongoing.items() if p.placed_at < oldest
        ]:
            LOGGER.debug(
                "Forgetting call %s: no hangup within %s s",
                call_id,
                CALL_MAX_AGE_SECONDS,
            )
            del self._ongoing[call_id]
            self._live.pop(call_id, None)
        self._uncertain = [p for p in self._uncertain if p.placed_at >= oldest]
        parked_oldest = time.monotonic() - EARLY_HANGUP_GRACE_SECONDS
        for call_id in [
            cid for cid, (_, at) in self._parked.items() if at < parked_oldest
        ]:
            del self._parked[call_id]

    @callback
    def open_calls(self) -> dict[str, float]:
        """Placed calls whose end is not known yet: id -> wall-clock time placed."""
        return {
            call_id: pending.placed_at for call_id, pending in self._ongoing.items()
        }

    @callback
    def call_reported(self, call_id: str, call: Call | None) -> str:
        """Apply what ``GET /calls/{id}`` said about an open call.

        An ended call goes through :meth:`hangup_received`, so it ends exactly
        once whether the webhook or the API told first. ``call`` None means
        46elks does not know the id: the call is forgotten without an end.
        Returns ``ongoing``, ``forgotten``, ``not_open`` (ended or forgotten
        meanwhile) or what :meth:`hangup_received` returned.
        """
        if call_id not in self._ongoing:
            return "not_open"
        if call is None:
            del self._ongoing[call_id]
            self._live.pop(call_id, None)
            self._resolve_waiters(call_id, "unknown")
            self._schedule_save()
            return "forgotten"
        if call.state == "ongoing":
            return "ongoing"
        return self.hangup_received(call)
