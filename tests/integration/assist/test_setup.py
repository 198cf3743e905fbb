"""Setting up Assist by phone: the subentry flow and the numbers it points here.

After the flow, the simulator's websocket number leads to the WebSocket and
the dial-in number connects to it; a caller dialling the dial-in number
talks to Assist. Removing the subentry gives both numbers their old values.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.elks.assist import ASSIST_PATH
from custom_components.elks.const import (
    CONF_ASSIST_CALLERS,
    CONF_ASSIST_DIAL_IN,
    CONF_ASSIST_NUMBER,
    CONF_ASSIST_NUMBER_ID,
    CONF_ASSIST_PIPELINE,
    CONF_ASSIST_TOKEN,
    SUBENTRY_ASSIST,
)
from elks_simulator import Number
from elks_simulator.websocket import WebSocketCaller, websocket_url
from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from tests.integration.conftest import Elks

from .env import ALLOWED, WEBSOCKET_NUMBER, Engines, clip

DIAL_IN = "+46766861001"
ELSEWHERE = "https://elsewhere.example/hooks/s3cr3t-hook-id"


async def start_flow(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    """Open the ``assist`` subentry flow."""
    return dict(
        await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_ASSIST), context={"source": "user"}
        )
    )


async def configure(
    hass: HomeAssistant, flow_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Send one step of the flow."""
    return dict(await hass.config_entries.subentries.async_configure(flow_id, data))


def numbers(elks: Elks) -> tuple[Number, Number]:
    """Add the websocket number and a dial-in number that leads elsewhere now."""
    websocket = elks.sim.add_number(
        elks.account, WEBSOCKET_NUMBER, capabilities=("voice",)
    )
    dial_in = elks.sim.add_number(
        elks.account, DIAL_IN, capabilities=("voice",), voice_start=ELSEWHERE
    )
    return websocket, dial_in


async def add_assist(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    pipeline_id: str,
    websocket: Number,
    dial_in: Number,
) -> ConfigSubentry:
    """Run the flow through its confirmation; return the new subentry."""
    result = await start_flow(hass, entry)
    assert result["type"] is FlowResultType.FORM
    result = await configure(
        hass,
        result["flow_id"],
        {
            CONF_ASSIST_PIPELINE: pipeline_id,
            CONF_ASSIST_NUMBER: websocket.id,
            CONF_ASSIST_DIAL_IN: dial_in.id,
            CONF_ASSIST_CALLERS: ["+46 70 111 11 11"],
        },
    )
    # The dial-in number leads elsewhere: shown by host, never the full URL.
    assert result["step_id"] == "confirm"
    shown = result["description_placeholders"]["numbers"]
    assert "elsewhere.example" in shown and "s3cr3t" not in shown
    result = await configure(hass, result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    [subentry] = [
        s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_ASSIST
    ]
    return subentry


async def test_flow_points_the_numbers_here_and_dialling_in_reaches_assist(
    hass: HomeAssistant,
    hass_http: TestClient,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    pipeline_id: str,
    engines: Engines,
) -> None:
    """The flow claims both numbers; a call to the dial-in number talks to Assist."""
    websocket, dial_in = numbers(elks)
    subentry = await add_assist(hass, loaded_entry, pipeline_id, websocket, dial_in)
    assert subentry.data[CONF_ASSIST_CALLERS] == [ALLOWED]
    # Named by its number, like the other number subentries.
    assert subentry.title == WEBSOCKET_NUMBER
    token = subentry.data[CONF_ASSIST_TOKEN]
    base = str(hass_http.make_url("")).rstrip("/").replace("http", "ws", 1)
    assert websocket.voice_start == f"{base}{ASSIST_PATH}/{token}"
    assert json.loads(dial_in.voice_start or "") == {"connect": WEBSOCKET_NUMBER}

    url = websocket_url(elks.sim.numbers.values(), DIAL_IN)
    caller = WebSocketCaller(hass_http.session, url, caller=ALLOWED, to=DIAL_IN)
    assert await caller.connect()
    await caller.wait_for("sync")
    await caller.say(clip("kitchen_on"))
    await caller.silence(1.5)
    await caller.wait_for("sync", 2)
    assert hass.states.get("light.kitchen_light").state == "on"
    await caller.hang_up()

    hass.config_entries.async_remove_subentry(loaded_entry, subentry.subentry_id)
    await hass.async_block_till_done()
    assert websocket.voice_start is None
    assert dial_in.voice_start == ELSEWHERE


async def test_flow_checks_callers_numbers_and_the_public_url(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    pipeline_id: str,
) -> None:
    """Bad callers, the same number twice and no public URL are named errors."""
    websocket, _ = numbers(elks)
    result = await start_flow(hass, loaded_entry)
    form = {
        CONF_ASSIST_PIPELINE: pipeline_id,
        CONF_ASSIST_NUMBER: websocket.id,
        CONF_ASSIST_CALLERS: ["0701111111"],
    }
    result = await configure(hass, result["flow_id"], form)
    assert result["errors"] == {CONF_ASSIST_CALLERS: "invalid_number"}
    result = await configure(
        hass, result["flow_id"], form | {CONF_ASSIST_DIAL_IN: websocket.id}
    )
    assert result["errors"] == {CONF_ASSIST_DIAL_IN: "same_number"}
    result = await configure(hass, result["flow_id"], form | {CONF_ASSIST_CALLERS: []})
    assert result["errors"] == {CONF_ASSIST_CALLERS: "callers_count"}
    await hass.config.async_update(external_url=None)
    result = await configure(
        hass, result["flow_id"], form | {CONF_ASSIST_CALLERS: [ALLOWED]}
    )
    assert result["errors"] == {"base": "no_public_url"}
    await hass.config.async_update(external_url="https://home.example")
    result = await configure(
        hass, result["flow_id"], form | {CONF_ASSIST_CALLERS: [ALLOWED]}
    )
    # A number without a voice_start is taken without asking.
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert (websocket.voice_start or "").startswith("wss://home.example/api/elks/")
    # Its calls are Assist's now: the number is offered no more.
    result = await start_flow(hass, loaded_entry)
    offered = result["data_schema"].schema[CONF_ASSIST_NUMBER].config["options"]
    assert websocket.id not in [o["value"] for o in offered]
    assert [o["value"] for o in offered]


async def test_flow_skips_a_number_incoming_calls_take(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    pipeline_id: str,
) -> None:
    """A number whose calls Incoming calls answers is offered neither as websocket nor dial-in number."""
    websocket, dial_in = numbers(elks)
    result = dict(
        await hass.config_entries.subentries.async_init(
            (loaded_entry.entry_id, "incoming_call"), context={"source": "user"}
        )
    )
    result = await configure(hass, result["flow_id"], {"number_id": websocket.id})
    result = await configure(
        hass,
        result["flow_id"],
        {
            "allow_anyone": True,
            "allowed_action": "reject",
            "unknown_action": "reject",
            "no_answer": "record",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    result = await start_flow(hass, loaded_entry)
    schema = result["data_schema"].schema
    for field in (CONF_ASSIST_NUMBER, "dial_in_number"):
        offered = [o["value"] for o in schema[field].config["options"]]
        assert websocket.id not in offered, field
        assert dial_in.id in offered, field


async def test_reconfigure_changes_callers_without_a_reload(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    pipeline_id: str,
) -> None:
    """Allowed callers, pipeline and greeting change in place; the numbers stay."""
    websocket, dial_in = numbers(elks)
    subentry = await add_assist(hass, loaded_entry, pipeline_id, websocket, dial_in)
    runtime = loaded_entry.runtime_data
    voice_start = websocket.voice_start
    result = dict(
        await loaded_entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    )
    assert result["step_id"] == "reconfigure"
    shown = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description
    }
    assert shown[CONF_ASSIST_CALLERS] == [ALLOWED]
    assert shown[CONF_ASSIST_PIPELINE] == pipeline_id
    result = await configure(
        hass,
        result["flow_id"],
        {CONF_ASSIST_PIPELINE: "preferred", CONF_ASSIST_CALLERS: ["0701"]},
    )
    assert result["errors"] == {CONF_ASSIST_CALLERS: "invalid_number"}
    result = await configure(
        hass,
        result["flow_id"],
        {
            CONF_ASSIST_PIPELINE: "preferred",
            # Blank and repeated entries count once.
            CONF_ASSIST_CALLERS: ["+46 70 222 22 22", " ", "+46702222222"],
        },
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    data = loaded_entry.subentries[subentry.subentry_id].data
    assert data[CONF_ASSIST_CALLERS] == ["+46702222222"]
    assert data[CONF_ASSIST_PIPELINE] is None
    assert data[CONF_ASSIST_NUMBER_ID] == websocket.id
    # Read at each call: no reload (it would interrupt escalations).
    assert loaded_entry.runtime_data is runtime
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert websocket.voice_start == voice_start
