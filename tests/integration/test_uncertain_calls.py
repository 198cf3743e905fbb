"""Matching webhooks to calls: numbers for call-flow requests, time for uncertain placements.

A call-flow request must carry the call's own numbers (46elks sends our
caller id as ``from`` and the callee as ``to``), as a hangup must. A
placement whose outcome is unknown adopts only the hangup of a call 46elks
created while that POST was under way, not any later call between the same
numbers.
"""

from __future__ import annotations

from datetime import timedelta
import json
from typing import Any
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks.const import EVENT_CALL_ENDED, EVENT_KEYPRESS
from elks_simulator import Callee
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util

from .conftest import ANSWERS, CALLER_ID, PRESSES_1, WEBHOOK_ID, Elks
from .roads import Road, deliver
from .test_call import call

REJECT = {"hangup": "reject"}


async def test_call_flow_request_needs_the_calls_numbers(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
) -> None:
    """A known call id with other numbers is answered like an unknown call."""
    # The callee never answers and its hangup is held: the test plays
    # 46elks' part of the call flow itself.
    elks.sim.set_callee(PRESSES_1, Callee.answer(after=1e6))
    elks.sim.faults.hold_webhooks()
    keys = async_capture_events(hass, EVENT_KEYPRESS)
    [placed] = (
        await call(hass, to=PRESSES_1, play="sound/beep", menu={"1": "open_door"})
    )["calls"]

    next_query = ""  # of the last next URL we were given, as 46elks uses it

    async def flow(result: str, from_number: str | None, to: str | None) -> Any:
        nonlocal next_query
        form = {"callid": str(placed["id"]), "result": result, "direction": "outgoing"}
        if from_number is not None:
            form["from"] = from_number
        if to is not None:
            form["to"] = to
        status, body = await deliver(
            hass, hass_http, WEBHOOK_ID, form, road, query=next_query
        )
        assert status == 200
        assert body is not None
        action = json.loads(body)
        if isinstance(action.get("next"), str):
            next_query = urlsplit(action["next"]).query
        return action

    for from_number, to in [
        (CALLER_ID, "+46700000999"),  # another callee
        ("+46766869999", PRESSES_1),  # another caller id
        (PRESSES_1, CALLER_ID),  # swapped
        (None, None),  # none at all
    ]:
        assert await flow("newoutgoing", from_number, to) == REJECT
    assert "ivr" in await flow("newoutgoing", CALLER_ID, PRESSES_1)
    # The key press with the wrong callee fires nothing; the right one does.
    assert await flow("1", CALLER_ID, "+46700000999") == REJECT
    await hass.async_block_till_done()
    assert keys == []
    assert await flow("1", CALLER_ID, PRESSES_1) != REJECT
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in keys] == [placed["id"]]


def _hangup(call_id: str, to: str, created: str) -> dict[str, str]:
    return {
        "id": call_id,
        "direction": "outgoing",
        "from": CALLER_ID,
        "to": to,
        "created": created,
        "state": "failed",
    }


def _created(seconds_from_now: float) -> str:
    when = dt_util.utcnow() + timedelta(seconds=seconds_from_now)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")


async def _uncertain_placement(hass: HomeAssistant, elks: Elks) -> None:
    """Place a call whose POST got no readable answer (nothing was created)."""
    elks.sim.faults.drop_next()
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, to=ANSWERS, play="sound/beep")
    assert err.value.translation_key == "call_outcome_unknown"
    assert elks.sim.calls == {}


@pytest.mark.parametrize(
    ("created_offset", "adopted"),
    [
        (-3600.0, False),  # an older call between the same numbers
        (-1.0, True),  # created while the POST was under way (clock skew)
        (30.0, True),  # within the clock skew allowed
        (3600.0, False),  # a later call between the same numbers
    ],
)
async def test_uncertain_placement_adopts_only_a_call_of_its_time(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
    created_offset: float,
    adopted: bool,
) -> None:
    """A hangup is adopted only when 46elks created its call during the POST."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    await _uncertain_placement(hass, elks)
    tracker = loaded_entry.runtime_data.tracker
    assert tracker.uncertain_count == 1
    status, _ = await deliver(
        hass,
        hass_http,
        WEBHOOK_ID,
        _hangup("c" + "a" * 32, ANSWERS, _created(created_offset)),
        road,
    )
    assert status == 200
    await hass.async_block_till_done()
    assert len(events) == (1 if adopted else 0)
    assert tracker.uncertain_count == (0 if adopted else 1)


async def test_uncertain_placement_is_forgotten_after_its_longest_call(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Kept for ring timeout + longest call + a margin, not 12 hours.

    A hangup of the call itself, delivered that late, is no longer adopted.
    """
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    created = _created(0)
    await _uncertain_placement(hass, elks)
    tracker = loaded_entry.runtime_data.tracker
    # Ring timeout 60 s, longest call 15 min, margin 5 min: still awaited.
    freezer.tick(timedelta(seconds=60 + 15 * 60 + 5 * 60 - 10))
    assert tracker.uncertain_count == 1
    freezer.tick(timedelta(seconds=20))
    status, _ = await deliver(
        hass,
        hass_http,
        WEBHOOK_ID,
        _hangup("c" + "b" * 32, ANSWERS, created),
        Road.HTTP,
    )
    assert status == 200
    await hass.async_block_till_done()
    assert events == []


async def test_late_answered_uncertain_call_is_still_adopted(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An answered call may end up to the longest call after it rang: adopted then."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    created = _created(0)
    await _uncertain_placement(hass, elks)
    freezer.tick(timedelta(seconds=60 + 14 * 60))
    status, _ = await deliver(
        hass,
        hass_http,
        WEBHOOK_ID,
        _hangup("c" + "c" * 32, ANSWERS, created)
        | {"state": "success", "start": created, "duration": str(14 * 60)},
        Road.HTTP,
    )
    assert status == 200
    await hass.async_block_till_done()
    assert [e.data["outcome"] for e in events] == ["answered"]


async def test_uncertain_placement_takes_the_id_of_the_call_that_rang(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
) -> None:
    """Once 46elks asked for the call's first action, only that call's hangup is adopted."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    await _uncertain_placement(hass, elks)
    rang, other = "c" + "d" * 32, "c" + "e" * 32
    status, body = await deliver(
        hass,
        hass_http,
        WEBHOOK_ID,
        {
            "callid": rang,
            "result": "newoutgoing",
            "direction": "outgoing",
            "from": CALLER_ID,
            "to": ANSWERS,
        },
        road,
    )
    assert status == 200
    assert body is not None
    assert json.loads(body) == REJECT
    # Another call between the same numbers, created in the same window.
    for call_id in (other, rang):
        status, _ = await deliver(
            hass, hass_http, WEBHOOK_ID, _hangup(call_id, ANSWERS, _created(0)), road
        )
        assert status == 200
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == [rang]
