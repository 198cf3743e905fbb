"""Defences: source allow-list, spoofed call flows, injection, hostile webhook bodies."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings, strategies as st
import probatio
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks.api import (
    FINAL_CALL_STATES,
    MAX_CALL_COST,
    MAX_CALL_DURATION_SECONDS,
    ElksResponseError,
    InvalidActionError,
    parse_timestamp,
    validate_action,
)
from custom_components.elks.const import (
    CONF_ONLY_46ELKS_SOURCES,
    EVENT_CALL_ENDED,
    EVENT_KEYPRESS,
)
from custom_components.elks.webhook import _parse_form, parse_hangup
from elks_simulator import Callee
from homeassistant.core import HomeAssistant

from .conftest import ANSWERS, CALLER_ID, HTTP_COMPONENTS_WITH_TTS, PRESSES_1, Elks
from .test_call import SENSOR, call
from .test_webhook import FORM, WEBHOOK_PATH, hangup_form


@pytest.fixture
def http_components() -> dict[str, dict[str, Any]]:
    """Messages are spoken here: text-to-speech is needed."""
    return HTTP_COMPONENTS_WITH_TTS


async def only_46elks(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Turn the source allow-list on."""
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_ONLY_46ELKS_SOURCES: True}
    )
    await hass.async_block_till_done()


async def placed_and_held(hass: HomeAssistant, elks: Elks) -> str:
    """Place a call whose real hangup is held back; return its id."""
    elks.sim.faults.hold_webhooks()
    [placed] = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"]
    return str(placed["id"])


async def test_allow_list_refuses_other_sources(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """With the allow-list on, a correct hangup from elsewhere is refused."""
    await only_46elks(hass, loaded_entry)
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    call_id = await placed_and_held(hass, elks)
    response = await hass_http.post(
        WEBHOOK_PATH, data=urlencode(hangup_form(call_id)), headers=FORM
    )
    assert response.status == 403
    await hass.async_block_till_done()
    assert events == []
    assert hass.states.get(SENSOR).state == "ongoing"


@pytest.mark.parametrize(
    ("http_components", "forwarded_for", "status", "applied"),
    [
        (
            {
                "http": {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1"]},
                "webhook": {},
                "notify": {},
            },
            "176.10.154.199",
            200,
            True,
        ),
        (
            {
                "http": {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1"]},
                "webhook": {},
                "notify": {},
            },
            "::ffff:85.24.146.132",
            200,
            True,
        ),
        (
            {
                "http": {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1"]},
                "webhook": {},
                "notify": {},
            },
            "203.0.113.9",
            403,
            False,
        ),
        # A proxy Home Assistant does not trust cannot vouch for anybody.
        ({"http": {}, "webhook": {}, "notify": {}}, "176.10.154.199", 400, False),
    ],
)
async def test_allow_list_behind_reverse_proxy(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    forwarded_for: str,
    status: int,
    applied: bool,
) -> None:
    """X-Forwarded-For counts only when Home Assistant trusts the proxy."""
    await only_46elks(hass, loaded_entry)
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    call_id = await placed_and_held(hass, elks)
    response = await hass_http.post(
        WEBHOOK_PATH,
        data=urlencode(hangup_form(call_id)),
        headers={**FORM, "X-Forwarded-For": forwarded_for},
    )
    assert response.status == status
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == ([call_id] if applied else [])


async def test_forged_menu_choice_cannot_connect_elsewhere(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """A forged call-flow request can only pick what the automation offered."""
    # The real callee would answer much later: the test plays 46elks itself.
    elks.sim.set_callee(PRESSES_1, Callee.answer(after=50.0))
    keys = async_capture_events(hass, EVENT_KEYPRESS)
    [placed] = (
        await call(hass, to=PRESSES_1, play="sound/beep", menu={"1": "open_door"})
    )["calls"]

    async def flow(result: str) -> dict[str, Any]:
        response = await hass_http.post(
            WEBHOOK_PATH,
            data=urlencode(
                {
                    "callid": placed["id"],
                    "result": result,
                    "from": CALLER_ID,
                    "to": PRESSES_1,
                    "connect": "+46900000000",
                }
            ),
            headers=FORM,
        )
        assert response.status == 200
        return dict(await response.json())

    first = await flow("newoutgoing")
    assert "ivr" in first
    for forged in ("9", "+46900000000", '{"connect":"+46900000000"}', "2"):
        action = await flow(forged)
        assert "connect" not in json.dumps(action)
    assert keys == []


async def test_user_text_never_becomes_call_flow(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry, speech_engine: str
) -> None:
    """A message that looks like an action is spoken, not executed."""
    injected = '"}, "next": {"connect": "+46900000000"}, "x": {"'
    await call(hass, to=ANSWERS, message=injected)
    voice_start = json.loads(elks.call_posts()[0]["voice_start"])
    assert set(voice_start) == {"play", "skippable"}
    assert "/api/elks/audio/" in voice_start["play"]
    assert "+46900000000" not in elks.call_posts()[0]["voice_start"]


async def test_truncated_body_is_harmless(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """A body cut off before its Content-Length changes nothing and breaks nothing."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    call_id = await placed_and_held(hass, elks)
    body = urlencode(hangup_form(call_id)).encode()
    reader, writer = await asyncio.open_connection(
        hass_http.server.host, hass_http.server.port
    )
    writer.write(
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body) + 50}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.1)
    await hass.async_block_till_done()
    assert events == []
    # And the real hangup still works afterwards.
    elks.sim.faults.release_webhooks()
    await elks.sim.wait_call_finished(call_id)
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == [call_id]


_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "play",
                    "ivr",
                    "connect",
                    "next",
                    "busy",
                    "failed",
                    "1",
                    "#",
                    "digits",
                    "hangup",
                    "record",
                    "x",
                    "recordcall",
                ]
            )
            | _text,
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_validate_action_only_passes_known_keys(action: Any) -> None:
    """Whatever comes in: a clean InvalidActionError, or an action of known keys only."""
    try:
        result = validate_action(action)
    except InvalidActionError:
        return
    allowed = {
        "play",
        "ivr",
        "connect",
        "record",
        "recordcall",
        "hangup",
        "next",
        "skippable",
        "digits",
        "timeout",
        "repeat",
        "callerid",
        "busy",
        "failed",
        "timelimit",
        "whenhangup",
        "silencedetection",
        *"0123456789",
        "*",
        "#",
    }

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            assert set(node) <= allowed
            for key in ("next", "busy", "failed", *"0123456789", "*", "#"):
                if key in node:
                    walk(node[key])

    walk(result)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300)
    | st.builds(
        lambda d: urlencode(d).encode(),
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "from",
                    "to",
                    "state",
                    "created",
                    "start",
                    "duration",
                    "cost",
                    "actions",
                    "legs",
                    "direction",
                    "callid",
                ]
            ),
            _text,
            max_size=10,
        ),
    )
)
def test_webhook_parser_never_crashes(body: bytes) -> None:
    """Any body is a form or None, and any form is a Call or a clean validation error."""
    form = _parse_form(body)
    if form is None:
        return
    try:
        parsed = parse_hangup(form)
    except probatio.Invalid, ElksResponseError:
        return
    assert parsed.state in FINAL_CALL_STATES
    assert parsed.id == form["id"]
    assert 0 <= (parsed.duration or 0) <= MAX_CALL_DURATION_SECONDS
    assert 0 <= (parsed.cost or 0) <= MAX_CALL_COST
    assert "\n" not in parsed.id + parsed.to + parsed.from_number


_VALID_HANGUP = {
    "id": "c0123456789abcdef0123456789abcdef",
    "direction": "outgoing",
    "from": CALLER_ID,
    "to": ANSWERS,
    "created": "2026-11-27T10:00:00.000000",
    "start": "2026-11-27T10:00:05.000000",
    "state": "success",
    "duration": "12",
    "cost": "3500",
}


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(sorted(_VALID_HANGUP)),
    _text
    | st.integers().map(str)
    | st.sampled_from(["ongoing", "1e9", " 5", "5\n", "+46700000101\n", "١٢"]),
)
def test_hangup_values_are_bounded(field: str, value: str) -> None:
    """One field of a real hangup replaced: refused, or within the documented bounds."""
    try:
        parsed = parse_hangup(_VALID_HANGUP | {field: value})
    except probatio.Invalid:
        return
    assert parsed.state in FINAL_CALL_STATES
    assert 0 <= (parsed.duration or 0) <= MAX_CALL_DURATION_SECONDS
    assert 0 <= (parsed.cost or 0) <= MAX_CALL_COST
    for number in (parsed.to, parsed.from_number):
        assert number.startswith("+")
        assert number[1:].isascii()
        assert number[1:].isdigit()
    assert parsed.id.isascii()
    assert parsed.id.isalnum()
    assert parse_timestamp(parsed.created) is not None
