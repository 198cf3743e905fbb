"""Assist by phone: a caller talks to Assist over 46elks' call-audio WebSocket.

A real Home Assistant (HTTP server on loopback, Assist pipeline, Assist's own
conversation agent) and the simulator's WebSocket caller. The order of
events is forced by the caller: it speaks after the answer it waits for
arrived, and keeps "playing" an answer (no ``sync``) to talk over it.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.elks import assist, assist_call
from custom_components.elks.assist import DATA_ASSIST, PHONE_USER_NAME
from custom_components.elks.assist_call import AssistCall
from custom_components.elks.const import (
    CONF_CALLER_ID,
    CONF_ONLY_46ELKS_SOURCES,
    DEFAULT_ASSIST_GREETING,
    DOMAIN,
    LOGGER,
)
from elks_simulator.websocket import WebSocketCaller
from homeassistant.components.assist_pipeline import async_update_pipeline
from homeassistant.components.assist_pipeline.pipeline import async_get_pipeline
from homeassistant.core import HomeAssistant
from tests.integration.conftest import Elks, entry_data

from .env import (
    STRANGER,
    TOKEN,
    WEBSOCKET_NUMBER,
    Engines,
    agent_got,
    assist_subentry,
    clip,
    phone,
    wav_bytes,
)


@pytest.fixture
async def assist_entry(
    hass: HomeAssistant, elks: Elks, pipeline_id: str
) -> MockConfigEntry:
    """Load the test account with an ``assist`` subentry."""
    number = elks.sim.add_number(
        elks.account, WEBSOCKET_NUMBER, capabilities=("voice",)
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        unique_id=elks.account.id,
        data=entry_data(elks.base_url),
        options={CONF_CALLER_ID: "+46766860001"},
        subentries_data=[assist_subentry(pipeline_id, number)],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


DOMAIN_LOGGER = LOGGER.name


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
    await ended(call)
    return call


async def ended(call: AssistCall) -> None:
    """Wait until Home Assistant ended ``call`` (the timeout only guards a hang)."""
    async with asyncio.timeout(300):
        await call.done.wait()


async def greeted(caller: WebSocketCaller) -> int:
    """Connect and wait until the greeting was sent; return its ``sync`` index."""
    assert await caller.connect()
    return await caller.wait_for("sync")


async def test_two_turns_keep_the_conversation(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    engines: Engines,
    pipeline_id: str,
) -> None:
    """A second sentence continues the first one's conversation."""
    caller = phone(hass_http)
    await greeted(caller)
    await caller.say(clip("kitchen_on"))
    await caller.silence(1.5)
    await caller.wait_for("sync", 2)
    assert hass.states.get("light.kitchen_light").state == "on"
    await caller.say(clip("kitchen_off"))
    await caller.silence(1.5)
    await caller.wait_for("sync", 3)
    assert hass.states.get("light.kitchen_light").state == "off"

    call = await hang_up(hass, caller)
    assert [text for _, text in engines.heard] == [
        "turn on the kitchen light",
        "turn off the kitchen light",
    ]
    assert agent_got(hass, pipeline_id) == [
        "turn on the kitchen light",
        "turn off the kitchen light",
    ]
    first, second = call.conversation_ids
    assert first == second
    # Sent once, at the start: the answers come in the same format.
    assert caller.types().count("sending") == 1


async def test_caller_talking_over_the_answer_interrupts_it(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    engines: Engines,
) -> None:
    """Speech while the greeting still plays sends ``interrupt``, then the answer."""
    engines.answer_seconds = 60.0
    caller = phone(hass_http)
    # The phone never confirms the end of playback: the greeting "plays".
    caller.hold_playback = True
    await greeted(caller)
    await caller.say(clip("kitchen_on"))
    interrupted = await caller.wait_for("interrupt")
    await caller.silence(1.5)
    answered = await caller.wait_for("sync", 2)

    assert interrupted > caller.types().index("sync")
    # After an interrupt, 46elks wants the format again before more audio.
    assert caller.types()[interrupted + 1] == "sending"
    assert hass.states.get("light.kitchen_light").state == "on"
    assert answered > interrupted
    await hang_up(hass, caller)


async def test_no_interrupt_after_the_answer_was_played(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    engines: Engines,
) -> None:
    """Speech after 46elks confirmed the end of playback interrupts nothing."""
    engines.answer_seconds = 60.0
    caller = phone(hass_http)
    await greeted(caller)
    await caller.say(clip("kitchen_on"))
    await caller.silence(1.5)
    await caller.wait_for("sync", 2)
    await hang_up(hass, caller)
    assert "interrupt" not in caller.types()


async def test_caller_not_on_the_list_gets_bye(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    engines: Engines,
) -> None:
    """A caller not on the list is told ``bye``; no pipeline runs, nothing is spoken."""
    caller = phone(hass_http, caller=STRANGER)
    assert await caller.connect()
    await caller.wait_for("bye")
    await caller.closed.wait()
    assert caller.types() == ["bye"]
    assert engines.heard == []
    assert engines.spoken == []
    assert not hass.data[DATA_ASSIST].calls


@pytest.mark.parametrize(
    "hello",
    [
        '{"t": "audio", "data": ""}',
        '{"t": "hello", "callid": "c1", "from": "+46701111111"}',
        '{"t": "hello", "callid": "c1", "from": "' + "9" * 200 + '", "to": "+4676"}',
        "not json",
    ],
)
async def test_bad_hello_gets_bye(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    engines: Engines,
    hello: str,
) -> None:
    """Anything but a good ``hello`` first ends the call before Assist runs."""
    caller = phone(hass_http)
    caller.hello = None
    assert await caller.connect()
    await caller.send_raw(hello)
    await caller.wait_for("bye")
    await caller.closed.wait()
    assert engines.heard == [] and engines.spoken == []


async def test_unknown_path_is_not_found(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A wrong token answers 404; the integration logs no token, right or wrong."""
    caplog.set_level(logging.DEBUG, logger="custom_components.elks")
    caller = phone(hass_http, token="wrong-" + TOKEN)
    assert not await caller.connect()
    assert caller.status == 404
    right = phone(hass_http)
    await greeted(right)
    await hang_up(hass, right)
    ours = [r.getMessage() for r in caplog.records if r.name.startswith(DOMAIN_LOGGER)]
    assert ours
    assert not [message for message in ours if TOKEN[:12] in message]


async def test_dropped_socket_mid_sentence_cancels_the_turn(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    engines: Engines,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The network breaks mid-sentence: the turn is cancelled, without a traceback."""
    caller = phone(hass_http)
    await greeted(caller)
    call = running_call(hass)
    # Half a sentence: the pipeline is listening, the sentence never ends.
    await caller.say(clip("kitchen_on"), stop_after=40)
    await caller.drop()
    await ended(call)

    assert call.turns == 0
    assert engines.heard == []
    assert hass.states.get("light.kitchen_light").state == "off"
    assert not hass.data[DATA_ASSIST].calls
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_goodbye_ends_the_call(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    engines: Engines,
    pipeline_id: str,
) -> None:
    """A goodbye gets the farewell and ``bye``; the agent never gets the word.

    The conversation agent may be a paid LLM that acts on what it gets, and
    an answer to "goodbye" would be rendered for nobody.
    """
    caller = phone(hass_http)
    synced = await greeted(caller)
    call = running_call(hass)
    await caller.say(clip("goodbye"))
    await caller.silence(1.5)
    await caller.wait_for("bye")
    await caller.closed.wait()
    await ended(call)
    assert [text for _, text in engines.heard] == ["goodbye"]
    assert agent_got(hass, pipeline_id) == []
    assert call.conversation_ids == []
    assert engines.spoken == [DEFAULT_ASSIST_GREETING, assist_call.FAREWELL]
    # After the greeting: the farewell's audio, its ``sync``, ``bye``; nothing else.
    after = caller.types()[synced + 1 :]
    assert after == ["audio"] * (len(after) - 2) + ["sync", "bye"]
    assert caller.audio(synced) == wav_bytes(engines.answer_seconds)[44:]


async def test_farewell_plays_before_bye(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``bye`` waits until 46elks says the farewell was played: it may hang up at once."""
    # Only 46elks' ``sync`` ends the playback here, never the fallback timer.
    monkeypatch.setattr(assist_call, "PLAYBACK_SLACK_SECONDS", 3600.0)
    caller = phone(hass_http)
    await greeted(caller)
    caller.hold_playback = True  # the phone is still playing the farewell
    await caller.say(clip("goodbye"))
    await caller.silence(1.5)
    await caller.wait_for("sync", 2)
    # A correct build never sends ``bye`` here; the timeout only bounds how
    # long to look (a build that does sends it right after the ``sync``).
    with pytest.raises(TimeoutError):
        await caller.wait_for("bye", timeout=1.0)
    await caller.send_raw(json.dumps({"t": "sync"}))
    await caller.wait_for("bye")
    assert caller.types()[-2:] == ["sync", "bye"]


async def test_only_exposed_entities_are_reachable(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    engines: Engines,
) -> None:
    """The garage light is not exposed to Assist: the phone cannot turn it on."""
    caller = phone(hass_http)
    await greeted(caller)
    await caller.say(clip("garage_on"))
    await caller.silence(1.5)
    await caller.wait_for("sync", 2)
    await hang_up(hass, caller)
    assert [text for _, text in engines.heard] == ["turn on the garage light"]
    assert hass.states.get("light.garage_light").state == "off"


@pytest.mark.parametrize(
    ("rate", "channels", "sending"),
    [
        (16000, 1, "pcm_16000"),
        (8000, 1, "pcm_8000"),
        (24000, 1, "pcm_24000"),
        (44100, 2, "wav"),
    ],
)
async def test_answer_format_follows_the_tts_audio(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    engines: Engines,
    rate: int,
    channels: int,
    sending: str,
) -> None:
    """``sending`` names the format the TTS audio is passed on in, unconverted."""
    engines.answer_rate, engines.answer_channels = rate, channels
    caller = phone(hass_http)
    synced = await greeted(caller)
    await hang_up(hass, caller)
    listening, announced = caller.received[:2]
    assert listening == {"t": "listening", "format": "pcm_16000"}
    assert announced == {"t": "sending", "format": sending}
    wav = wav_bytes(engines.answer_seconds, rate, channels)
    expected = wav if sending == "wav" else wav[44:]
    assert caller.audio() == expected
    assert synced == len(caller.received) - 1 or caller.types()[synced] == "sync"


async def test_bye_mid_sentence_ends_the_call(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    engines: Engines,
) -> None:
    """46elks says ``bye`` (the caller hung up) mid-sentence: the turn is cancelled.

    The socket stays open: Home Assistant ends the call on the word alone.
    """
    caller = phone(hass_http)
    await greeted(caller)
    call = running_call(hass)
    await caller.say(clip("kitchen_on"), stop_after=40)
    await caller.send_raw('{"t": "bye", "reason": "hangup"}')
    await ended(call)
    await caller.closed.wait()
    assert call.turns == 0
    assert engines.heard == []


async def test_pipeline_without_speech_to_text_ends_the_call(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    pipeline_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A pipeline that cannot listen ends the call with ``bye``, no traceback."""
    pipeline = async_get_pipeline(hass, pipeline_id)
    await async_update_pipeline(hass, pipeline, stt_engine=None)
    caller = phone(hass_http)
    assert await caller.connect()
    await caller.wait_for("bye")
    await caller.closed.wait()
    assert "cannot run" in caplog.text
    assert "Traceback" not in caplog.text


async def test_pipeline_without_text_to_speech_ends_the_call_before_listening(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    pipeline_id: str,
    engines: Engines,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A pipeline that could listen but never answer ends the call at once."""
    pipeline = async_get_pipeline(hass, pipeline_id)
    await async_update_pipeline(hass, pipeline, tts_engine=None)
    caller = phone(hass_http)
    assert await caller.connect()
    await caller.wait_for("bye")
    await caller.closed.wait()
    assert caller.types() == ["listening", "bye"]
    assert engines.heard == []
    assert "cannot run" in caplog.text


async def test_only_46elks_sources_refuses_other_addresses(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    engines: Engines,
) -> None:
    """With the option on, a WebSocket from elsewhere (here loopback) gets 403."""
    hass.config_entries.async_update_entry(
        assist_entry, options={**assist_entry.options, CONF_ONLY_46ELKS_SOURCES: True}
    )
    caller = phone(hass_http)
    assert not await caller.connect()
    assert caller.status == 403
    assert engines.spoken == []


async def test_messages_per_call_are_bounded(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A call that sends more messages than a call can have is ended."""
    monkeypatch.setattr(assist_call, "MAX_MESSAGES", 10)
    # Only the count can end it, not a silent socket.
    monkeypatch.setattr(assist_call, "SILENT_SOCKET_SECONDS", 3600)
    caller = phone(hass_http)
    await greeted(caller)
    call = running_call(hass)
    await caller.silence(1.0)
    await ended(call)
    await caller.closed.wait()


async def test_a_silent_socket_ends_the_call(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """46elks sends audio every 20 ms: a socket without messages is a call gone."""
    monkeypatch.setattr(assist_call, "SILENT_SOCKET_SECONDS", 0.1)
    caller = phone(hass_http)
    assert await caller.connect()  # then the test caller sends nothing more
    async with asyncio.timeout(300):  # a hang guard only
        await caller.closed.wait()


async def test_silence_ends_the_call(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    engines: Engines,
) -> None:
    """Two turns without speech (the pipeline's 15 s timeout each) end the call."""
    caller = phone(hass_http)
    await greeted(caller)
    call = running_call(hass)
    await caller.silence(40.0)
    await caller.wait_for("bye")
    await ended(call)
    assert call.turns == 2
    assert engines.heard == [(15 * 32000, ""), (15 * 32000, "")]


async def test_bad_message_ends_the_call_and_the_user_is_made_once(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
) -> None:
    """A message 46elks would not send ends the call; the next call is the same user."""
    users = []
    for junk in ('{"t": "dance"}', '{"t": "audio", "data": "%%%"}'):
        caller = phone(hass_http)
        await greeted(caller)
        call = running_call(hass)
        await caller.send_raw(junk)
        await ended(call)
        await caller.closed.wait()
        users.append(call._settings.user_id)  # noqa: SLF001
    assert users[0] == users[1]
    phone_users = [
        u for u in await hass.auth.async_get_users() if u.name == PHONE_USER_NAME
    ]
    assert len(phone_users) == 1


async def test_the_last_account_removes_the_phone_user(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
) -> None:
    """The "46elks phone" user goes with the last account, as voip's goes with it."""
    caller = phone(hass_http)
    await greeted(caller)
    user_id = (await hang_up(hass, caller))._settings.user_id  # noqa: SLF001
    other = MockConfigEntry(domain=DOMAIN, title="Other", data=assist_entry.data)
    other.add_to_hass(hass)
    await hass.config_entries.async_remove(assist_entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.auth.async_get_user(user_id) is not None
    await hass.config_entries.async_remove(other.entry_id)
    await hass.async_block_till_done()
    assert await hass.auth.async_get_user(user_id) is None


async def test_calls_at_once_are_bounded(
    hass: HomeAssistant,
    hass_http: TestClient,
    assist_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beyond MAX_CALLS talking at once, a new WebSocket is refused (503)."""
    monkeypatch.setattr(assist, "MAX_CALLS", 1)
    first = phone(hass_http)
    await greeted(first)
    second = phone(hass_http)
    assert not await second.connect()
    assert second.status == 503
    await hang_up(hass, first)
