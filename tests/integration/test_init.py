"""Setup, restarts, removal, cloudhooks, diagnostics and secrets."""

from __future__ import annotations

from collections.abc import AsyncIterator
import json
import logging
from typing import Any
from unittest.mock import patch
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    mock_restore_cache,
)

from custom_components.elks.const import CONF_CLOUDHOOK_URL, DOMAIN, EVENT_CALL_ENDED
from custom_components.elks.diagnostics import async_get_config_entry_diagnostics
from homeassistant.core import HomeAssistant, State

from .conftest import ANSWERS, CALLER_ID, PASSWORD, USERNAME, WEBHOOK_ID, Elks
from .test_call import SENSOR, call
from .test_webhook import FORM, WEBHOOK_PATH, hangup_form

# Nothing listens there: the simulator cannot deliver, and resolves no names.
CLOUDHOOK = "http://127.0.0.1:9/secret-cloudhook-path"


async def test_hangup_after_restart_from_storage(
    hass: HomeAssistant,
    elks: Elks,
    config_entry: MockConfigEntry,
    hass_http: TestClient,
    hass_storage: dict[str, Any],
) -> None:
    """A call stored as unfinished before a restart is ended by its hangup after it."""
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}.calls"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{config_entry.entry_id}.calls",
        "data": {
            "ongoing": [
                {
                    "to": ANSWERS,
                    "from_number": CALLER_ID,
                    "placed_at": 4_000_000_000.0,
                    "call_id": "cbefore0restart",
                },
                # Too old to still hang up: forgotten.
                {
                    "to": ANSWERS,
                    "from_number": CALLER_ID,
                    "placed_at": 1.0,
                    "call_id": "cancient",
                },
            ],
            "uncertain": [],
            "finished": ["calreadydone"],
        },
    }
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    events = async_capture_events(hass, EVENT_CALL_ENDED)
    for call_id in ("cbefore0restart", "cancient", "calreadydone", "cbefore0restart"):
        response = await hass_http.post(
            WEBHOOK_PATH, data=urlencode(hangup_form(call_id)), headers=FORM
        )
        assert response.status == 200
    await hass.async_block_till_done()
    assert [e.data["call_id"] for e in events] == ["cbefore0restart"]


async def test_unfinished_calls_are_stored(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Unloading writes the unfinished calls, so a restart finds them."""
    elks.sim.faults.hold_webhooks()
    [placed] = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"]
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    stored = hass_storage[f"{DOMAIN}.{loaded_entry.entry_id}.calls"]["data"]
    assert [c["call_id"] for c in stored["ongoing"]] == [placed["id"]]


async def test_remove_entry_forgets_what_it_stored(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Removing the account deletes everything it stored."""
    elks.sim.faults.hold_webhooks()
    await call(hass, to=ANSWERS, play="sound/beep")
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    assert f"{DOMAIN}.{loaded_entry.entry_id}.calls" in hass_storage
    assert f"{DOMAIN}.{loaded_entry.entry_id}.incoming_sms" in hass_storage
    await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    # Nothing of the account is left.
    prefix = f"{DOMAIN}.{loaded_entry.entry_id}."
    assert [key for key in hass_storage if key.startswith(prefix)] == []


@pytest.fixture
async def cloud_active(hass: HomeAssistant) -> AsyncIterator[dict[str, Any]]:
    """Pretend Home Assistant Cloud is set up with an active subscription."""
    calls: dict[str, Any] = {"created": 0, "deleted": 0}

    async def create(hass: HomeAssistant, webhook_id: str) -> str:
        assert webhook_id == WEBHOOK_ID
        calls["created"] += 1
        return CLOUDHOOK

    async def delete(hass: HomeAssistant, webhook_id: str) -> None:
        calls["deleted"] += 1

    hass.config.components.add("cloud")
    with (
        patch(
            "homeassistant.components.cloud.async_active_subscription",
            return_value=True,
        ),
        patch("homeassistant.components.cloud.async_get_or_create_cloudhook", create),
        patch("homeassistant.components.cloud.async_delete_cloudhook", delete),
    ):
        yield calls


async def test_cloudhook_used_when_cloud_is_active(
    hass: HomeAssistant,
    elks: Elks,
    config_entry: MockConfigEntry,
    cloud_active: dict[str, Any],
) -> None:
    """With Home Assistant Cloud the hangup URL is the cloudhook, created once."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.data[CONF_CLOUDHOOK_URL] == CLOUDHOOK
    await call(hass, to=ANSWERS, play="sound/beep")
    assert elks.call_posts()[0]["whenhangup"] == CLOUDHOOK
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    assert cloud_active["created"] == 1

    await hass.config_entries.async_remove(config_entry.entry_id)
    assert cloud_active["deleted"] == 1


async def test_cloud_unreachable_falls_back(
    hass: HomeAssistant,
    elks: Elks,
    config_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """If the cloudhook cannot be made, the external URL is used."""
    from homeassistant.components import cloud  # noqa: PLC0415

    hass.config.components.add("cloud")
    with (
        patch(
            "homeassistant.components.cloud.async_active_subscription",
            return_value=True,
        ),
        patch(
            "homeassistant.components.cloud.async_get_or_create_cloudhook",
            side_effect=cloud.CloudNotAvailable,
        ),
    ):
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
    assert CONF_CLOUDHOOK_URL not in config_entry.data
    await call(hass, to=ANSWERS, play="sound/beep")
    assert elks.call_posts()[0]["whenhangup"].endswith(WEBHOOK_PATH)


async def test_last_call_restored(
    hass: HomeAssistant,
    elks: Elks,
    config_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """The last call sensor comes back with its state and attributes."""
    mock_restore_cache(
        hass,
        [
            State(
                SENSOR,
                "busy",
                {
                    "id": "cold",
                    "to": ANSWERS,
                    "from": CALLER_ID,
                    "duration": None,
                    "junk": 1,
                },
            ),
        ],
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    state = hass.states.get(SENSOR)
    assert state.state == "busy"
    assert state.attributes["id"] == "cold"
    assert "junk" not in state.attributes


async def test_unknown_restored_state_ignored(
    hass: HomeAssistant,
    elks: Elks,
    config_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """A restored state that is not a call state is not shown."""
    mock_restore_cache(hass, [State(SENSOR, "unavailable")])
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(SENSOR).state == "unknown"


async def test_diagnostics_and_logs_hold_no_secrets(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Password, username and webhook id never reach diagnostics or the log."""
    caplog.set_level(logging.DEBUG)
    [placed] = (await call(hass, to=ANSWERS, play="sound/beep"))["calls"]
    await elks.sim.wait_call_finished(placed["id"])
    elks.sim.faults.fail_next(401)
    with pytest.raises(Exception):  # noqa: B017, PT011
        await call(hass, to=ANSWERS, play="sound/beep")
    await hass_http.get(WEBHOOK_PATH)
    await hass_http.post(WEBHOOK_PATH, data="garbage", headers=FORM)
    await hass.async_block_till_done()

    diagnostics = await async_get_config_entry_diagnostics(hass, loaded_entry)
    assert diagnostics["webhook"] == {"reachable": True, "via_cloud": False}
    assert diagnostics["calls"] == {
        "ongoing": 0,
        "interactive": 0,
        "uncertain": 0,
        "finished": 1,
        "parked": 0,
    }
    assert diagnostics["escalations_running"] == 0
    assert diagnostics["subentries"] == {}
    assert diagnostics["number_bindings"] == 0
    assert diagnostics["balance_update_ok"] is True
    assert diagnostics["account"]["currency"] == "SEK"
    dumped = json.dumps(diagnostics)
    for secret in (PASSWORD, USERNAME, WEBHOOK_ID, elks.account.id, CALLER_ID):
        assert secret not in dumped
    # Home Assistant's own webhook and access logs print request paths at
    # debug level; ours and every warning or error must not.
    ours = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("custom_components.elks")
        or record.levelno >= logging.WARNING
    ]
    assert any("was not placed" in message for message in ours)
    for secret in (PASSWORD, WEBHOOK_ID):
        assert not [message for message in ours if secret in message]


async def test_oversize_chunked_hangup_ignored(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """A body without length that grows past the limit is not read to the end."""
    events = async_capture_events(hass, EVENT_CALL_ENDED)

    async def body() -> AsyncIterator[bytes]:
        yield b"id=c1&state=success&from=a&to=b&created=x&pad="
        for _ in range(40):
            yield b"x" * 4096

    response = await hass_http.post(WEBHOOK_PATH, data=body(), headers=FORM)
    assert response.status == 200
    assert events == []


async def test_lapsed_cloud_subscription_uses_external_url(
    hass: HomeAssistant,
    elks: Elks,
    config_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """A stored cloudhook is not handed out once the subscription has ended."""
    hass.config_entries.async_update_entry(
        config_entry, data={**config_entry.data, CONF_CLOUDHOOK_URL: CLOUDHOOK}
    )
    hass.config.components.add("cloud")
    with patch(
        "homeassistant.components.cloud.async_active_subscription", return_value=False
    ):
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        await call(hass, to=ANSWERS, play="sound/beep")
    assert elks.call_posts()[0]["whenhangup"].endswith(WEBHOOK_PATH)
