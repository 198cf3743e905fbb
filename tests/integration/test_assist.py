"""Assist by phone: a caller talks to Assist over 46elks' call-audio WebSocket.

A real Home Assistant (HTTP server on loopback, Assist pipeline, Assist's own
conversation agent) and the simulator's WebSocket caller. The order of
events is forced by the caller: it speaks after the answer it waits for
arrived, and keeps "playing" an answer (no ``sync``) to talk over it.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.elks.assist import DATA_ASSIST, PHONE_USER_NAME
from custom_components.elks.assist_call import AssistCall
from custom_components.elks.const import CONF_CALLER_ID, DOMAIN
from elks_simulator.websocket import WebSocketCaller
from homeassistant.core import HomeAssistant

from .assist_env import (
    ASSIST_COMPONENTS,
    Engines,
    assist_subentry,
    async_setup_assist_world,
    clip,
    phone,
    wav_bytes,
)
from .conftest import Elks, entry_data


@pytest.fixture
def http_components() -> dict[str, dict[str, Any]]:
    """Everything Assist needs, set up before the HTTP server starts."""
    return ASSIST_COMPONENTS


@pytest.fixture
def engines() -> Engines:
    """Return what the test STT/TTS engines see."""
    return Engines()


@pytest.fixture
async def assist_entry(
    hass: HomeAssistant, hass_http: TestClient, elks: Elks, engines: Engines
) -> MockConfigEntry:
    """Load the test account with an ``assist`` subentry."""
    pipeline_id = await async_setup_assist_world(hass, engines)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        unique_id=elks.account.id,
        data=entry_data(elks.base_url),
        options={CONF_CALLER_ID: "+46766860001"},
        subentries_data=[assist_subentry(pipeline_id)],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def running_call(hass: HomeAssistant) -> AssistCall:
    """Return the one call talking to Assist now."""
    (call,) = hass.data[DATA_ASSIST].calls
    return call


async def test_one_turn_turns_on_the_light(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    engines: Engines,
) -> None:
    """Say "turn on the kitchen light": it goes on, by the phone user; the answer is heard."""
    caller = phone(hass_http)
    assert await caller.connect()
    greeted = await caller.wait_for("sync")
    assert caller.types()[:3] == ["listening", "sending", "audio"]
    assert caller.received[0]["format"] == "pcm_16000"
    assert caller.received[1]["format"] == "pcm_16000"
    speech = clip("kitchen_on")
    await caller.say(speech)
    await caller.silence(1.5)
    await caller.wait_for("sync", 2)

    state = hass.states.get("light.kitchen_light")
    assert state is not None and state.state == "on"
    user = await hass.auth.async_get_user(state.context.user_id or "")
    assert user is not None and user.name == PHONE_USER_NAME and user.system_generated
    assert [text for _, text in engines.heard] == ["turn on the kitchen light"]
    # The STT got the whole sentence, cut by the pipeline's end-of-speech detection.
    assert len(speech) <= engines.heard[0][0] <= len(speech) + 2 * 32000
    assert engines.spoken[1] == "Turned on the light"
    pcm = wav_bytes(engines.answer_seconds)[44:]
    assert caller.audio(greeted) == pcm
    await hang_up(hass, caller)


async def hang_up(hass: HomeAssistant, caller: WebSocketCaller) -> AssistCall:
    """Hang up and wait until Home Assistant ended the call."""
    call = running_call(hass)
    await caller.hang_up()
    await call.done.wait()
    return call
