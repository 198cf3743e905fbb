"""SMS in the simulator: parts and cost rules, POST /a1/sms, reports, incoming SMS."""

from __future__ import annotations

import json

import aiohttp
import pytest

from elks_simulator import Account, Simulator
from elks_simulator.sms import DEFAULT_PART_COST, sms_encoding, sms_parts

from .conftest import MOBILE_NUMBER, SMS_NUMBER, VOICE_NUMBER, Api, Receiver

TO = "+46700000101"


@pytest.mark.parametrize(
    ("message", "encoding", "parts"),
    [
        ("a", "gsm7", 1),
        ("a" * 160, "gsm7", 1),
        ("a" * 161, "gsm7", 2),
        ("a" * 306, "gsm7", 2),
        ("a" * 307, "gsm7", 3),
        # Swedish letters are in GSM-7's basic table.
        ("åäöÅÄÖé" * 20, "gsm7", 1),
        # Extension-table characters take two septets each.
        ("€" * 80, "gsm7", 1),
        ("€" * 81, "gsm7", 2),
        ("a" * 159 + "[", "gsm7", 2),
        ("{}" * 40, "gsm7", 1),
        # Anything outside GSM-7 makes the whole message UCS-2.
        ("ł", "ucs2", 1),
        ("ł" * 70, "ucs2", 1),
        ("ł" * 71, "ucs2", 2),
        ("ł" * 134, "ucs2", 2),
        ("ł" * 135, "ucs2", 3),
        ("a" * 100 + "ç", "ucs2", 2),
        # Characters outside the BMP are two UTF-16 units.
        ("😀" * 35, "ucs2", 1),
        ("😀" * 36, "ucs2", 2),
    ],
)
def test_parts(message: str, encoding: str, parts: int) -> None:
    """Standard SMS splitting: 160/153 GSM-7 septets, 70/67 UCS-2 units."""
    assert sms_encoding(message) == encoding
    assert sms_parts(message) == parts


async def post_sms(api: Api, **form: str) -> tuple[int, str]:
    """POST /a1/sms (``from_`` stands for ``from``)."""
    data = {("from" if k == "from_" else k): v for k, v in form.items()}
    status, text, _ = await api.request("POST", "/sms", data=data)
    return status, text


async def test_send_charges_per_part(
    sim: Simulator, api: Api, account: Account
) -> None:
    """An SMS is created, answered with its parts and cost, and charged."""
    before = account.balance
    status, text = await post_sms(api, from_=VOICE_NUMBER, to=TO, message="ł" * 71)
    assert status == 200, text
    answer = json.loads(text)
    assert answer["id"].startswith("s")
    assert answer["status"] == "created"
    assert answer["parts"] == 2
    assert answer["cost"] == 2 * DEFAULT_PART_COST
    assert account.balance == before - 2 * DEFAULT_PART_COST
    assert sim.sms.sent[answer["id"]].to == TO


async def test_dry_run_prices_without_sending(
    sim: Simulator, api: Api, account: Account
) -> None:
    """dryrun=yes answers parts and estimated_cost; nothing is sent or charged."""
    before = account.balance
    status, text = await post_sms(
        api, from_="Alarm", to=TO, message="a" * 200, dryrun="yes"
    )
    assert status == 200, text
    answer = json.loads(text)
    assert "id" not in answer
    assert answer["parts"] == 2
    assert answer["estimated_cost"] == 2 * DEFAULT_PART_COST
    assert sim.sms.sent == {}
    assert account.balance == before


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"from_": "+46766869999", "to": TO, "message": "x"}, '"from"'),
        ({"from_": "AB", "to": TO, "message": "x"}, '"from"'),
        ({"from_": "Twelve12chars", "to": TO, "message": "x"}, '"from"'),
        ({"from_": "1Alarm", "to": TO, "message": "x"}, '"from"'),
        ({"from_": SMS_NUMBER, "to": "0701234567", "message": "x"}, '"to"'),
        ({"from_": SMS_NUMBER, "to": TO, "message": ""}, '"message"'),
        ({"from_": SMS_NUMBER, "to": TO, "message": "x" * 1601}, '"message"'),
        (
            {"from_": SMS_NUMBER, "to": TO, "message": "x", "whendelivered": "ftp://x"},
            '"whendelivered"',
        ),
        (
            {"from_": SMS_NUMBER, "to": TO, "message": "x", "flashsms": "1"},
            '"flashsms"',
        ),
    ],
)
async def test_refused(
    sim: Simulator, api: Api, form: dict[str, str], problem: str
) -> None:
    """Invalid senders, numbers, messages and options are refused with 400."""
    status, text = await post_sms(api, **form)
    assert status == 400
    assert problem in text
    assert sim.sms.sent == {}


async def test_account_mobile_number_may_send(api: Api) -> None:
    """The number the account signed up with is a valid sender (guess)."""
    status, text = await post_sms(api, from_=MOBILE_NUMBER, to=TO, message="x")
    assert status == 200, text


async def test_delivery_report(sim: Simulator, api: Api, receiver: Receiver) -> None:
    """The report of a delivered message goes to whendelivered, once."""
    status, text = await post_sms(
        api, from_=SMS_NUMBER, to=TO, message="hi", whendelivered=receiver.url("/d")
    )
    sms_id = json.loads(text)["id"]
    while not receiver.forms("/d"):
        await receiver.event.wait()
        receiver.event.clear()
    [form] = receiver.forms("/d")
    assert form["id"] == sms_id
    assert form["status"] == "delivered"
    assert "delivered" in form
    assert sim.sms.sent[sms_id].status == "delivered"


async def test_failed_report_held_and_duplicated(
    sim: Simulator, api: Api, receiver: Receiver
) -> None:
    """Reports follow the webhook faults: held, released, sent twice."""
    sim.sms.failing.add(TO)
    sim.faults.hold_webhooks()
    sim.faults.duplicate_webhooks = True
    _, text = await post_sms(
        api, from_=SMS_NUMBER, to=TO, message="hi", whendelivered=receiver.url("/d")
    )
    sms_id = json.loads(text)["id"]
    await sim.wait_webhook_held(sms_id)
    assert receiver.forms("/d") == []
    sim.faults.release_webhooks()
    while len(receiver.forms("/d")) < 2:
        await receiver.event.wait()
        receiver.event.clear()
    assert [f["status"] for f in receiver.forms("/d")] == ["failed", "failed"]
    assert {d.kind for d in sim.deliveries} == {"whendelivered"}


async def test_report_retried(sim: Simulator, api: Api, receiver: Receiver) -> None:
    """A report answered with an error is sent again."""
    receiver.reply("/d", (500, "down"))
    _, text = await post_sms(
        api, from_=SMS_NUMBER, to=TO, message="hi", whendelivered=receiver.url("/d")
    )
    sms = await sim.sms.wait_reported(json.loads(text)["id"])
    assert [d.status for d in sms.reports] == [200]
    assert [d.status for d in sim.deliveries] == [500, 200]


async def test_incoming_sms(
    sim: Simulator, account: Account, receiver: Receiver
) -> None:
    """An SMS to a number goes to its sms_url; none without one."""
    [number] = [n for n in sim.numbers.values() if n.number == SMS_NUMBER]
    quiet = await sim.receive_sms(from_=TO, to=SMS_NUMBER, message="nobody hears")
    assert quiet.delivery is None
    number.sms_url = receiver.url("/in")
    received = await sim.receive_sms(from_=TO, to=SMS_NUMBER, message="Larma på")
    assert received.delivery is not None and received.delivery.ok
    [form] = receiver.forms("/in")
    assert form == {
        "id": received.id,
        "direction": "incoming",
        "from": TO,
        "to": SMS_NUMBER,
        "message": "Larma på",
        "created": received.created,
    }
    with pytest.raises(ValueError):
        await sim.receive_sms(from_=TO, to="+46700009999", message="x")


async def test_incoming_sms_by_hand(
    sim: Simulator, account: Account, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    """POST /sim/sms texts a number, for trying incoming SMS by hand."""
    [number] = [n for n in sim.numbers.values() if n.number == SMS_NUMBER]
    number.sms_url = receiver.url("/in")
    form = {"from": TO, "to": SMS_NUMBER, "message": "Hej"}
    async with http.post(f"{sim.root_url}/sim/sms", data=form) as response:
        assert response.status == 200
        answer = await response.json()
    assert answer["delivered_to_sms_url"] == 200
    [received] = receiver.forms("/in")
    assert received["id"] == answer["id"]
    assert received["message"] == "Hej"
    async with http.post(
        f"{sim.root_url}/sim/sms", data={**form, "to": "+46700009999"}
    ) as response:
        assert response.status == 404
    async with http.post(
        f"{sim.root_url}/sim/sms", data={**form, "from": "x"}
    ) as response:
        assert response.status == 400
