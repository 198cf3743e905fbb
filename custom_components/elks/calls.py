"""Bookkeeping of the calls an account placed, so that hangups find them.

Every hangup is applied exactly once: repeated deliveries are recognised,
hangups that overtake their ``POST /calls`` response are parked until the
placement claims them, and unfinished calls are stored so that a hangup
arriving after a restart is still recognised.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
import time
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from .api import Call
from .const import (
    CALL_MAX_AGE_SECONDS,
    DOMAIN,
    EARLY_HANGUP_GRACE_SECONDS,
    FINISHED_CALLS_KEPT,
    LOGGER,
)

STORAGE_VERSION = 1
SAVE_DELAY = 1.0
MAX_PARKED_HANGUPS = 1000


@dataclass(slots=True)
class _Pending:
    """An unfinished call, or a placement whose outcome is unknown."""

    to: str
    from_number: str
    placed_at: float  # wall clock, so that it survives a restart
    call_id: str | None = None


class CallTracker:
    """Calls of one config entry: placed, unfinished and recently finished."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        on_update: Callable[[Call, bool], None],
    ) -> None:
        """Create an empty tracker.

        ``on_update(call, placed)`` hears of each placed call (``placed`` true)
        and of each ended one.
        """
        self._on_update = on_update
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.calls"
        )
        self._ongoing: dict[str, _Pending] = {}
        self._uncertain: list[_Pending] = []
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._parked: dict[str, tuple[Call, float]] = {}
        self._placements_in_flight = 0

    @property
    def ongoing_count(self) -> int:
        """Number of calls placed whose hangup has not arrived."""
        return len(self._ongoing)

    @property
    def uncertain_count(self) -> int:
        """Number of placements whose outcome is unknown."""
        return len(self._uncertain)

    async def async_load(self) -> None:
        """Load unfinished calls stored before a restart."""
        data = await self._store.async_load() or {}
        for item in data.get("ongoing", []):
            pending = _Pending(**item)
            if pending.call_id:
                self._ongoing[pending.call_id] = pending
        self._uncertain = [_Pending(**item) for item in data.get("uncertain", [])]
        for call_id in data.get("finished", []):
            self._finished[call_id] = None
        self._prune()

    async def async_save(self) -> None:
        """Write the state now (on unload)."""
        await self._store.async_save(self._data())

    async def async_remove(self) -> None:
        """Delete stored state (the entry is being removed)."""
        await self._store.async_remove()

    def _data(self) -> dict[str, Any]:
        return {
            "ongoing": [asdict(pending) for pending in self._ongoing.values()],
            "uncertain": [asdict(pending) for pending in self._uncertain],
            "finished": list(self._finished),
        }

    @callback
    def _schedule_save(self) -> None:
        self._store.async_delay_save(self._data, SAVE_DELAY)

    @callback
    def placement_started(self) -> None:
        """Note that a ``POST /calls`` is about to be sent."""
        self._placements_in_flight += 1

    @callback
    def placement_succeeded(self, call: Call) -> None:
        """Register a placed call, and apply its hangup if it came first."""
        self._placements_in_flight -= 1
        self._prune()
        parked = self._parked.pop(call.id, None)
        if call.state != "ongoing":
            # 46elks may refuse at once with a final state in a 2xx body.
            self._mark_finished(call.id)
            self._on_update(call, True)
            return
        self._ongoing[call.id] = _Pending(
            call.to, call.from_number, time.time(), call.id
        )
        self._schedule_save()
        self._on_update(call, True)
        if parked is not None:
            self.hangup_received(parked[0])

    @callback
    def placement_failed(self, to: str, from_number: str, *, may_exist: bool) -> None:
        """Note a failed placement; remember it when the call may exist all the same."""
        self._placements_in_flight -= 1
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
            self._mark_finished(call.id)
            self._on_update(call, False)
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

    def _adopt(self, call: Call, pending: _Pending) -> None:
        LOGGER.warning(
            "A call whose placement was reported as uncertain did happen: %s to %s ended %s",
            call.id,
            pending.to,
            call.state,
        )
        self._mark_finished(call.id)
        # Nobody saw it placed, so it counts as a placement too.
        self._on_update(call, True)

    def _mark_finished(self, call_id: str) -> None:
        self._finished[call_id] = None
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
        self._uncertain = [p for p in self._uncertain if p.placed_at >= oldest]
        parked_oldest = time.monotonic() - EARLY_HANGUP_GRACE_SECONDS
        for call_id in [
            cid for cid, (_, at) in self._parked.items() if at < parked_oldest
        ]:
            del self._parked[call_id]
