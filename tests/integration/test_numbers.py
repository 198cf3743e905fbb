"""Numbers pointed at Home Assistant for a subentry, and given back exactly after."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.elks.const import DOMAIN, SUBENTRY_ASSIST
from custom_components.elks.models import NumberClaim, NumberField, WebhookRoute
from custom_components.elks.numbers import (
    RETRY_SECONDS,
    describe_target,
    points_at_us,
    storage_key,
)
from elks_simulator.models import Number
from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .conftest import CALLER_ID, WEBHOOK_ID, Elks, add_account_entry, recipient
from .roads import Restarter

OLD_TARGET = "https://old.example.com/hook?token=not-for-your-eyes"


@pytest.fixture
def config_entry(hass: HomeAssistant, elks: Elks) -> MockConfigEntry:
    """Return the test account with one subentry that will claim the caller id number."""
    return add_account_entry(hass, elks, [recipient()])


def number(elks: Elks) -> Number:
    """Return the simulator's record of the number the test subentry claims."""
    [found] = [n for n in elks.sim.numbers.values() if n.number == CALLER_ID]
    return found


def claim_caller_id(entry: MockConfigEntry, elks: Elks) -> str:
    """Let every subentry claim the caller id number's voice_start; return the URL."""
    url = entry.runtime_data.webhook.url_for(
        WebhookRoute.INCOMING_CALL, number=number(elks).id
    )
    assert url is not None

    def claims() -> Iterable[NumberClaim]:
        return [
            NumberClaim(
                sub_id, number(elks).id, CALLER_ID, NumberField.VOICE_START, url
            )
            for sub_id in entry.subentries
        ]

    entry.async_on_unload(entry.runtime_data.numbers.async_add_claims(claims))
    return url


async def set_up_and_claim(
    hass: HomeAssistant, entry: MockConfigEntry, elks: Elks
) -> str:
    """Set the entry up, claim the number, sync; return the URL it leads to."""
    number(elks).voice_start = OLD_TARGET
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    url = claim_caller_id(entry, elks)
    await entry.runtime_data.numbers.async_sync()
    return url


def notifications(hass: HomeAssistant) -> list[str]:
    """Messages of the persistent notifications shown."""
    return [
        n["message"]
        for n in persistent_notification._async_get_or_create_notifications(  # noqa: SLF001
            hass
        ).values()
    ]


async def remove_subentry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Remove the subentry in the UI's way."""
    [subentry_id] = entry.subentries
    assert hass.config_entries.async_remove_subentry(entry, subentry_id)
    await hass.async_block_till_done()


async def test_claimed_then_given_back_exactly(
    hass: HomeAssistant,
    elks: Elks,
    hass_http: TestClient,
    config_entry: MockConfigEntry,
) -> None:
    """The number leads to our webhook; removing the subentry restores the old value."""
    url = await set_up_and_claim(hass, config_entry, elks)
    assert number(elks).voice_start == url
    assert points_at_us(url, WEBHOOK_ID)
    numbers = config_entry.runtime_data.numbers
    assert (
        numbers.previous_value(number(elks).id, NumberField.VOICE_START) == OLD_TARGET
    )
    posts = [r for r in elks.sim.requests if r.path.startswith("/a1/numbers/")]
    await numbers.async_sync()
    assert [r for r in elks.sim.requests if r.path.startswith("/a1/numbers/")] == posts

    await remove_subentry(hass, config_entry)
    assert number(elks).voice_start == OLD_TARGET
    [message] = notifications(hass)
    assert CALLER_ID in message
    assert "old.example.com" in message
    assert "not-for-your-eyes" not in message
    assert numbers.pending == 0


async def test_old_value_kept_across_a_restart(
    hass: HomeAssistant,
    elks: Elks,
    hass_http: TestClient,
    config_entry: MockConfigEntry,
    restarter: Restarter,
) -> None:
    """After a real stop and start, removing the subentry still restores the old value."""
    url = await set_up_and_claim(hass, config_entry, elks)
    hass2, _client, entry2 = await restarter.restart(hass, hass_http, config_entry)
    # Nothing claims it in the new Home Assistant yet: it is not given back.
    assert number(elks).voice_start == url
    await remove_subentry(hass2, entry2)
    assert number(elks).voice_start == OLD_TARGET


async def test_failed_update_reported_and_retried(
    hass: HomeAssistant,
    elks: Elks,
    hass_http: TestClient,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """46elks refusing the update raises a repair issue; a later try succeeds and clears it."""
    elks.sim.faults.fail_next(path=f"/a1/numbers/{number(elks).id}", method="POST")
    url = await set_up_and_claim(hass, config_entry, elks)
    assert number(elks).voice_start == OLD_TARGET
    # The old value was stored before 46elks was asked: a crash cannot lose it.
    stored = hass_storage[storage_key(config_entry.entry_id)]["data"]["bindings"]
    assert [b["previous"] for b in stored] == [OLD_TARGET]
    issue_id = f"number_not_updated_{config_entry.entry_id}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {"numbers": CALLER_ID}

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=RETRY_SECONDS))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert number(elks).voice_start == url
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_changed_elsewhere_is_left_alone(
    hass: HomeAssistant,
    elks: Elks,
    hass_http: TestClient,
    config_entry: MockConfigEntry,
) -> None:
    """A value somebody set at 46elks since is not overwritten by the give-back."""
    await set_up_and_claim(hass, config_entry, elks)
    number(elks).voice_start = "https://somebody.example.com/new"
    await remove_subentry(hass, config_entry)
    assert number(elks).voice_start == "https://somebody.example.com/new"
    assert notifications(hass) == []
    assert config_entry.runtime_data.numbers.pending == 0


async def test_account_removal_gives_every_number_back(
    hass: HomeAssistant,
    elks: Elks,
    hass_http: TestClient,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Removing the account restores the number and forgets the bindings."""
    await set_up_and_claim(hass, config_entry, elks)
    assert await hass.config_entries.async_remove(config_entry.entry_id)
    await hass.async_block_till_done()
    assert number(elks).voice_start == OLD_TARGET
    assert storage_key(config_entry.entry_id) not in hass_storage


def test_points_at_us_and_safe_description() -> None:
    """Only our webhook path or cloudhook counts as ours; targets show only a host."""
    ours = f"https://ha.example.com/api/webhook/{WEBHOOK_ID}?on=incoming_call"
    assert points_at_us(ours, WEBHOOK_ID)
    assert not points_at_us(f"{ours}x", WEBHOOK_ID[:-1])
    assert not points_at_us("https://x.example.com/api/webhook/other", WEBHOOK_ID)
    assert not points_at_us(None, WEBHOOK_ID)
    assert points_at_us(
        "https://hooks.nabu.casa/abc?on=x", WEBHOOK_ID, "https://hooks.nabu.casa/abc"
    )
    assert not points_at_us("http://[::1", WEBHOOK_ID)
    assert describe_target(OLD_TARGET) == "old.example.com"
    assert describe_target('{"connect":"+46700000000"}') == "a call action"
    assert describe_target(None) == "-"
    assert describe_target("http://[::1") == "-"


async def test_one_field_one_subentry(
    hass: HomeAssistant,
    elks: Elks,
    hass_http: TestClient,
    elks_two_claimers: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two subentries claiming one number: the first keeps it; it passes on, then goes back."""
    entry = elks_two_claimers
    url = await set_up_and_claim(hass, entry, elks)
    numbers = entry.runtime_data.numbers
    assert numbers.pending == 1
    assert numbers.claimed(NumberField.VOICE_START) == {number(elks).id}
    assert numbers.claimed(NumberField.SMS_URL) == set()
    assert "already taken by another subentry" in caplog.text
    first, second = entry.subentries
    assert hass.config_entries.async_remove_subentry(entry, first)
    await hass.async_block_till_done()
    # Given back, then taken by the other subentry with the old value kept.
    assert number(elks).voice_start == url
    assert (
        numbers.previous_value(number(elks).id, NumberField.VOICE_START) == OLD_TARGET
    )
    assert hass.config_entries.async_remove_subentry(entry, second)
    await hass.async_block_till_done()
    assert number(elks).voice_start == OLD_TARGET


@pytest.fixture
def elks_two_claimers(hass: HomeAssistant, elks: Elks) -> MockConfigEntry:
    """Return the test account with two subentries that both claim one number."""
    return add_account_entry(hass, elks, [recipient(), recipient("Dave")])


async def test_assist_flow_needs_assist(
    hass: HomeAssistant,
    elks: Elks,
    hass_http: TestClient,
    loaded_entry: MockConfigEntry,
) -> None:
    """Without Assist set up, the Assist by phone flow says so."""
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, SUBENTRY_ASSIST), context={"source": "user"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_assist"
