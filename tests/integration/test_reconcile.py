"""Calls whose hangup never reached the integration end from 46elks' own answer.

Home Assistant answers 200 to a webhook id that is not registered yet, so a
hangup delivered while it starts (or while the entry waits to retry its
setup) is acknowledged and dropped, and without a public URL none is sent.
The integration then asks ``GET /a1/calls/{id}``: after setup for calls left
open, later for calls whose hangup is overdue. Time is moved with
``freezer`` and ``async_fire_time_changed``; the order of webhooks and
answers is forced by the simulator (held webhooks) or by holding the API
answer until the webhook was applied.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
import logging
import re
import time
from typing import Any
from unittest.mock import patch

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.elks.api import Call, ElksClient
from custom_components.elks.const import DOMAIN, EVENT_CALL_ENDED
from custom_components.elks.diagnostics import async_get_config_entry_diagnostics
from custom_components.elks.reconcile import NOT_FOUND_LIMIT
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Event, HomeAssistant

from .conftest import ANSWERS, BUSY, CALLER_ID, NO_ANSWER, WEBHOOK_ID, Elks
from .roads import CloudRelay, Restarter, Road, deliver
from .test_call import SENSOR, call, held_hangup

_CALL_PATH = re.compile(r"/a1/calls/(?P<id>[^/]+)", re.IGNORECASE)
LOGGER_NAME = "custom_components.elks"

# Time flows (the simulator and aiohttp need a running clock); tests jump it
# forward with ``freezer.tick``.
flowing_time = pytest.mark.freeze_time(tick=True)


def call_gets(elks: Elks) -> list[str]:
    """Call ids of every ``GET /a1/calls/{id}`` the simulator received."""
    return [
        match["id"]
        for r in elks.sim.requests
        if r.method == "GET" and (match := _CALL_PATH.fullmatch(r.path))
    ]


def ended(events: list[Event]) -> list[str]:
    """Call ids of ``elks_call_ended`` events, in order."""
    return [e.data["call_id"] for e in events]


def tracebacks_or_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Return the records with a traceback or at ERROR.

    Not aiohttp's access log: under freezegun its time zone lookup fails.
    """
    return [
        r
        for r in caplog.records
        if (r.exc_info or r.levelno >= logging.ERROR) and r.name != "aiohttp.access"
    ]


async def advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float
) -> None:
    """Let ``seconds`` pass and run what became due, reconciliation included."""
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def advance_by_ticks(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float
) -> None:
    """Let ``seconds`` pass in 30 s steps, as the periodic look sees it."""
    for _ in range(int(seconds // 30)):
        await advance(hass, freezer, 30)


@pytest.fixture
def relay_for_road(
    request: pytest.FixtureRequest, road: Road, restarter: Restarter
) -> CloudRelay | None:
    """Home Assistant Cloud on the Cloud road (before the entry is set up), else none."""
    if road is Road.HTTP:
        return None
    relay: CloudRelay = request.getfixturevalue("cloud_relay")
    restarter.relay = relay
    return relay


async def test_hangup_during_startup_is_learned_from_46elks(
    hass: HomeAssistant,
    elks: Elks,
    config_entry: MockConfigEntry,
    hass_http: TestClient,
    restarter: Restarter,
    road: Road,
    relay_for_road: CloudRelay | None,
) -> None:
    """A hangup acknowledged before the webhook exists ends its call once, from the API."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    if relay_for_road is not None:
        assert elks.call_posts() == [] and relay_for_road.deliveries == 0
    form = await held_hangup(hass, elks)
    captured: list[list[Event]] = []

    async def deliver_during_startup(new_hass: HomeAssistant) -> None:
        captured.append(async_capture_events(new_hass, EVENT_CALL_ENDED))
        elks.sim.faults.release_webhooks()
        await elks.sim.wait_call_finished(form["id"])

    hass2, client2, entry2 = await restarter.restart(
        hass, hass_http, config_entry, before_setup=deliver_during_startup
    )
    [events] = captured
    [delivery] = [d for d in elks.sim.deliveries if d.kind == "whenhangup"]
    assert delivery.status == 200  # acknowledged: 46elks will not send it again
    if relay_for_road is not None:
        assert relay_for_road.deliveries == 1
    await hass2.async_block_till_done(wait_background_tasks=True)

    assert call_gets(elks) == [form["id"]]
    assert ended(events) == [form["id"]]
    assert events[0].data["state"] == "success"
    assert events[0].data["duration"] == elks.sim.calls[form["id"]].duration

    # 46elks (or someone) sending the same hangup again changes nothing.
    status, _ = await deliver(hass2, client2, WEBHOOK_ID, form, road)
    await hass2.async_block_till_done(wait_background_tasks=True)
    assert status == 200
    assert ended(events) == [form["id"]]
    assert entry2.runtime_data.tracker.ongoing_count == 0


@flowing_time
async def test_hangup_during_setup_retry_is_learned_from_46elks(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    restarter: Restarter,
    freezer: FrozenDateTimeFactory,
) -> None:
    """46elks unreachable at start: the hangup is dropped, and learned once it is back."""
    form = await held_hangup(hass, elks, BUSY)
    elks.sim.faults.fail_next(503, count=1000, path="/a1/me")

    hass2, _, entry2 = await restarter.restart(
        hass, hass_http, loaded_entry, set_up_entry=False
    )
    events = async_capture_events(hass2, EVENT_CALL_ENDED)
    assert not await hass2.config_entries.async_setup(entry2.entry_id)
    assert entry2.state is ConfigEntryState.SETUP_RETRY

    elks.sim.faults.release_webhooks()
    await elks.sim.wait_call_finished(form["id"])
    [delivery] = [d for d in elks.sim.deliveries if d.kind == "whenhangup"]
    assert delivery.status == 200
    await hass2.async_block_till_done()
    assert events == []

    elks.sim.faults.request_faults.clear()  # 46elks is back
    for _ in range(20):  # Home Assistant's setup retry, then our first look
        await advance(hass2, freezer, 30)
        if entry2.state is ConfigEntryState.LOADED and events:
            break
    assert entry2.state is ConfigEntryState.LOADED
    assert ended(events) == [form["id"]]
    assert events[0].data["outcome"] == "busy"
    assert call_gets(elks) == [form["id"]]


@flowing_time
async def test_without_public_url_a_play_call_ends_after_the_overdue_pass(
    hass: HomeAssistant,
    elks: Elks,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No URL 46elks can reach: the call still ends, once its hangup is overdue."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    [placed] = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"]
    assert "whenhangup" not in elks.call_posts()[0]
    await elks.sim.wait_call_finished(placed["id"])

    # Ring timeout (60 s) plus the margin (60 s) have not passed: nobody asks.
    await advance_by_ticks(hass, freezer, 90)
    assert call_gets(elks) == []
    assert hass.states.get(SENSOR).state == "ongoing"

    await advance_by_ticks(hass, freezer, 60)
    assert call_gets(elks) == [placed["id"]]
    assert hass.states.get(SENSOR).state == "success"
    assert ended(events) == [placed["id"]]
    assert events[0].data["answered"] is True

    # Ended: never asked about again.
    await advance_by_ticks(hass, freezer, 3600)
    assert call_gets(elks) == [placed["id"]]
    assert ended(events) == [placed["id"]]

    diagnostics = await async_get_config_entry_diagnostics(hass, config_entry)
    assert diagnostics["reconciliation"] == {
        "open_calls_watched": 0,
        "overdue": 0,
        "requests": 1,
        "ended": 1,
        "forgotten": 0,
        "errors": 0,
        "failing": False,
    }
    text = json.dumps(diagnostics)
    assert placed["id"] not in text
    assert ANSWERS not in text


@flowing_time
async def test_still_ongoing_is_asked_again_with_back_off(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A call 46elks still reports as ongoing stays open and is asked about less and less."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    form = await held_hangup(hass, elks)
    # 46elks still says ongoing (a long conversation, say).
    elks.sim.calls[form["id"]].state = "ongoing"

    await advance_by_ticks(hass, freezer, 2 * 3600)
    asked = len(call_gets(elks))
    # Every 30 s would be 240 requests; doubling from a minute up to 30 min.
    assert 4 <= asked <= 10
    assert events == []
    assert hass.states.get(SENSOR).state == "ongoing"

    elks.sim.calls[form["id"]].state = "success"
    await advance_by_ticks(hass, freezer, 1800)
    assert ended(events) == [form["id"]]
    assert len(call_gets(elks)) == asked + 1
    # The held webhook comes after all: a duplicate.
    elks.sim.faults.release_webhooks()
    await elks.sim.wait_call_finished(form["id"])
    await hass.async_block_till_done()
    assert ended(events) == [form["id"]]


@flowing_time
async def test_webhook_after_reconciliation_is_a_duplicate(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A late hangup for a call reconciliation already ended fires nothing."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    form = await held_hangup(hass, elks, NO_ANSWER)
    await advance_by_ticks(hass, freezer, 150)
    assert ended(events) == [form["id"]]
    assert events[0].data["outcome"] == "no_answer"

    elks.sim.faults.release_webhooks()
    await elks.sim.wait_call_finished(form["id"])
    [delivery] = [d for d in elks.sim.deliveries if d.kind == "whenhangup"]
    await hass.async_block_till_done()
    assert delivery.status == 200
    assert ended(events) == [form["id"]]


@flowing_time
async def test_webhook_while_46elks_is_asked_wins_once(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The hangup lands while the API answer is on its way: one event, from the webhook."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    form = await held_hangup(hass, elks)

    answered = asyncio.Event()
    go_on = asyncio.Event()
    real_get_call = ElksClient.get_call

    async def held_answer(client: ElksClient, call_id: str) -> Call:
        # The real request to the simulator; its answer is handed back late.
        answer = await real_get_call(client, call_id)
        answered.set()
        await go_on.wait()
        return answer

    with patch.object(ElksClient, "get_call", held_answer):
        freezer.tick(timedelta(seconds=150))
        async_fire_time_changed(hass)
        async with asyncio.timeout(300):  # a hang guard
            await answered.wait()
        # The next look while this one waits starts no second request.
        freezer.tick(timedelta(seconds=30))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
        status, _ = await deliver(hass, hass_http, WEBHOOK_ID, form, Road.HTTP)
        await hass.async_block_till_done()
        assert status == 200
        assert ended(events) == [form["id"]]
        go_on.set()
        await hass.async_block_till_done(wait_background_tasks=True)

    assert call_gets(elks) == [form["id"]]
    assert ended(events) == [form["id"]]
    diagnostics = await async_get_config_entry_diagnostics(hass, loaded_entry)
    assert diagnostics["reconciliation"]["ended"] == 0
    elks.sim.faults.clear()


@flowing_time
async def test_in_time_hangups_cost_no_request(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """N calls whose hangups arrive in time: N POSTs, no GET, however long one waits."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    numbers = [f"+4670000{i:04d}" for i in range(8)]
    elks.sim.faults.hold_webhooks()
    placed = (await call(hass, to=numbers, play="sound/beep"))["calls"]
    for item in placed:
        await elks.sim.wait_webhook_held(item["id"])
    # Late, but within the ring timeout (60 s) plus the margin.
    await advance_by_ticks(hass, freezer, 90)
    elks.sim.faults.release_webhooks()
    for item in placed:
        await elks.sim.wait_call_finished(item["id"])
    await hass.async_block_till_done()
    assert len(events) == len(numbers)

    await advance_by_ticks(hass, freezer, 2 * 3600)
    assert len(elks.call_posts()) == len(numbers)
    assert call_gets(elks) == []
    assert [
        r.method for r in elks.sim.requests if r.path.lower().startswith("/a1/calls")
    ] == ["POST"] * len(numbers)
    assert len(events) == len(numbers)


@flowing_time
async def test_46elks_faults_are_retried_quietly(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """5xx and dropped connections: backed off, logged once, no traceback; then each call ends once."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    elks.sim.faults.hold_webhooks()
    placed = (await call(hass, to=[ANSWERS, BUSY, NO_ANSWER], play="sound/beep"))[
        "calls"
    ]
    for item in placed:
        await elks.sim.wait_webhook_held(item["id"])
    elks.sim.faults.fail_next(429, count=1, path="/a1/calls/*", method="GET")
    elks.sim.faults.fail_next(500, count=3, path="/a1/calls/*", method="GET")
    elks.sim.faults.drop_next(count=1000, path="/a1/calls/*", method="GET")
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)

    await advance_by_ticks(hass, freezer, 3600)
    asked = len(call_gets(elks))
    # One request per pass while 46elks fails, passes doubling apart.
    # (aiohttp may repeat a GET whose connection was dropped, once.)
    assert 2 <= asked <= 2 * 8
    assert events == []
    mine = [r for r in caplog.records if r.name.startswith(LOGGER_NAME)]
    assert [r.levelno for r in mine if r.levelno >= logging.WARNING] == [
        logging.WARNING
    ]
    assert not tracebacks_or_errors(caplog)

    elks.sim.faults.request_faults.clear()  # 46elks is back
    await advance_by_ticks(hass, freezer, 3600)
    assert sorted(ended(events)) == sorted(item["id"] for item in placed)
    assert "46elks answers again" in caplog.text
    assert not tracebacks_or_errors(caplog)
    diagnostics = await async_get_config_entry_diagnostics(hass, loaded_entry)
    assert diagnostics["reconciliation"]["failing"] is False
    assert diagnostics["reconciliation"]["errors"] >= 2
    elks.sim.faults.clear()
    await hass.async_block_till_done()
    assert len(events) == len(placed)


@flowing_time
async def test_call_46elks_does_not_know_is_forgotten(
    hass: HomeAssistant,
    elks: Elks,
    config_entry: MockConfigEntry,
    hass_http: TestClient,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stored call 46elks answers 404 for is asked a few times, then forgotten with a warning."""
    now = time.time()
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}.calls"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{config_entry.entry_id}.calls",
        "data": {
            "ongoing": [
                {
                    "to": ANSWERS,
                    "from_number": CALLER_ID,
                    "placed_at": now - 30,
                    "call_id": "c0123456789abcdef0123456789abcdef",
                },
                # Not an id 46elks gives: never made part of a request path.
                {
                    "to": ANSWERS,
                    "from_number": CALLER_ID,
                    "placed_at": now - 30,
                    "call_id": "c/../../me",
                },
            ],
            "uncertain": [],
            "finished": [],
        },
    }
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(call_gets(elks)) == 1  # asked at once after setup
    assert config_entry.runtime_data.tracker.ongoing_count == 1
    assert [r.path for r in elks.sim.requests if "me" in r.path] == ["/a1/me"]

    await advance_by_ticks(hass, freezer, 3600)
    assert len(call_gets(elks)) == NOT_FOUND_LIMIT
    assert config_entry.runtime_data.tracker.ongoing_count == 0
    assert events == []
    warnings = [
        r
        for r in caplog.records
        if r.name.startswith(LOGGER_NAME) and r.levelno >= logging.WARNING
    ]
    assert len(warnings) == 2
    assert all("Forgetting call" in w.getMessage() for w in warnings)
    diagnostics = await async_get_config_entry_diagnostics(hass, config_entry)
    assert diagnostics["reconciliation"]["forgotten"] == 2
