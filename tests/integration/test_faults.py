"""API faults: the user gets the right error, nobody is called twice."""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks import api
from custom_components.elks.const import DOMAIN, EVENT_CALL_ENDED
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .conftest import ANSWERS, BUSY, Elks
from .test_call import SENSOR, call


@pytest.mark.parametrize(
    ("status", "key", "message"),
    [
        (500, "call_rejected", "Internal Server Error"),
        (503, "call_rejected", "Service Unavailable"),
        (402, "call_rejected", "Insufficient credits"),
        (429, "call_rate_limited", None),
    ],
)
async def test_error_status(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    status: int,
    key: str,
    message: str | None,
) -> None:
    """An error answer is a translated error; one POST; the next call works."""
    elks.sim.faults.fail_next(status, body=message or "Too Many Requests")
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, to=ANSWERS, play="sound/beep")
    assert err.value.translation_key == key
    assert err.value.translation_placeholders["to"] == ANSWERS
    if message:
        assert err.value.translation_placeholders["message"] == message
    assert len(elks.call_posts()) == 1
    assert elks.sim.calls == {}

    [placed] = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"]
    assert placed["id"] in elks.sim.calls


async def test_unauthorized_starts_reauth(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A 401 when calling says what to do and starts the reauth flow."""
    elks.account.password = "rotated"
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, to=ANSWERS, play="sound/beep")
    assert err.value.translation_key == "call_auth_failed"
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_REAUTH


async def test_timeout_is_not_retried_and_the_call_is_adopted(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A POST that times out may have placed the call: never resent, reported, then recognised."""
    monkeypatch.setattr(api, "REQUEST_TIMEOUT", 0.3)
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    # 46elks places the call; its answer comes only after our timeout.
    response_sent = elks.sim.faults.hold_response_next()
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, to=ANSWERS, play="sound/beep")
    assert err.value.translation_key == "call_outcome_unknown"
    assert "not retried" in str(err.value)
    assert len(elks.call_posts()) == 1

    # It did reach 46elks: its hangup is recognised although its id never was.
    response_sent.set()
    [sim_call] = elks.sim.calls.values()
    await elks.sim.wait_call_finished(sim_call.id)
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == [sim_call.id]
    assert hass.states.get(SENSOR).attributes["id"] == sim_call.id
    assert hass.states.get(SENSOR).state == "success"


@pytest.mark.parametrize("status", [502, 504])
async def test_gateway_error_may_have_placed_the_call(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry, status: int
) -> None:
    """A proxy's 502/504 after 46elks placed the call: reported as maybe placed, then adopted."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    elks.sim.faults.answer_next(status, body="Gateway Timeout")
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, to=ANSWERS, play="sound/beep")
    assert err.value.translation_key == "call_outcome_unknown"
    assert len(elks.call_posts()) == 1
    [sim_call] = elks.sim.calls.values()
    await elks.sim.wait_call_finished(sim_call.id)
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == [sim_call.id]
    assert hass.states.get(SENSOR).state == "success"


@pytest.mark.parametrize("after_processing", [True, False])
async def test_dropped_connection_is_not_retried(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    after_processing: bool,
) -> None:
    """A connection lost after sending is reported as maybe placed, never resent."""
    elks.sim.faults.drop_next(after_processing=after_processing)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, to=ANSWERS, play="sound/beep")
    assert err.value.translation_key == "call_outcome_unknown"
    assert len(elks.call_posts()) == 1
    assert len(elks.sim.calls) == (1 if after_processing else 0)


async def test_unreachable(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Nothing listening: the call was certainly not placed."""
    await elks.sim.stop()
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, to=ANSWERS, play="sound/beep")
    assert err.value.translation_key == "call_cannot_connect"


async def test_partial_failure_reports_per_recipient(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """One refused recipient does not stop the others; each failure is named."""
    elks.sim.faults.fail_next(503, body="Try later")
    response = await call(hass, to=[ANSWERS, BUSY], play="sound/beep")
    [placed] = response["calls"]
    [error] = response["errors"]
    assert {placed["to"], error["to"]} == {ANSWERS, BUSY}
    assert error["error"] == "rejected"
    assert error["message"] == "Try later"
    assert error["may_have_been_placed"] is False
    assert len(elks.call_posts()) == 2


async def test_all_recipients_failing(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """When nobody could be called, the error lists every recipient."""
    elks.sim.faults.fail_next(500, count=2, body="Broken")
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, to=[ANSWERS, BUSY], play="sound/beep")
    assert err.value.translation_key == "no_call_placed"
    # Numbers only: the reasons (English, or 46elks' words) are in the log.
    assert err.value.translation_placeholders == {"numbers": f"{ANSWERS}, {BUSY}"}


async def test_unexpected_answer(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A 2xx answer that is not a call object: 46elks took it, it may be ringing."""
    elks.sim.faults.fail_next(200, body="<html>maintenance</html>")
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, to=ANSWERS, play="sound/beep")
    assert err.value.translation_key == "call_outcome_unknown"


async def test_account_choice(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """config_entry_id picks the account; it is required when there are two."""
    other_account = elks.sim.add_account(
        username="o",
        password="o-secret",
        displayname="Cabin",
        mobilenumber="+46700000009",
    )
    other = MockConfigEntry(
        domain=DOMAIN,
        title="Cabin",
        unique_id=other_account.id,
        data={
            **loaded_entry.data,
            "username": "o",
            "password": "o-secret",
            "webhook_id": "other-hook",
        },
        options={"caller_id": "+46700000009"},
    )
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, to=ANSWERS, play="sound/beep")
    assert err.value.translation_key == "account_required"
    await call(hass, to=ANSWERS, play="sound/beep", config_entry_id=other.entry_id)
    [request] = [r for r in elks.sim.requests if r.method == "POST"]
    assert request.username == "o"
    assert request.form["from"] == "+46700000009"


async def test_no_account(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """With no loaded account the action says so."""
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, to=ANSWERS, play="sound/beep")
    assert err.value.translation_key == "no_account"


async def test_no_caller_id(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Without a from and without a default caller id nothing is dialled."""
    hass.config_entries.async_update_entry(loaded_entry, options={})
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, to=ANSWERS, play="sound/beep")
    assert err.value.translation_key == "no_caller_id"
    assert elks.call_posts() == []


@pytest.mark.parametrize(
    ("fault", "state"),
    [(401, ConfigEntryState.SETUP_ERROR), (503, ConfigEntryState.SETUP_RETRY)],
)
async def test_setup_failures(
    hass: HomeAssistant,
    elks: Elks,
    config_entry: MockConfigEntry,
    fault: int,
    state: ConfigEntryState,
) -> None:
    """Bad credentials need reauth; an unreachable 46elks is retried."""
    elks.sim.faults.fail_next(fault, path="/a1/me")
    await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is state
