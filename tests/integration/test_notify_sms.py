"""Recipients reached by SMS, call or both through notify.send_message."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.elks.const import (
    CONF_CALLER_ID,
    CONF_RECIPIENT_NUMBER,
    CONF_TTS_ENGINE,
    DOMAIN,
    SUBENTRY_RECIPIENT,
)
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError

from .conftest import ANSWERS, CALLER_ID, HTTP_COMPONENTS_WITH_TTS, Elks, entry_data
from .test_sms import sms_posts


@pytest.fixture
def http_components() -> dict[str, dict[str, Any]]:
    """Text-to-speech too: a recipient reached by both is called with speech."""
    return HTTP_COMPONENTS_WITH_TTS


async def recipient_entry(
    hass: HomeAssistant, elks: Elks, data: dict[str, str], tts_engine: str
) -> MockConfigEntry:
    """Set up the account with one stored recipient, Carol."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        unique_id=elks.account.id,
        data=entry_data(elks.base_url),
        options={CONF_CALLER_ID: CALLER_ID, CONF_TTS_ENGINE: tts_engine},
        subentries_data=[
            ConfigSubentryData(
                data=data,
                subentry_type=SUBENTRY_RECIPIENT,
                title="Carol",
                unique_id=None,
            )
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def notify(hass: HomeAssistant, message: str, title: str | None = None) -> None:
    """Send a message to Carol."""
    data = {"entity_id": "notify.carol", "message": message}
    if title:
        data["title"] = title
    await hass.services.async_call("notify", "send_message", data, blocking=True)


@pytest.mark.parametrize(
    ("reach_by", "texts", "calls"),
    [(None, 0, 1), ("call", 0, 1), ("sms", 1, 0), ("both", 1, 1)],
)
async def test_reach_by(
    hass: HomeAssistant,
    elks: Elks,
    hass_http: TestClient,
    speech_engine: str,
    reach_by: str | None,
    texts: int,
    calls: int,
) -> None:
    """Each recipient is reached as chosen; recipients from before SMS are called."""
    data = {CONF_RECIPIENT_NUMBER: ANSWERS}
    if reach_by:
        data["reach_by"] = reach_by
    await recipient_entry(hass, elks, data, speech_engine)
    await notify(hass, "in the kitchen", "Smoke")
    assert len(elks.call_posts()) == calls
    posts = sms_posts(elks)
    assert len(posts) == texts
    for post in posts:
        assert post == {
            "from": CALLER_ID,
            "to": ANSWERS,
            "message": "Smoke\nin the kitchen",
            "whendelivered": post["whendelivered"],
        }


async def test_both_calls_when_the_sms_fails(
    hass: HomeAssistant, elks: Elks, hass_http: TestClient, speech_engine: str
) -> None:
    """With both, a refused SMS does not keep the call back; the error is raised."""
    await recipient_entry(
        hass, elks, {CONF_RECIPIENT_NUMBER: ANSWERS, "reach_by": "both"}, speech_engine
    )
    elks.sim.sms.refused.add(ANSWERS)
    with pytest.raises(HomeAssistantError) as err:
        await notify(hass, "Smoke")
    assert err.value.translation_key == "sms_not_sent"
    assert len(elks.call_posts()) == 1


async def test_flow_offers_reach_by(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """The recipient form asks how to reach the person; the answer is stored."""
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, SUBENTRY_RECIPIENT), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_NAME: "Dan", CONF_RECIPIENT_NUMBER: ANSWERS, "reach_by": "sms"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    [subentry] = loaded_entry.subentries.values()
    assert subentry.data == {CONF_RECIPIENT_NUMBER: ANSWERS, "reach_by": "sms"}
    await hass.async_block_till_done()
    await hass.services.async_call(
        "notify",
        "send_message",
        {"entity_id": "notify.dan", "message": "Door open"},
        blocking=True,
    )
    assert [p["message"] for p in sms_posts(elks)] == ["Door open"]
    assert elks.call_posts() == []
