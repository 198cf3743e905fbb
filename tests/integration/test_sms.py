"""elks.send_sms and delivery reports, through Home Assistant against the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.elks import logbook
from custom_components.elks.const import DOMAIN, EVENT_SMS_RECEIVED, EVENT_SMS_STATUS
from elks_simulator.sms import DEFAULT_PART_COST
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .conftest import ANSWERS, BUSY, CALLER_ID, MOBILE, SMS_ONLY, WEBHOOK_ID, Elks
from .roads import Restarter, Road, deliver
from .test_escalation_restart import until

SENSOR = "sensor.home_last_sms"
PART = DEFAULT_PART_COST / 10000


async def send_sms(hass: HomeAssistant, **data: object) -> dict[str, object]:
    """Run elks.send_sms and return its response."""
    response = await hass.services.async_call(
        DOMAIN, "send_sms", data, blocking=True, return_response=True
    )
    assert response is not None
    return dict(response)


def sms_posts(elks: Elks) -> list[dict[str, str]]:
    """Forms of every POST /a1/sms the simulator received."""
    return [
        r.form
        for r in elks.sim.requests
        if r.method == "POST" and r.path.lower() == "/a1/sms"
    ]


async def held_report(
    hass: HomeAssistant, elks: Elks, to: str = ANSWERS
) -> tuple[str, dict[str, str], str]:
    """Send an SMS and hold back its report; return id, report form and query."""
    elks.sim.faults.hold_webhooks()
    [sent] = (await send_sms(hass, to=to, message="Smoke!"))["messages"]  # type: ignore[misc]
    await elks.sim.wait_webhook_held(sent["id"])
    [held] = [item for item in elks.sim.faults.held if item.call_id == sent["id"]]
    return sent["id"], dict(held.form), urlsplit(held.url).query


async def test_send_to_two(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """One SMS per number, from the caller ID, with a delivery report URL."""
    response = await send_sms(
        hass, to=[ANSWERS, "+46 70-000 01 02", ANSWERS], message="Smoke!"
    )
    assert response["dry_run"] is False
    assert response["errors"] == []
    messages = response["messages"]
    assert [m["to"] for m in messages] == [ANSWERS, BUSY]  # type: ignore[attr-defined]
    for message in messages:  # type: ignore[attr-defined]
        assert message["from"] == CALLER_ID
        assert message["status"] == "created"
        assert message["parts"] == 1
        assert message["cost"] == PART
    assert response["parts"] == 2
    assert response["cost"] == 2 * PART
    posts = sms_posts(elks)
    assert sorted(p["to"] for p in posts) == [ANSWERS, BUSY]
    for post in posts:
        assert post["whendelivered"].endswith(
            f"/api/webhook/{WEBHOOK_ID}?on=sms_status"
        )
        assert "flashsms" not in post
    assert hass.states.get(SENSOR).state == "created"


async def test_invalid_number_is_named_and_nothing_sent(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """An invalid number refuses the action before any SMS goes out."""
    with pytest.raises(ServiceValidationError) as err:
        await send_sms(hass, to=[ANSWERS, "070-123 45 67"], message="Smoke!")
    assert err.value.translation_key == "invalid_sms_number"
    assert err.value.translation_placeholders == {"number": "070-123 45 67"}
    assert "070-123 45 67" in str(err.value)
    assert sms_posts(elks) == []


async def test_refused_recipient_is_an_error_entry(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """46elks refusing one number: the other gets its SMS, the refusal is named."""
    elks.sim.sms.refused.add(BUSY)
    response = await send_sms(hass, to=[ANSWERS, BUSY], message="Smoke!")
    [message] = response["messages"]  # type: ignore[misc]
    assert message["to"] == ANSWERS
    [error] = response["errors"]  # type: ignore[misc]
    assert error["to"] == BUSY
    assert error["error"] == "rejected"
    assert BUSY in error["message"]
    assert error["may_have_been_sent"] is False
    assert [s.to for s in elks.sim.sms.sent.values()] == [ANSWERS]

    with pytest.raises(HomeAssistantError) as err:
        await send_sms(hass, to=BUSY, message="Smoke!")
    assert err.value.translation_key == "sms_not_sent"


async def test_dry_run(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A dry run prices every part and sends nothing."""
    balance = elks.account.balance
    response = await send_sms(
        hass, to=[ANSWERS, BUSY], message="Brandlarm i köket! 🔥" * 4, dry_run=True
    )
    assert response["dry_run"] is True
    for message in response["messages"]:  # type: ignore[attr-defined]
        assert message["id"] is None
        assert message["parts"] == 2
        assert message["estimated_cost"] == 2 * PART
    assert response["parts"] == 4
    assert response["estimated_cost"] == 4 * PART
    assert all(p["dryrun"] == "yes" for p in sms_posts(elks))
    assert elks.sim.sms.sent == {}
    assert elks.account.balance == balance
    assert hass.states.get(SENSOR).state == "unknown"


@pytest.mark.parametrize(
    ("sender", "key"),
    [
        ("AB", "invalid_sender"),
        ("Larm-central", "invalid_sender"),
        ("+46700009999", "sender_not_own"),
        ("+46766860003", "sender_not_own"),  # inactive
    ],
)
async def test_bad_sender(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    sender: str,
    key: str,
) -> None:
    """A sender 46elks would refuse is refused here, naming it."""
    with pytest.raises(ServiceValidationError) as err:
        await send_sms(hass, to=ANSWERS, message="x", **{"from": sender})
    assert err.value.translation_key == key
    assert sender in str(err.value)
    assert sms_posts(elks) == []


@pytest.mark.parametrize("sender", ["Alarm", SMS_ONLY, MOBILE])
async def test_good_senders(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry, sender: str
) -> None:
    """A text sender, an SMS number and the account's mobile number send."""
    response = await send_sms(
        hass, to=ANSWERS, message="x", flash=True, **{"from": sender}
    )
    assert response["messages"][0]["from"] == sender  # type: ignore[index]
    [post] = sms_posts(elks)
    assert post["flashsms"] == "yes"


async def test_lost_answer_is_not_retried(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """The answer lost after 46elks sent it: "may have been sent", one POST."""
    elks.sim.faults.drop_next(path="/a1/sms", after_processing=True)
    with pytest.raises(HomeAssistantError) as err:
        await send_sms(hass, to=ANSWERS, message="Smoke!")
    assert err.value.translation_key == "sms_outcome_unknown"
    assert len(sms_posts(elks)) == 1
    assert len(elks.sim.sms.sent) == 1


async def test_report_applied_once(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
) -> None:
    """A report is applied once, however often and by whichever road it comes."""
    events = async_capture_events(hass, EVENT_SMS_STATUS)
    sms_id, form, query = await held_report(hass, elks)
    for _ in range(2):
        status, _ = await deliver(hass, hass_http, WEBHOOK_ID, form, road, query)
        assert status == 200
    other = Road.CLOUD if road is Road.HTTP else Road.HTTP
    await deliver(hass, hass_http, WEBHOOK_ID, form, other, query)
    elks.sim.faults.release_webhooks()
    await elks.sim.sms.wait_reported(sms_id)
    await hass.async_block_till_done()
    [event] = events
    assert event.data["sms_id"] == sms_id
    assert event.data["status"] == "delivered"
    assert event.data["to"] == ANSWERS
    assert event.data["from"] == CALLER_ID
    assert event.data["parts"] == 1
    assert event.data["delivered"] is not None
    state = hass.states.get(SENSOR)
    assert state.state == "delivered"
    assert state.attributes["id"] == sms_id
    assert state.attributes["currency"] == "SEK"


async def test_report_overtaking_the_answer(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    road: Road,
) -> None:
    """A report that arrives before the answer to its POST waits for it, then applies."""
    events = async_capture_events(hass, EVENT_SMS_STATUS)
    elks.sim.faults.hold_webhooks()
    gate = elks.sim.faults.hold_response_next(path="/a1/sms")
    sending = asyncio.create_task(send_sms(hass, to=ANSWERS, message="Smoke!"))
    await until(lambda: bool(elks.sim.faults.held))
    [held] = elks.sim.faults.held
    query = urlsplit(held.url).query
    reporting = asyncio.create_task(
        deliver(hass, hass_http, WEBHOOK_ID, held.form, road, query)
    )
    sender = loaded_entry.runtime_data.sms
    await until(lambda: sender.sizes["waiting_reports"] == 1)
    assert events == []
    gate.set()
    response = await sending
    assert (await reporting)[0] == 200
    await hass.async_block_till_done()
    assert [e.data["sms_id"] for e in events] == [response["messages"][0]["id"]]  # type: ignore[index]
    assert hass.states.get(SENSOR).state == "delivered"


@pytest.mark.parametrize(
    "form",
    [
        {"id": "s1", "status": "sent"},
        {"id": "s1", "status": "delivered", "delivered": "yesterday"},
        {"id": "s/../1", "status": "delivered"},
        {"status": "delivered"},
    ],
)
async def test_invalid_report_ignored(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    form: dict[str, str],
) -> None:
    """Reports that are not what 46elks sends change nothing."""
    events = async_capture_events(hass, EVENT_SMS_STATUS)
    sms_id, real, query = await held_report(hass, elks)
    form = {**form, "id": sms_id} if "id" in form and form["id"] == "s1" else form
    status, _ = await deliver(hass, hass_http, WEBHOOK_ID, form, Road.HTTP, query)
    assert status == 200
    await hass.async_block_till_done()
    assert events == []
    assert hass.states.get(SENSOR).state == "created"


async def test_unknown_sms_report_ignored(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
) -> None:
    """A report for an SMS this account did not send is dropped."""
    events = async_capture_events(hass, EVENT_SMS_STATUS)
    form = {"id": "s" + "0" * 32, "status": "delivered"}
    status, _ = await deliver(
        hass, hass_http, WEBHOOK_ID, form, Road.HTTP, "on=sms_status"
    )
    assert status == 200
    await hass.async_block_till_done()
    assert events == []


async def test_reports_across_a_restart(
    hass: HomeAssistant,
    elks: Elks,
    loaded_entry: MockConfigEntry,
    hass_http: TestClient,
    restarter: Restarter,
) -> None:
    """SMS sent before a stop are known after it; each report applies once."""
    open_id, open_form, query = await held_report(hass, elks, ANSWERS)
    done_id, done_form, _ = await held_report(hass, elks, BUSY)
    await deliver(hass, hass_http, WEBHOOK_ID, done_form, Road.HTTP, query)

    hass2, client2, _ = await restarter.restart(hass, hass_http, loaded_entry)
    events = async_capture_events(hass2, EVENT_SMS_STATUS)
    # 46elks sends again the report applied just before the stop.
    await deliver(hass2, client2, WEBHOOK_ID, done_form, Road.HTTP, query)
    await deliver(hass2, client2, WEBHOOK_ID, open_form, Road.CLOUD, query)
    elks.sim.faults.release_webhooks()
    await elks.sim.sms.wait_reported(open_id)
    await hass2.async_block_till_done()
    assert [e.data["sms_id"] for e in events] == [open_id]
    assert events[0].data["to"] == ANSWERS
    assert done_id != open_id


def test_logbook_descriptions() -> None:
    """SMS reports and incoming SMS read as sentences, without the text."""
    describers: dict[str, Callable[[Event], dict[str, str]]] = {}

    def describe(
        domain: str, event_type: str, describer: Callable[[Event], dict[str, str]]
    ) -> None:
        describers[event_type] = describer

    logbook.async_describe_events(None, describe)  # type: ignore[arg-type]
    delivered = describers[EVENT_SMS_STATUS](
        Event(EVENT_SMS_STATUS, {"to": ANSWERS, "status": "delivered"})
    )
    assert delivered["message"] == f"SMS to {ANSWERS} was delivered"
    assert delivered["icon"] == "mdi:message-check"
    failed = describers[EVENT_SMS_STATUS](
        Event(EVENT_SMS_STATUS, {"to": ANSWERS, "status": "failed"})
    )
    assert failed["message"] == f"SMS to {ANSWERS} failed"
    received = describers[EVENT_SMS_RECEIVED](
        Event(
            EVENT_SMS_RECEIVED,
            {"from": ANSWERS, "to": SMS_ONLY, "message": "secret word"},
        )
    )
    assert received["message"] == f"SMS from {ANSWERS} to {SMS_ONLY}"


async def test_unreadable_stored_sms_are_skipped(
    hass: HomeAssistant,
    elks: Elks,
    config_entry: MockConfigEntry,
    hass_http: TestClient,
    hass_storage: dict[str, Any],
) -> None:
    """A stored SMS this version cannot read is forgotten; setup goes on."""
    hass_storage[f"elks.{config_entry.entry_id}.sms"] = {
        "version": 1,
        "key": f"elks.{config_entry.entry_id}.sms",
        "data": {
            "sent": [
                {"id": "s1", "unknown_field": 1},
                "junk",
                {
                    "id": "s2",
                    "to": ANSWERS,
                    "sender": CALLER_ID,
                    "parts": 1,
                    "cost": 5200,
                    "created": None,
                    "status": "sent",
                },
            ]
        },
    }
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.runtime_data.sms.sizes["sent"] == 1
    events = async_capture_events(hass, EVENT_SMS_STATUS)
    form = {"id": "s2", "status": "delivered"}
    await deliver(hass, hass_http, WEBHOOK_ID, form, Road.HTTP, "on=sms_status")
    await hass.async_block_till_done()
    assert [e.data["sms_id"] for e in events] == ["s2"]
