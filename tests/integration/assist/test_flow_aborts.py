"""The Assist by phone flow stops with a reason when it cannot offer anything."""

from __future__ import annotations

from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.elks.const import (
    CONF_ASSIST_CALLERS,
    CONF_ASSIST_NUMBER,
    CONF_ASSIST_PIPELINE,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from tests.integration.conftest import Elks

from .env import ALLOWED
from .test_setup import configure, numbers, start_flow


async def test_abort_when_46elks_cannot_list_numbers(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry, pipeline_id: str
) -> None:
    """46elks failing to list the numbers is named, not a traceback."""
    elks.sim.faults.fail_next(path="/a1/numbers", method="GET")
    result = await start_flow(hass, loaded_entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_abort_when_the_account_is_not_set_up(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry, pipeline_id: str
) -> None:
    """An account that is not set up has no client to ask for its numbers."""
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    result = await start_flow(hass, loaded_entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_abort_without_a_free_voice_number(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry, pipeline_id: str
) -> None:
    """No active voice number: nothing to take calls on."""
    for number in elks.sim.numbers.values():
        number.active = False
    result = await start_flow(hass, loaded_entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_voice_numbers"


async def test_two_flows_for_one_number(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry, pipeline_id: str
) -> None:
    """Two flows offered the same free number: the second one to finish stops."""
    websocket, other = numbers(elks)
    first = await start_flow(hass, loaded_entry)
    second = await start_flow(hass, loaded_entry)
    form = {
        CONF_ASSIST_PIPELINE: pipeline_id,
        CONF_ASSIST_NUMBER: websocket.id,
        CONF_ASSIST_CALLERS: [ALLOWED],
    }
    result = await configure(hass, first["flow_id"], form)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    result = await configure(hass, second["flow_id"], form)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    # Another free number still can be taken beside the first.
    result = await configure(
        hass,
        (await start_flow(hass, loaded_entry))["flow_id"],
        form | {CONF_ASSIST_NUMBER: other.id},
    )
    assert result["step_id"] == "confirm"  # it leads elsewhere now
    result = await configure(hass, result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
