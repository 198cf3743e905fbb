"""ElksClient.send_sms and sender validation, against the simulator."""

from __future__ import annotations

import pytest

from custom_components.elks.api import (
    ElksCallOutcomeUnknownError,
    ElksRequestError,
    ElksResponseError,
    InvalidSenderError,
    SmsPrice,
    amount,
    validate_sender,
)
from elks_simulator.sms import DEFAULT_PART_COST

from .conftest import Setup

TO = "+46700000101"
HOOK = "https://ha.example/api/webhook/0123456789abcdef0123456789abcdef0123456789abcdef?on=sms_status"


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("Alarm", "Alarm"),
        (" Home2 ", "Home2"),
        ("Abc", "Abc"),
        ("Abcdefghijk", "Abcdefghijk"),
        ("+46 70-000 00 00", "+46700000000"),
        ("0046700000000", "+46700000000"),
    ],
)
def test_valid_senders(sender: str, expected: str) -> None:
    """Text senders of 3-11 letters and digits, and numbers in E.164."""
    assert validate_sender(sender) == expected


@pytest.mark.parametrize(
    "sender", ["", "Ab", "Abcdefghijkl", "1Alarm", "Larm!", "Å-larm", "0701234567"]
)
def test_invalid_senders(sender: str) -> None:
    """Too short, too long, not letters and digits, or a number without country code."""
    with pytest.raises(InvalidSenderError):
        validate_sender(sender)


def test_sender_must_be_own_number() -> None:
    """With the account's numbers given, another number is refused."""
    assert validate_sender("+46700000000", {"+46700000000"}) == "+46700000000"
    with pytest.raises(InvalidSenderError):
        validate_sender("+46700000001", {"+46700000000"})
    # Text senders are not numbers of the account.
    assert validate_sender("Alarm", set()) == "Alarm"


async def test_send(setup: Setup) -> None:
    """One POST /sms; the answer is typed."""
    sms = await setup.client.send_sms("Alarm", TO, "Smoke!", HOOK, flash=True)
    assert sms.id is not None and sms.id.startswith("s")
    assert (sms.status, sms.to, sms.from_number, sms.parts) == (
        "created",
        TO,
        "Alarm",
        1,
    )
    assert sms.cost == DEFAULT_PART_COST
    assert amount(sms.cost) == DEFAULT_PART_COST / 10000
    [request] = [r for r in setup.sim.requests if r.path == "/a1/sms"]
    assert request.form == {
        "from": "Alarm",
        "to": TO,
        "message": "Smoke!",
        "whendelivered": HOOK,
        "flashsms": "yes",
    }


async def test_dry_run(setup: Setup) -> None:
    """A price (46elks' dry run) has no id and an estimated cost; nothing is sent."""
    sms = await setup.client.price_sms("Alarm", TO, "x" * 161)
    assert isinstance(sms, SmsPrice)
    assert sms.id is None
    assert sms.parts == 2
    assert sms.cost == 2 * DEFAULT_PART_COST
    assert amount(sms.cost) == 2 * DEFAULT_PART_COST / 10000
    [request] = [r for r in setup.sim.requests if r.path == "/a1/sms"]
    assert request.form["dryrun"] == "yes"
    assert "whendelivered" not in request.form
    assert setup.sim.sms.sent == {}


async def test_refused_is_a_request_error(setup: Setup) -> None:
    """46elks' own text comes back, without our webhook URL."""
    setup.sim.faults.echo_next(path="/a1/sms")
    with pytest.raises(ElksRequestError) as err:
        await setup.client.send_sms("Alarm", TO, "x", HOOK)
    assert "0123456789abcdef" not in str(err.value)
    assert "on=sms_status" not in str(err.value)


@pytest.mark.parametrize("fault", ["drop", "unreadable"])
async def test_lost_answer_may_have_been_sent(setup: Setup, fault: str) -> None:
    """A lost or unreadable answer: the SMS may be on its way; sent once only."""
    if fault == "drop":
        setup.sim.faults.drop_next(path="/a1/sms", after_processing=True)
    else:
        setup.sim.faults.answer_next(200, body=f"oops {HOOK}", path="/a1/sms")
    with pytest.raises(ElksCallOutcomeUnknownError) as err:
        await setup.client.send_sms("Alarm", TO, "x", HOOK)
    assert "0123456789abcdef" not in str(err.value)
    assert len([r for r in setup.sim.requests if r.path == "/a1/sms"]) == 1
    assert len(setup.sim.sms.sent) == 1


async def test_unreadable_dry_run_is_a_response_error(setup: Setup) -> None:
    """A dry run sends nothing: an unreadable answer is only unreadable."""
    setup.sim.faults.answer_next(200, body="{}", path="/a1/sms")
    with pytest.raises(ElksResponseError):
        await setup.client.price_sms("Alarm", TO, "x")
