"""Webhooks by both roads (HTTP and Home Assistant Cloud): once, safely, without secrets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
import json
import logging
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_mock_load_restore_state_from_storage,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.elks.const import (
    CONF_ONLY_46ELKS_SOURCES,
    EVENT_CALL_ENDED,
    EVENT_KEYPRESS,
)
from custom_components.elks.models import WebhookRoute
from custom_components.elks.webhook import MAX_BODY_BYTES
from elks_simulator import Callee
from homeassistant.core import HomeAssistant
from homeassistant.helpers import restore_state

from .conftest import ANSWERS, PRESSES_1, WEBHOOK_ID, Elks
from .roads import FORM_HEADERS, CloudRelay, Restarter, Road, cloud_deliver, deliver
from .test_call import SENSOR, call, held_hangup

PIN_CALLER = "+46700000117"
FORGED = "FORGED elks: door opened"


HTTP_STACK_LOGGERS = frozenset(
    {"aiohttp.access", "homeassistant.helpers.http", "homeassistant.components.webhook"}
)


@pytest.fixture
def http_components() -> dict[str, dict[str, Any]]:
    """Add the REST and websocket APIs: the sensor is read and webhooks sent through them."""
    return {
        "http": {},
        "webhook": {},
        "diagnostics": {},
        "notify": {},
        "api": {},
        "websocket_api": {},
    }


def other(road: Road) -> Road:
    """Return the road a re-delivery takes."""
    return Road.CLOUD if road is Road.HTTP else Road.HTTP


async def release_and_finish(hass: HomeAssistant, elks: Elks, call_id: str) -> None:
    """Let 46elks deliver the held hangup and wait until it was handled."""
    elks.sim.faults.release_webhooks()
    await elks.sim.wait_call_finished(call_id)
    await hass.async_block_till_done()


@asynccontextmanager
async def refused_then_real(
    hass: HomeAssistant, elks: Elks
) -> AsyncIterator[dict[str, str]]:
    """Yield a call's real hangup form, held back by 46elks.

    After the block: what it delivered ended nothing, and the real hangup,
    released, ends the call exactly once.
    """
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    form = await held_hangup(hass, elks)
    yield form
    await hass.async_block_till_done()
    assert events == []
    await release_and_finish(hass, elks, form["id"])
    assert [e.data["call_id"] for e in events] == [form["id"]]


async def test_duplicate_by_the_other_road_applied_once(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
) -> None:
    """A hangup ends its call by either road, and a copy by the other road does not."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    form = await held_hangup(hass, elks)
    assert await deliver(hass, hass_http, WEBHOOK_ID, form, road) == (200, None)
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == [form["id"]]
    assert hass.states.get(SENSOR).state == form["state"]
    assert await deliver(hass, hass_http, WEBHOOK_ID, form, other(road)) == (
        200,
        None,
    )
    # 46elks' own delivery comes third.
    await release_and_finish(hass, elks, form["id"])
    assert [e.data["call_id"] for e in events] == [form["id"]]


async def test_unread_fields_are_not_decoded(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
) -> None:
    """A hangup ends its call even when a field nobody reads is not UTF-8 encoded.

    ``legs`` and ``actions`` are JSON that nothing reads: they are not
    decoded, so they cannot cost a hangup. Fields that are read stay strict.
    """
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    form = await held_hangup(hass, elks)
    broken = urlencode(form) + "&legs=%FF%FE&actions=%C3"
    assert await deliver(hass, hass_http, WEBHOOK_ID, broken, road) == (200, None)
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == [form["id"]]
    await release_and_finish(hass, elks, form["id"])
    assert len(events) == 1


async def test_acknowledgement_through_the_cloud(
    hass: HomeAssistant,
    elks: Elks,
    cloud_relay: CloudRelay,
    hass_http: TestClient,
    config_entry: MockConfigEntry,
) -> None:
    """voice_start, the key press and the hangup all come by the Cloud road."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    [placed] = (
        await call(hass, to=PRESSES_1, play="sound/beep", require_ack=True, timeout=5)
    )["calls"]
    [form] = elks.call_posts()
    assert form["voice_start"] == form["whenhangup"] == cloud_relay.url(WEBHOOK_ID)
    await elks.sim.wait_call_finished(placed["id"])
    await hass.async_block_till_done()
    [event] = events
    assert event.data["outcome"] == "acknowledged"
    assert event.data["acknowledged"] is True
    kinds = [d.kind for d in elks.sim.deliveries if d.call_id == placed["id"]]
    assert kinds[0] == "voice_start"
    assert "next" in kinds
    assert kinds[-1] == "whenhangup"
    assert cloud_relay.deliveries == len(kinds)
    assert all(d.ok for d in elks.sim.deliveries)


async def test_menu_with_pin_through_the_cloud(
    hass: HomeAssistant,
    elks: Elks,
    cloud_relay: CloudRelay,
    hass_http: TestClient,
    config_entry: MockConfigEntry,
) -> None:
    """A wrong PIN, the right one, then a menu choice, all by the Cloud road."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    elks.sim.set_callee(
        PIN_CALLER,
        Callee.answer(after=1.0, presses=[(1.0, "0000"), (1.0, "4711"), (1.0, "1")]),
    )
    keys = async_capture_events(hass, EVENT_KEYPRESS)
    ended = async_capture_events(hass, EVENT_CALL_ENDED)
    [placed] = (
        await call(
            hass, to=PIN_CALLER, play="sound/beep", menu={1: "open_door"}, pin="4711"
        )
    )["calls"]
    await elks.sim.wait_call_finished(placed["id"])
    await hass.async_block_till_done()
    assert [(k.data["digits"], k.data["label"]) for k in keys] == [("1", "open_door")]
    assert [e.data["call_id"] for e in ended] == [placed["id"]]
    assert cloud_relay.deliveries >= 5  # voice_start, 3 × next, whenhangup
    assert all(d.ok for d in elks.sim.deliveries)


async def test_webhook_id_never_logged(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hangups, junk, call-flow requests and wrong methods: the id stays out of the log."""
    caplog.set_level(logging.DEBUG)
    form = await held_hangup(hass, elks)
    for body in (
        form,
        form,
        form | {"duration": "-1"},
        {"callid": "c" + "0" * 32, "result": "newoutgoing"},
        "not a form",
        "id=" + "c" * 70_000,
    ):
        status, _ = await deliver(hass, hass_http, WEBHOOK_ID, body, road)
        assert status == 200
    await release_and_finish(hass, elks, form["id"])
    leaks = [
        f"{record.name} {record.levelname}: {record.getMessage()}"
        for record in caplog.records
        if WEBHOOK_ID in record.getMessage()
        # Home Assistant's HTTP stack prints request paths below warning level
        # (README: keep its debug logging off); nothing else may, at any level.
        and not (record.name in HTTP_STACK_LOGGERS and record.levelno < logging.WARNING)
    ]
    assert leaks == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


BAD_VALUES = [
    pytest.param("duration", str(10**20), id="duration-1e20"),
    pytest.param("duration", str(10**15), id="duration-1e15"),
    pytest.param("duration", "-4", id="duration-negative"),
    pytest.param("duration", "12\n", id="duration-newline"),
    pytest.param("cost", "1" + "0" * 400, id="cost-1e400"),
    pytest.param("cost", str(10**12), id="cost-1e12"),
    pytest.param("state", "ongoing", id="state-ongoing"),
    pytest.param("created", "yesterday", id="created-unparseable"),
    pytest.param("start", "2026-13-45T99:00:00", id="start-unparseable"),
    pytest.param("to", f"{ANSWERS}\n{FORGED}", id="to-newline"),
    pytest.param("from", "Home alarm", id="from-not-a-number"),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
async def test_impossible_hangup_does_not_end_the_call(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    hass_access_token: str,
    road: Road,
    caplog: pytest.LogCaptureFixture,
    field: str,
    value: str,
) -> None:
    """An impossible value is refused with a warning; the real hangup still ends the call."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    form = await held_hangup(hass, elks)
    assert "duration" in form  # answered: the real hangup has every field
    bad = form | {field: value}
    assert await deliver(hass, hass_http, WEBHOOK_ID, bad, road) == (200, None)
    await hass.async_block_till_done()
    assert events == []
    assert hass.states.get(SENSOR).state == "ongoing"
    [warning] = [
        record
        for record in caplog.records
        if record.name.startswith("custom_components.elks")
        and record.levelno == logging.WARNING
    ]
    message = warning.getMessage()
    assert "invalid 46elks hangup" in message
    assert field in message
    assert value not in message
    assert "\n" not in message

    await release_and_finish(hass, elks, form["id"])
    [event] = events
    assert event.data["call_id"] == form["id"]
    assert event.data["state"] == form["state"]
    response = await hass_http.get(
        f"/api/states/{SENSOR}",
        headers={"Authorization": f"Bearer {hass_access_token}"},
    )
    assert response.status == 200
    assert (await response.json())["state"] == form["state"]


@pytest.mark.parametrize(
    ("field", "value"), [BAD_VALUES[0], BAD_VALUES[4], BAD_VALUES[6]]
)
async def test_stop_after_an_impossible_hangup(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    restarter: Restarter,
    road: Road,
    caplog: pytest.LogCaptureFixture,
    field: str,
    value: str,
) -> None:
    """Home Assistant stops and saves the last call as the genuine hangup left it."""
    form = await held_hangup(hass, elks)
    bad = form | {field: value}
    assert await deliver(hass, hass_http, WEBHOOK_ID, bad, road) == (200, None)
    await release_and_finish(hass, elks, form["id"])
    before = hass.states.get(SENSOR)
    # What a stop does first; the test harness leaves it out of async_stop.
    await restore_state.async_get(hass).async_dump_states()
    hass2, _, _ = await restarter.restart(
        hass,
        hass_http,
        loaded_entry,
        before_setup=async_mock_load_restore_state_from_storage,
    )
    after = hass2.states.get(SENSOR)
    assert after is not None
    assert after.state == before.state == form["state"]
    assert after.attributes["id"] == form["id"]
    assert after.attributes["duration"] == before.attributes["duration"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_forged_log_lines(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ids with a newline cannot start a log line of their own."""
    caplog.set_level(logging.DEBUG)
    form = await held_hangup(hass, elks)
    for body in (
        form | {"id": f"{form['id']}\n{FORGED}"},
        form | {"id": f"{form['id']}\r\n{FORGED}"},
        {"callid": f"{form['id']}\n{FORGED}", "result": "newoutgoing"},
        {"callid": f"c1\n{FORGED}", "result": "1"},
    ):
        assert (await deliver(hass, hass_http, WEBHOOK_ID, body, road))[0] == 200
    await release_and_finish(hass, elks, form["id"])
    lines = caplog.text.splitlines()
    assert any(FORGED in line for line in lines)  # it was logged, escaped
    assert not [line for line in lines if line.lstrip().startswith("FORGED")]


async def test_allow_list_and_the_cloud(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """With the allow-list on, Nabu Casa's relay (no source address) still gets through."""
    hass.config_entries.async_update_entry(
        loaded_entry, options={**loaded_entry.options, CONF_ONLY_46ELKS_SOURCES: True}
    )
    await hass.async_block_till_done()
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    form = await held_hangup(hass, elks)
    # Loopback is not one of 46elks' addresses: the HTTP road is refused.
    assert (await deliver(hass, hass_http, WEBHOOK_ID, form, Road.HTTP))[0] == 403
    assert (await deliver(hass, hass_http, WEBHOOK_ID, form, Road.CLOUD))[0] == 200
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == [form["id"]]


@pytest.mark.parametrize(
    ("allow_list", "status", "applied"), [(False, 200, True), (True, 403, False)]
)
async def test_websocket_webhook_handle(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    hass_ws_client: WebSocketGenerator,
    allow_list: bool,
    status: int,
    applied: bool,
) -> None:
    """``webhook/handle`` builds the same request as Cloud; it is not 46elks, though."""
    hass.config_entries.async_update_entry(
        loaded_entry,
        options={**loaded_entry.options, CONF_ONLY_46ELKS_SOURCES: allow_list},
    )
    await hass.async_block_till_done()
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    form = await held_hangup(hass, elks)
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "webhook/handle",
            "webhook_id": WEBHOOK_ID,
            "method": "POST",
            "body": urlencode(form),
            "headers": FORM_HEADERS,
        }
    )
    response = await client.receive_json()
    assert response["success"]
    assert response["result"]["status"] == status
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == ([form["id"]] if applied else [])


async def test_oversize_body_by_each_road(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
) -> None:
    """A real hangup padded past the size bound is not read; Cloud sends no length."""
    async with refused_then_real(hass, elks) as form:
        padded = form | {"pad": "x" * MAX_BODY_BYTES}
        assert await deliver(hass, hass_http, WEBHOOK_ID, padded, road) == (200, None)


async def test_handler_error_does_not_log_the_webhook_id(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug behind the webhook is logged by us, without the id Home Assistant would print."""
    tracker = loaded_entry.runtime_data.tracker

    def broken(call: object) -> str:
        raise RuntimeError("a bug")

    async with refused_then_real(hass, elks) as form:
        with monkeypatch.context() as patched:
            patched.setattr(tracker, "hangup_received", broken)
            assert await deliver(hass, hass_http, WEBHOOK_ID, form, road) == (200, None)
        [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert error.name == "custom_components.elks"
        assert WEBHOOK_ID not in error.getMessage()


@pytest.mark.parametrize("length", ["abc", "9" * 5000, "70000"])
async def test_cloud_content_length_that_cannot_hold(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    length: str,
) -> None:
    """Cloud relays headers aiohttp never parsed: a bad or too large length is refused."""
    async with refused_then_real(hass, elks) as form:
        status, _ = await cloud_deliver(
            hass,
            WEBHOOK_ID,
            urlencode(form),
            headers={**FORM_HEADERS, "Content-Length": length},
        )
        assert status == 200


async def test_named_routes_reach_their_handler_by_both_roads(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``?on=<route>`` goes to the route's handler; unknown or unhandled routes get 200."""
    hook = loaded_entry.runtime_data.webhook
    received: list[tuple[dict[str, str], dict[str, str]]] = []

    async def handler(form: dict[str, str], query: Mapping[str, str]) -> web.Response:
        received.append((form, dict(query)))
        return web.json_response({"hangup": "busy"})

    url = hook.url_for(WebhookRoute.INCOMING_CALL, number="n1")
    assert url is not None
    assert url.endswith("?on=incoming_call&number=n1")
    query = url.partition("?")[2]
    form = {"callid": "c1", "direction": "incoming"}
    # The account's own incoming-call handler: n1 is none of its numbers.
    status, text = await deliver(hass, hass_http, WEBHOOK_ID, form, road, query)
    assert (status, json.loads(text or "null")) == (200, {"hangup": "reject"})
    assert received == []
    remove = hook.async_add_route(WebhookRoute.INCOMING_CALL, handler)
    status, text = await deliver(hass, hass_http, WEBHOOK_ID, form, road, query)
    assert (status, json.loads(text or "null")) == (200, {"hangup": "busy"})
    assert received == [(form, {"on": "incoming_call", "number": "n1"})]
    remove()
    remove()
    assert await deliver(hass, hass_http, WEBHOOK_ID, form, road, "on=no+such") == (
        200,
        None,
    )
    assert len(received) == 1
    assert "route 'no such'" in caplog.text
