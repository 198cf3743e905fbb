"""What a crash or a stop can lose of the call bookkeeping.

Placements and hangups are written within ``SAVE_DELAY`` of the change,
however busy it gets (virtual time: ``freezer`` and timers fired by hand);
a real stop writes everything, and hangups after the restart end each call
once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed_exact,
)

from custom_components.elks.const import EVENT_CALL_ENDED
from custom_components.elks.storage import SAVE_DELAY
from homeassistant.core import HomeAssistant

from .conftest import ANSWERS, BUSY, WEBHOOK_ID, Elks
from .roads import Restarter, Road, deliver
from .test_call import call

STEP = 0.5
STEPS = 40  # 20 s of steady activity


def _stored(hass_storage: dict[str, Any], entry: MockConfigEntry) -> dict[str, Any]:
    stored = hass_storage.get(f"elks.{entry.entry_id}.calls")
    return {} if stored is None else dict(stored["data"])


async def test_steady_activity_is_written_within_the_bound(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """A call placed or ended every 0.5 s: each is stored within SAVE_DELAY.

    Before, every change postponed the write, so nothing was written at all
    while the activity lasted: a crash lost every call.
    """
    elks.sim.faults.hold_webhooks()
    placed_at: dict[str, float] = {}
    ended_at: dict[str, float] = {}
    now = 0.0
    for _ in range(STEPS):
        [placed] = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"]
        placed_at[str(placed["id"])] = now
        # Hangups the simulator produced meanwhile arrive now.
        held, elks.sim.faults.held[:] = list(elks.sim.faults.held), []
        for hangup in held:
            status, _ = await deliver(
                hass, hass_http, WEBHOOK_ID, hangup.form, Road.HTTP
            )
            assert status == 200
            ended_at[hangup.call_id] = now
        freezer.tick(timedelta(seconds=STEP))
        now += STEP
        async_fire_time_changed_exact(hass)
        await hass.async_block_till_done()

        stored = _stored(hass_storage, loaded_entry)
        ongoing = {item["call_id"] for item in stored.get("ongoing", [])}
        finished = set(stored.get("finished", []))
        for call_id, at in placed_at.items():
            if now - at >= SAVE_DELAY:
                assert call_id in ongoing | finished, (call_id, at, now)
        for call_id, at in ended_at.items():
            if now - at >= SAVE_DELAY:
                assert call_id in finished, (call_id, at, now)
                assert call_id not in ongoing
    # The test did see both kinds of change under way.
    assert len(placed_at) == STEPS
    assert len(ended_at) > STEPS // 2


async def test_clean_stop_writes_everything(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    restarter: Restarter,
) -> None:
    """Calls placed and ended right before a real stop are known after the start.

    Hangups of the calls still open end them once; a hangup 46elks delivers
    again for a call that ended before the stop is a duplicate.
    """
    elks.sim.faults.hold_webhooks()
    open_ids = [
        str(placed["id"])
        for placed in (await call(hass, to=[ANSWERS, BUSY], play="sound/beep"))["calls"]
    ]
    ended_id = str(
        (await call(hass, to="+46700000199", play="sound/beep"))["calls"][0]["id"]
    )
    for call_id in [*open_ids, ended_id]:
        await elks.sim.wait_webhook_held(call_id)
    [ended_hangup] = [h for h in elks.sim.faults.held if h.call_id == ended_id]
    elks.sim.faults.held.remove(ended_hangup)
    status, _ = await deliver(hass, hass_http, WEBHOOK_ID, ended_hangup.form, Road.HTTP)
    assert status == 200

    hass2, client2, _ = await restarter.restart(hass, hass_http, loaded_entry)
    events = async_capture_events(hass2, EVENT_CALL_ENDED)
    # 46elks retries the hangup that was applied just before the stop.
    await deliver(hass2, client2, WEBHOOK_ID, ended_hangup.form, Road.HTTP)
    elks.sim.faults.release_webhooks()
    for call_id in open_ids:
        await elks.sim.wait_call_finished(call_id)
    await hass2.async_block_till_done()
    assert sorted(e.data["call_id"] for e in events) == sorted(open_ids)
