"""Data stored by earlier versions loads: the typed vocabulary equals its strings.

Calls and escalations are stored in users' installations as plain strings
and dicts; the StrEnums and dataclasses that read them now must accept
exactly what earlier versions wrote. Both roads deliver the hangup.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestClient
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks.const import (
    DOMAIN,
    EVENT_CALL_ENDED,
    EVENT_ESCALATION_FINISHED,
)
from homeassistant.core import HomeAssistant

from .conftest import ANSWERS, CALLER_ID, WEBHOOK_ID
from .roads import Road, deliver
from .test_webhook import hangup_form

# As version 1 of the stores was written before the typed vocabulary.
OLD_ESCALATION = {
    "id": "0123456789abcdef0123456789abcdef",
    "recipients": ["+46700000102", ANSWERS],
    "rounds": 1,
    "require_ack": True,
    "started": "2026-11-27T10:13:57.474048+00:00",
    "attempts": [
        {
            "round": 1,
            "to": "+46700000102",
            "outcome": "not_placed",
            "error": "rate_limited",
            "message": "46elks asked to slow down (HTTP 429)",
        },
        {"round": 1, "to": ANSWERS, "call_id": "cstoredcall"},
    ],
    "result": "running",
    "answered_by": None,
    "finished": None,
}


def _store(hass_storage: dict[str, Any], key: str, data: dict[str, Any]) -> None:
    hass_storage[key] = {"version": 1, "minor_version": 1, "key": key, "data": data}


async def test_old_stored_calls_and_escalations_load(
    hass: HomeAssistant,
    hass_http: TestClient,
    hass_storage: dict[str, Any],
    config_entry: MockConfigEntry,
    road: Road,
) -> None:
    """A stored open call ends with its outcome; a stored escalation is reported."""
    entry_id = config_entry.entry_id
    _store(
        hass_storage,
        f"{DOMAIN}.{entry_id}.calls",
        {
            "ongoing": [
                {
                    "to": ANSWERS,
                    "from_number": CALLER_ID,
                    "placed_at": time.time(),
                    "call_id": "cstoredcall",
                }
            ],
            "uncertain": [],
            "finished": ["cfinishedcall"],
        },
    )
    _store(
        hass_storage, f"{DOMAIN}.{entry_id}.escalations", {"running": [OLD_ESCALATION]}
    )
    ended = async_capture_events(hass, EVENT_CALL_ENDED)
    finished = async_capture_events(hass, EVENT_ESCALATION_FINISHED)
    assert await hass.config_entries.async_setup(entry_id)
    await hass.async_block_till_done()

    [escalation] = [event.data for event in finished]
    assert escalation["result"] == "interrupted"
    assert escalation["escalation_id"] == OLD_ESCALATION["id"]
    assert escalation["attempts"] == OLD_ESCALATION["attempts"]
    assert escalation["recipients"] == OLD_ESCALATION["recipients"]

    for call_id in ("cfinishedcall", "cstoredcall", "cstoredcall"):
        form = hangup_form(call_id, start="2026-11-27T10:00:05.000000", duration="4")
        assert (await deliver(hass, hass_http, WEBHOOK_ID, form, road))[0] == 200
    await hass.async_block_till_done()
    # The finished one is a repeat, the open one ends once.
    assert [(e.data["call_id"], e.data["outcome"]) for e in ended] == [
        ("cstoredcall", "answered")
    ]
    assert ended[0].data["start"] == "2026-11-27T10:00:05+00:00"
