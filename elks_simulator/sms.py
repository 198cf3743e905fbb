"""SMS in the 46elks simulator: ``POST /a1/sms``, delivery reports, incoming SMS.

Parts follow the standard SMS rules: GSM-7 messages take 160 characters in
one part and 153 per part when split (characters of the extension table
count twice); anything outside GSM-7 goes as UCS-2, 70 characters in one
part and 67 per part when split (characters outside the Basic Multilingual
Plane count twice). Every part costs ``part_cost``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import re
import secrets
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from .faults import HeldWebhook
from .models import Account, WebhookDelivery

if TYPE_CHECKING:
    from .simulator import Simulator

type Encoding = Literal["gsm7", "ucs2"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Sent as an escape and the character: two septets each.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

SINGLE_PART = {"gsm7": 160, "ucs2": 70}
SPLIT_PART = {"gsm7": 153, "ucs2": 67}
# What one part costs (1/10000 SEK; a guess at 46elks' Swedish price).
DEFAULT_PART_COST = 5200
# Longest message taken (guess: 46elks does not publish one).
MAX_MESSAGE_LENGTH = 1600
_TEXT_SENDER = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,10}$")
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


def sms_encoding(message: str) -> Encoding:
    """Return the encoding a message is sent in."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in message):
        return "gsm7"
    return "ucs2"


def sms_length(message: str, encoding: Encoding) -> int:
    """Return the length in the encoding's units (septets or UTF-16 code units)."""
    if encoding == "gsm7":
        return sum(2 if ch in GSM7_EXTENSION else 1 for ch in message)
    return len(message.encode("utf-16-le")) // 2


def sms_parts(message: str) -> int:
    """Return how many parts a message is sent as (at least one)."""
    encoding = sms_encoding(message)
    length = sms_length(message, encoding)
    if length <= SINGLE_PART[encoding]:
        return 1
    return -(-length // SPLIT_PART[encoding])


@dataclass(slots=True)
class SimSms:
    """An SMS sent through ``POST /a1/sms``."""

    id: str
    account_id: str
    from_: str
    to: str
    message: str
    created: str
    parts: int
    cost: int
    flash: bool = False
    whendelivered: str | None = None
    status: str = "created"
    delivered: str | None = None
    reports: list[WebhookDelivery] = field(default_factory=list)
    # Set once its report was delivered (every attempt), or not sent or held.
    reported: asyncio.Event = field(default_factory=asyncio.Event)

    def to_json(self) -> dict[str, Any]:
        """Return the ``POST /a1/sms`` answer."""
        return {
            "id": self.id,
            "status": self.status,
            "direction": "outgoing",
            "from": self.from_,
            "to": self.to,
            "message": self.message,
            "created": self.created,
            "parts": self.parts,
            "cost": self.cost,
        }


@dataclass(slots=True)
class ReceivedSms:
    """An SMS sent to one of the account's numbers (posted to its ``sms_url``)."""

    id: str
    from_: str
    to: str
    message: str
    created: str
    delivery: WebhookDelivery | None = None


class SmsService:
    """The SMS side of one simulator."""

    def __init__(self, sim: Simulator, part_cost: int = DEFAULT_PART_COST) -> None:
        """Serve SMS for ``sim``'s accounts and numbers."""
        self._sim = sim
        self.part_cost = part_cost
        self.sent: dict[str, SimSms] = {}
        self.received: list[ReceivedSms] = []
        # Recipients whose messages fail (a report with status "failed").
        self.failing: set[str] = set()
        # Recipients 46elks refuses at once (HTTP 400), e.g. a landline.
        self.refused: set[str] = set()

    def validate(self, account: Account, form: dict[str, str]) -> str | None:
        """Return 46elks' error text for an SMS it would refuse."""
        sender = form.get("from", "")
        if not sender:
            return 'Missing key "from"'
        own = {
            n.number
            for n in self._sim.numbers.values()
            if n.account_id == account.id and n.active and "sms" in n.capabilities
        } | {account.mobilenumber}
        if not _TEXT_SENDER.fullmatch(sender) and sender not in own:
            return f'Invalid "from": "{sender}" is not a number of this account or a text sender of 3-11 letters and digits'
        to = form.get("to", "")
        if not _E164.fullmatch(to):
            return f'Invalid "to": "{to}" is not a phone number in E.164 format'
        if to in self.refused:
            return f'Invalid "to": "{to}" cannot receive SMS'
        message = form.get("message", "")
        if not message:
            return 'Missing key "message"'
        if len(message) > MAX_MESSAGE_LENGTH:
            return f'Invalid "message": longer than {MAX_MESSAGE_LENGTH} characters'
        whendelivered = form.get("whendelivered")
        if whendelivered is not None and not _is_http_url(whendelivered):
            return f'Invalid "whendelivered": "{whendelivered}" is not an http(s) URL'
        for flag in ("flashsms", "dryrun"):
            if form.get(flag, "no") not in ("yes", "no"):
                return f'Invalid "{flag}": must be "yes" or "no"'
        return None

    async def post_sms(
        self,
        request: web.Request,
        account: Account | None,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        """``POST /a1/sms``: send (or, with ``dryrun=yes``, only price) one SMS."""
        assert account is not None
        if (error := self.validate(account, form)) is not None:
            return web.Response(status=400, text=error)
        parts = sms_parts(form["message"])
        cost = parts * self.part_cost
        if form.get("dryrun") == "yes":
            return web.json_response(
                {
                    "status": "created",
                    "direction": "outgoing",
                    "from": form["from"],
                    "to": form["to"],
                    "message": form["message"],
                    "parts": parts,
                    "estimated_cost": cost,
                    "dryrun": "yes",
                }
            )
        if account.balance < cost:
            return web.Response(status=402, text="Insufficient balance")
        account.balance -= cost
        sms = SimSms(
            id="s" + secrets.token_hex(16),
            account_id=account.id,
            from_=form["from"],
            to=form["to"],
            message=form["message"],
            created=self._sim.timestamp(),
            parts=parts,
            cost=cost,
            flash=form.get("flashsms") == "yes",
            whendelivered=form.get("whendelivered"),
        )
        self.sent[sms.id] = sms
        answer = sms.to_json()
        self._sim.spawn(self._deliver(sms))
        return web.json_response(answer)

    def report_form(self, sms: SimSms) -> dict[str, str]:
        """Return the delivery report of a message that reached its end."""
        form = {"id": sms.id, "status": sms.status}
        if sms.delivered is not None:
            form["delivered"] = sms.delivered
        return form

    async def wait_reported(self, sms_id: str, timeout: float = 60.0) -> SimSms:
        """Wait (real seconds) until the message's report went out (every attempt).

        A held report counts once ``release_webhooks`` delivered it.
        """
        sms = self.sent[sms_id]
        async with asyncio.timeout(timeout):
            await sms.reported.wait()
        return sms

    async def _deliver(self, sms: SimSms) -> None:
        held = False
        try:
            held = await self._deliver_and_report(sms)
        finally:
            if not held:
                sms.reported.set()

    def released(self, sms_id: str) -> None:
        """Note that a held report was delivered after ``release_webhooks``."""
        if (sms := self.sent.get(sms_id)) is not None:
            sms.reported.set()

    async def _deliver_and_report(self, sms: SimSms) -> bool:
        """Deliver the message, then report it; True when the report is held."""
        sms.status = "sent"
        await self._sim.sleep_scaled(1.0)
        if sms.to in self.failing:
            sms.status = "failed"
        else:
            sms.status = "delivered"
            sms.delivered = self._sim.timestamp()
        if not sms.whendelivered:
            return False
        form = self.report_form(sms)
        faults = self._sim.faults
        if faults.holding_webhooks:
            faults.held.append(
                HeldWebhook(sms.id, sms.whendelivered, form, "whendelivered")
            )
            return True
        for _ in range(2 if faults.duplicate_webhooks else 1):
            sms.reports.append(
                await self._sim.deliver(
                    sms.whendelivered, form, "whendelivered", sms.id
                )
            )
        return False

    async def sim_post_sms(
        self,
        request: web.Request,
        account: Account | None,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        """``POST /sim/sms`` (``from``, ``to``, ``message``): text one of the numbers.

        For trying incoming SMS by hand (``scripts/develop``); answers with
        the SMS and how its delivery to the number's ``sms_url`` went.
        """
        if not _E164.fullmatch(form.get("from", "")) or not form.get("message"):
            return web.Response(status=400, text="from (E.164) and message needed")
        try:
            received = await self.receive_sms(
                from_=form["from"], to=form.get("to", ""), message=form["message"]
            )
        except ValueError as err:
            return web.Response(status=404, text=str(err))
        delivery = received.delivery
        return web.json_response(
            {
                "id": received.id,
                "delivered_to_sms_url": delivery.status if delivery else None,
            }
        )

    async def receive_sms(self, *, from_: str, to: str, message: str) -> ReceivedSms:
        """Have ``from_`` text ``message`` to the account's number ``to``.

        Posted to the number's ``sms_url`` (with retries, twice with
        ``duplicate_webhooks``); nothing is posted when it has none.
        """
        number = next((n for n in self._sim.numbers.values() if n.number == to), None)
        if number is None or "sms" not in number.capabilities:
            raise ValueError(f"{to} is no SMS number of the simulator")
        received = ReceivedSms(
            id="s" + secrets.token_hex(16),
            from_=from_,
            to=to,
            message=message,
            created=self._sim.timestamp(),
        )
        self.received.append(received)
        if number.sms_url and number.active:
            form = {
                "id": received.id,
                "direction": "incoming",
                "from": from_,
                "to": to,
                "message": message,
                "created": received.created,
            }
            copies = 2 if self._sim.faults.duplicate_webhooks else 1
            for _ in range(copies):
                received.delivery = await self._sim.deliver(
                    number.sms_url, form, "sms", received.id
                )
        return received


def _is_http_url(value: str) -> bool:
    return re.match(r"^https?://[^/\s]+", value) is not None
