"""Replayed and re-sent call-flow requests: PIN tries cannot be reset, events fire once.

The test plays 46elks' part of the call flow itself, through the real
webhook by both roads, following the ``next`` URLs Home Assistant hands out
as 46elks does.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks.const import DOMAIN, EVENT_KEYPRESS
from elks_simulator import Callee
from homeassistant.core import Event, HomeAssistant

from .conftest import ANSWERS, BUSY, CALLER_ID, WEBHOOK_ID, Elks
from .roads import Road, deliver
from .test_call import call

HANGUP = {"hangup": "reject"}
CONFIRMATION = {"play": "sound/beep", "skippable": False}


class FlowDriver:
    """46elks' side of one call's flow."""

    def __init__(
        self, hass: HomeAssistant, client: TestClient, road: Road, call_id: str
    ) -> None:
        """Drive the flow of ``call_id`` by ``road``."""
        self._hass = hass
        self._client = client
        self._road = road
        self.call_id = call_id
        self.next_query = ""  # of the last next URL we were given

    async def send(self, result: str, query: str | None = None) -> dict[str, Any]:
        """Send a request with ``result`` to ``query`` (default: the last next URL)."""
        form = {
            "callid": self.call_id,
            "direction": "outgoing",
            "from": CALLER_ID,
            "to": ANSWERS,
            "result": result,
        }
        if result == "failed":
            form["why"] = "noinput"
        status, body = await deliver(
            self._hass,
            self._client,
            WEBHOOK_ID,
            form,
            self._road,
            query=self.next_query if query is None else query,
        )
        assert status == 200
        assert body is not None
        action: dict[str, Any] = json.loads(body)
        if isinstance(action.get("next"), str):
            self.next_query = urlsplit(action["next"]).query
        return action

    async def start(self) -> dict[str, Any]:
        """Send the voice_start request (its URL carries no query)."""
        return await self.send("newoutgoing", query="")


@pytest.fixture
async def pin_menu_call(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
) -> FlowDriver:
    """Place a call with PIN 4711 and a menu, answered by nobody but this test."""
    elks.sim.set_callee(ANSWERS, Callee.answer(after=1e6))
    elks.sim.faults.hold_webhooks()  # the call stays ongoing
    [placed] = (
        await call(
            hass,
            to=ANSWERS,
            play="sound/beep",
            menu={1: "open_door", "2": {"connect": BUSY, "label": "talk"}},
            pin="4711",
        )
    )["calls"]
    return FlowDriver(hass, hass_http, road, placed["id"])


def is_prompt(action: dict[str, Any]) -> bool:
    """Whether an answer asks for keys again."""
    return "ivr" in action


def labels(events: list[Event]) -> list[str]:
    """Labels of elks_keypress events."""
    return [event.data["label"] for event in events]


async def test_replayed_voice_start_does_not_reset_pin_tries(
    hass: HomeAssistant, pin_menu_call: FlowDriver
) -> None:
    """Two wrong PINs, a replayed voice_start, a third wrong PIN: hung up."""
    flow = pin_menu_call
    assert is_prompt(await flow.start())
    assert is_prompt(await flow.send("0000"))
    assert is_prompt(await flow.send("1111"))
    await flow.start()  # replayed: starts nothing
    assert await flow.send("2222") == HANGUP
    assert await flow.send("4711") == HANGUP


async def test_finished_flow_stays_finished(
    hass: HomeAssistant, pin_menu_call: FlowDriver
) -> None:
    """After the menu choice, a replayed voice_start and new keys fire nothing."""
    keys = async_capture_events(hass, EVENT_KEYPRESS)
    flow = pin_menu_call
    await flow.start()
    assert is_prompt(await flow.send("4711"))
    assert await flow.send("1") == CONFIRMATION
    assert await flow.start() == HANGUP
    assert await flow.send("4711", query="step=3") == HANGUP
    assert await flow.send("1", query="step=4") == HANGUP
    await hass.async_block_till_done()
    assert labels(keys) == ["open_door"]


async def test_thirty_wrong_pins_then_the_right_one(
    hass: HomeAssistant, pin_menu_call: FlowDriver
) -> None:
    """Wrong PINs with voice_start replayed between them never open the menu."""
    keys = async_capture_events(hass, EVENT_KEYPRESS)
    flow = pin_menu_call
    await flow.start()
    answers = []
    for n in range(30):
        if n % 2 == 0:
            await flow.start()
        answers.append(await flow.send(f"{n:04d}", query=f"step={n + 1}"))
    assert all(is_prompt(answer) for answer in answers[:2])
    assert answers[2:] == [HANGUP] * 28
    assert await flow.send("4711", query="step=31") == HANGUP
    assert await flow.send("1", query="step=32") == HANGUP
    await hass.async_block_till_done()
    assert keys == []


@pytest.mark.parametrize(
    ("digit", "answer"),
    [
        ("1", CONFIRMATION),
        ("2", {"connect": BUSY, "callerid": CALLER_ID}),
    ],
)
async def test_resent_accepting_request(
    hass: HomeAssistant, pin_menu_call: FlowDriver, digit: str, answer: dict[str, Any]
) -> None:
    """46elks re-sending the menu choice gets the same answer; the event fires once."""
    keys = async_capture_events(hass, EVENT_KEYPRESS)
    flow = pin_menu_call
    await flow.start()
    await flow.send("4711")
    query = flow.next_query
    assert await flow.send(digit) == answer
    assert await flow.send(digit, query=query) == answer
    assert await flow.send(digit, query=query) == answer
    await hass.async_block_till_done()
    assert len(keys) == 1


async def test_resent_wrong_pin_is_one_try(
    hass: HomeAssistant, pin_menu_call: FlowDriver
) -> None:
    """A wrong PIN re-sent by 46elks counts once; so does a re-sent voice_start."""
    flow = pin_menu_call
    first = await flow.start()
    assert await flow.start() == first  # re-sent: same answer, same next URL
    query = flow.next_query
    prompt = await flow.send("0000")
    for _ in range(3):
        assert await flow.send("0000", query=query) == prompt
    assert is_prompt(await flow.send("1111"))
    assert is_prompt(await flow.send("4711"))
    assert await flow.send("1") == CONFIRMATION


async def test_silence_still_ends_the_call(
    hass: HomeAssistant, pin_menu_call: FlowDriver
) -> None:
    """Three silent prompts in a row hang up: each is a new step, not a re-send."""
    flow = pin_menu_call
    await flow.start()
    assert is_prompt(await flow.send("failed"))
    assert is_prompt(await flow.send("failed"))
    assert await flow.send("failed") == HANGUP


async def test_flow_stored_by_an_older_version(
    hass: HomeAssistant,
    elks: Elks,
    config_entry: MockConfigEntry,
    hass_http: TestClient,
    hass_storage: dict[str, Any],
    road: Road,
) -> None:
    """A flow stored before steps were numbered goes on from its unnumbered URLs."""
    key = f"{DOMAIN}.{config_entry.entry_id}.calls"
    plan = {
        "audio": "sound/beep",
        "connect": None,
        "actions": None,
        "repeat": 1,
        "lead_in": "none",
        "ack_digit": None,
        "menu": {"1": {"label": "open_door", "connect": None}},
        "pin": "4711",
    }
    old_flow = {
        "stage": "pin",
        "attempts": 1,
        "answered": True,
        "acknowledged": False,
        "no_input": False,
    }
    hass_storage[key] = {
        "version": 1,
        "minor_version": 1,
        "key": key,
        "data": {
            "ongoing": [
                {
                    "to": ANSWERS,
                    "from_number": CALLER_ID,
                    "placed_at": time.time(),
                    "call_id": "cbeforeupgrade",
                    "plan": plan,
                    "flow": old_flow,
                }
            ],
            "uncertain": [],
            "finished": [],
        },
    }
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    keys = async_capture_events(hass, EVENT_KEYPRESS)
    flow = FlowDriver(hass, hass_http, road, "cbeforeupgrade")
    await flow.start()  # replayed: changes nothing
    assert is_prompt(await flow.send("0000", query=""))
    assert await flow.send("1111", query="") == HANGUP  # the third try
    await hass.async_block_till_done()
    assert keys == []
