"""What 46elks answers to POST /a1/calls: unreadable answers and quoted requests.

An answer the client cannot read still came from 46elks, so the call may be
ringing: it is reported as "may have been placed" and its genuine hangup ends
it later. An error message that quotes our request reaches the user and the
log without a secret in it.
"""

from __future__ import annotations

from collections import Counter
import logging

import aiohttp
from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks.const import EVENT_CALL_ENDED
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .conftest import ANSWERS, PASSWORD, USERNAME, VOICEMAIL, WEBHOOK_ID, Elks
from .roads import CloudRelay, Road, deliver
from .test_call import call

CALL_ENDED = EVENT_CALL_ENDED

UNREADABLE = [
    pytest.param(200, "<html>maintenance</html>", id="not-json"),
    pytest.param(200, '[{"id": "c1"}]', id="list"),
    pytest.param(200, '{"state": "ongoing"}', id="no-id"),
    pytest.param(
        200,
        '{"id": "c1", "state": "queued", "from": "+46766860001",'
        ' "to": "+46700000101", "created": "2026-11-27T10:00:00"}',
        id="unknown-state",
    ),
    pytest.param(302, "", id="redirect"),
]


@pytest.mark.parametrize(("status", "body"), UNREADABLE)
async def test_unreadable_answer_may_have_placed_the_call(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
    status: int,
    body: str,
) -> None:
    """46elks took the POST but answered nonsense: maybe placed, its hangup ends it once."""
    events = async_capture_events(hass, CALL_ENDED)
    elks.sim.faults.hold_webhooks()
    elks.sim.faults.answer_next(status, body=body)
    response = await call(hass, to=[ANSWERS, VOICEMAIL], play="sound/beep")

    # Whichever recipient got the unreadable answer is reported as maybe placed.
    [error] = response["errors"]
    assert error["error"] == "outcome_unknown"
    assert error["may_have_been_placed"] is True
    assert "answer could not be read" in error["message"]
    [placed] = response["calls"]
    assert {error["to"], placed["to"]} == {ANSWERS, VOICEMAIL}
    assert len(elks.call_posts()) == 2  # never retried

    # Its genuine hangup, delivered twice, ends it exactly once.
    [unread] = [c for c in elks.sim.calls.values() if c.to == error["to"]]
    await elks.sim.wait_webhook_held(unread.id)
    await elks.sim.wait_webhook_held(placed["id"])
    for held in list(elks.sim.faults.held) * 2:
        status_code, _ = await deliver(hass, hass_http, WEBHOOK_ID, held.form, road)
        assert status_code == 200
    await hass.async_block_till_done()
    assert Counter(e.data["call_id"] for e in events) == {
        unread.id: 1,
        placed["id"]: 1,
    }


def _secrets(hook_url: str) -> list[str]:
    auth = aiohttp.encode_basic_auth(USERNAME, PASSWORD)
    return [
        USERNAME,
        PASSWORD,
        auth.partition(" ")[2],
        WEBHOOK_ID,
        hook_url,
        # How a form would quote them.
        hook_url.replace("/", "%2F").replace(":", "%3A"),
    ]


def _leaks(text: str, hook_url: str) -> list[str]:
    return [secret for secret in _secrets(hook_url) if secret in text]


async def test_error_quoting_the_request_reveals_no_secret(
    hass: HomeAssistant,
    elks: Elks,
    hass_http: TestClient,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """46elks' error echoes our form and headers: message, response and log stay clean."""
    await _check_no_secret(
        hass,
        elks,
        config_entry,
        caplog,
        str(hass_http.make_url(f"/api/webhook/{WEBHOOK_ID}")),
    )


async def test_error_quoting_a_cloudhook_reveals_no_secret(
    hass: HomeAssistant,
    elks: Elks,
    cloud_relay: CloudRelay,
    hass_http: TestClient,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The same with Home Assistant Cloud: the cloudhook URL is a secret too."""
    await _check_no_secret(
        hass, elks, config_entry, caplog, cloud_relay.url(WEBHOOK_ID)
    )


async def _check_no_secret(
    hass: HomeAssistant,
    elks: Elks,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    hook_url: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    elks.sim.faults.hold_webhooks()  # nothing but the placement in the log

    # One recipient: the action fails with the translated error.
    elks.sim.faults.echo_next(400)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, to=ANSWERS, play="sound/beep")
    [form] = elks.call_posts()
    assert form["whenhangup"] == hook_url  # the request did carry the secrets
    assert err.value.translation_key == "call_rejected"
    message = err.value.translation_placeholders["message"]
    assert 'Invalid "voice_start"' in message  # still names the problem
    assert "[redacted]" in message
    assert _leaks(message, hook_url) == []
    assert 'Invalid "voice_start"' in str(err.value)  # the translated message
    assert _leaks(str(err.value), hook_url) == []

    # Two recipients: the refused one is in errors[] of the response.
    elks.sim.faults.echo_next(400)
    response = await call(hass, to=[ANSWERS, VOICEMAIL], play="sound/beep")
    [error] = response["errors"]
    assert error["error"] == "rejected"
    assert 'Invalid "voice_start"' in error["message"]
    assert _leaks(error["message"], hook_url) == []

    # The failures were logged, at every level without a secret.
    ours = [r for r in caplog.records if not r.name.startswith("elks_simulator")]
    assert any('Invalid "voice_start"' in r.getMessage() for r in ours)
    logged = "\n".join(logging.Formatter().format(record) for record in ours)
    assert _leaks(logged, hook_url) == []
    elks.sim.faults.release_webhooks()
