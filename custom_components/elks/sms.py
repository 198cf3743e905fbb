"""Sending SMS for one account, and applying their delivery reports once.

Every SMS goes out here with exactly one ``POST /sms`` that is never
retried (a lost answer means it may have been sent). The ids of the SMS
sent are kept durably (bounded), so that a delivery report is applied once
whichever road it takes, however often 46elks sends it, and across a
restart.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import asdict, dataclass
from http import HTTPStatus
import time
from typing import Any

from aiohttp import web
import probatio

from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util.json import JsonObjectType

from .api import (
    FINAL_SMS_STATUSES,
    ElksError,
    InvalidSenderError,
    PhoneNumber,
    Sms,
    SmsPrice,
    amount,
    parse_timestamp,
    validate_sender,
)
from .const import CONF_CALLER_ID, EVENT_SMS_STATUS, LOGGER, signal_sms_updated
from .coordinator import ElksAccountCoordinator
from .dialer import invalid
from .errors import translated
from .models import (
    AccountContext,
    FailureCode,
    RecipientFailure,
    WebhookRoute,
    iso_timestamp,
    sms_data,
    sms_event_data,
)
from .storage import PromptSave, StoreKind, stored_items
from .webhook import ElksWebhook, checked_form

# SMS whose report is still recognised; 46elks reports within days (guess).
SENT_SMS_KEPT = 1000
# A report that overtakes the answer to its POST waits this long for it.
REPORT_WAIT_SECONDS = 10.0
# The account's numbers are read again after this long (sender check).
NUMBERS_MAX_AGE_SECONDS = 600.0


def _timestamp(value: Any) -> str:
    if not isinstance(value, str) or parse_timestamp(value) is None:
        raise probatio.Invalid("not a timestamp")
    return value


REPORT_SCHEMA = probatio.Schema(
    {
        probatio.Required("id"): probatio.All(
            str, probatio.Match(r"^[a-zA-Z0-9]{1,64}\Z")
        ),
        probatio.Required("status"): probatio.In(FINAL_SMS_STATUSES),
        probatio.Optional("delivered"): _timestamp,
    },
    extra=probatio.REMOVE_EXTRA,
)


@dataclass(frozen=True, slots=True)
class SmsRequest:
    """One validated ``elks.send_sms``: who gets what, from which sender."""

    recipients: tuple[str, ...]
    sender: str
    message: str
    flash: bool = False
    dry_run: bool = False


@dataclass(slots=True)
class SentSms:
    """An SMS this account sent, as kept until its report (and a while after)."""

    id: str
    to: str
    sender: str
    parts: int
    cost: int | None
    created: str | None
    status: str
    delivered: str | None = None

    def as_dict(self) -> JsonObjectType:
        """Return the SMS as events, the sensor and responses show it."""
        return {
            **sms_data(self.id, self.sender, self.to, self.created),
            "status": self.status,
            "parts": self.parts,
            "cost": amount(self.cost),
            "delivered": iso_timestamp(self.delivered),
        }


@dataclass(frozen=True, slots=True)
class SmsFailure(RecipientFailure):
    """Why one recipient got no SMS."""

    MAY_EXIST_KEY = "may_have_been_sent"
    WHAT = "SMS"
    DONE = "sent"


@dataclass(frozen=True, slots=True)
class SmsResult:
    """What one request did: SMS sent (or priced) and failures."""

    dry_run: bool
    sent: tuple[Sms | SmsPrice, ...]
    failures: tuple[SmsFailure, ...]

    def as_response(self) -> JsonObjectType:
        """Return the result as the action's response data."""
        cost_key = "estimated_cost" if self.dry_run else "cost"
        messages: list[JsonObjectType] = [
            {
                "id": sms.id,
                "to": sms.to,
                "from": sms.from_number,
                "status": sms.status,
                "parts": sms.parts,
                cost_key: amount(sms.cost),
            }
            for sms in self.sent
        ]
        costs = [amount(sms.cost) or 0.0 for sms in self.sent]
        return {
            "dry_run": self.dry_run,
            "messages": messages,  # type: ignore[dict-item]
            "errors": [failure.as_dict() for failure in self.failures],
            "parts": sum(sms.parts for sms in self.sent),
            cost_key: round(sum(costs), 4),
        }


class SmsSender:
    """Sends the SMS of one account and applies their delivery reports."""

    def __init__(
        self,
        account: AccountContext,
        webhook: ElksWebhook,
        device_id: str,
        coordinator: ElksAccountCoordinator,
    ) -> None:
        """Send through the account's client; reports come through ``webhook``.

        ``coordinator`` has the account as last polled (its mobile number).
        """
        self._account = account
        self._coordinator = coordinator
        self._webhook = webhook
        self._device_id = device_id
        self._saver = PromptSave(
            account.hass, account.entry.entry_id, StoreKind.SMS, self._data
        )
        self._sent: OrderedDict[str, SentSms] = OrderedDict()
        self._in_flight = 0
        self._waiting_reports = 0
        self._answered = asyncio.Event()
        self._numbers: tuple[float, frozenset[str]] | None = None

    @property
    def sizes(self) -> dict[str, int]:
        """Sizes of the tables (diagnostics)."""
        return {
            "sent": len(self._sent),
            "in_flight": self._in_flight,
            "waiting_reports": self._waiting_reports,
        }

    async def async_setup(self) -> None:
        """Load the SMS sent before a restart and take delivery reports."""
        data = await self._saver.async_load()
        for sent in stored_items(data, "sent", lambda item: SentSms(**item)):
            self._sent[sent.id] = sent
        self._account.entry.async_on_unload(
            self._webhook.async_add_route(WebhookRoute.SMS_STATUS, self._async_report)
        )
        self._account.entry.async_on_unload(self.async_save)

    async def async_save(self) -> None:
        """Write the SMS sent now (on unload)."""
        await self._saver.async_save()

    def _data(self) -> JsonObjectType:
        return {"sent": [asdict(sent) for sent in self._sent.values()]}

    def default_sender(self) -> str:
        """Return the sender used when none is given: the caller id option."""
        sender = self._account.entry.options.get(CONF_CALLER_ID)
        if not sender:
            raise invalid("no_caller_id")
        return str(sender)

    async def async_check_sender(self, sender: str) -> str:
        """Return the sender in 46elks' form; a number must be the account's.

        When the account's numbers cannot be read, 46elks decides.
        """
        try:
            sender = validate_sender(sender)
        except InvalidSenderError as err:
            raise invalid("invalid_sender", sender=err.sender) from err
        if not sender.startswith("+"):
            return sender
        own = await self._async_own_numbers()
        if own is not None and sender not in own:
            raise invalid("sender_not_own", sender=sender)
        return sender

    async def _async_own_numbers(self) -> frozenset[str] | None:
        now = time.monotonic()
        if self._numbers is None or now - self._numbers[0] > NUMBERS_MAX_AGE_SECONDS:
            try:
                numbers: list[PhoneNumber] = await self._account.client.list_numbers()
            except ElksError as err:
                LOGGER.warning("Could not read the account's numbers: %s", err)
                return None
            own = {n.number for n in numbers if n.can_receive_sms}
            if mobile := self._coordinator.data.mobilenumber:
                own.add(mobile)
            self._numbers = (now, frozenset(own))
        return self._numbers[1]

    async def async_send(self, request: SmsRequest) -> SmsResult:
        """Send (or price) one SMS per recipient, all at once.

        Raises a translated error when no SMS went out.
        """
        results = await asyncio.gather(
            *(self._async_send_one(request, to) for to in request.recipients)
        )
        sent = tuple(r for r in results if not isinstance(r, SmsFailure))
        failures = tuple(r for r in results if isinstance(r, SmsFailure))
        for failure in failures:
            failure.log()
        if not sent:
            raise _none_sent(failures)
        return SmsResult(request.dry_run, sent, failures)

    async def async_text(self, recipients: tuple[str, ...], message: str) -> SmsResult:
        """Text ``recipients`` from the default sender (notify, escalations)."""
        return await self.async_send(
            SmsRequest(recipients, self.default_sender(), message)
        )

    async def _async_send_one(
        self, request: SmsRequest, to: str
    ) -> Sms | SmsPrice | SmsFailure:
        """Send one SMS with exactly one ``POST /sms``; never retried."""
        hook = (
            None if request.dry_run else self._webhook.url_for(WebhookRoute.SMS_STATUS)
        )
        self._in_flight += 1
        client = self._account.client
        try:
            if request.dry_run:
                return await client.price_sms(
                    request.sender, to, request.message, flash=request.flash
                )
            sms = await client.send_sms(
                request.sender, to, request.message, hook, flash=request.flash
            )
        except ElksError as err:
            failure = SmsFailure.from_error(to, err)
            if failure.code is FailureCode.AUTH_FAILED:
                self._account.entry.async_start_reauth(self._account.hass)
            return failure
        finally:
            self._in_flight -= 1
            self._answered.set()
            self._answered = asyncio.Event()
        self._sent_one(sms)
        return sms

    @callback
    def _sent_one(self, sms: Sms) -> None:
        sent = SentSms(
            sms.id,
            sms.to,
            sms.from_number,
            sms.parts,
            sms.cost,
            sms.created,
            sms.status,
        )
        self._sent[sms.id] = sent
        while len(self._sent) > SENT_SMS_KEPT:
            self._sent.popitem(last=False)
        self._saver.schedule()
        async_dispatcher_send(
            self._account.hass,
            signal_sms_updated(self._account.entry.entry_id),
            sent,
            True,
        )

    async def _async_report(
        self, form: dict[str, str], query: Mapping[str, str]
    ) -> web.Response:
        """Apply a delivery report once; answer 200 whatever it holds."""
        report = checked_form(REPORT_SCHEMA, form, "46elks SMS report for")
        if report is None:
            return web.Response(status=HTTPStatus.OK)
        sms_id = report["id"]
        if sms_id not in self._sent and self._in_flight:
            # The report overtook the answer to its POST: wait for the answers.
            self._waiting_reports += 1
            try:
                with suppress(TimeoutError):
                    async with asyncio.timeout(REPORT_WAIT_SECONDS):
                        while sms_id not in self._sent and self._in_flight:
                            await self._answered.wait()
            finally:
                self._waiting_reports -= 1
        self.report_received(sms_id, report["status"], report.get("delivered"))
        return web.Response(status=HTTPStatus.OK)

    @callback
    def report_received(self, sms_id: str, status: str, delivered: str | None) -> bool:
        """Apply a delivery report; False for a repeated one or an unknown SMS."""
        sent = self._sent.get(sms_id)
        if sent is None:
            LOGGER.debug("Delivery report for an SMS not sent here: %r", sms_id)
            return False
        if sent.status in FINAL_SMS_STATUSES:
            LOGGER.debug("Repeated delivery report for SMS %r", sms_id)
            return False
        sent.status = status
        sent.delivered = delivered
        self._saver.schedule()
        async_dispatcher_send(
            self._account.hass,
            signal_sms_updated(self._account.entry.entry_id),
            sent,
            False,
        )
        self._account.hass.bus.async_fire(
            EVENT_SMS_STATUS,
            sms_event_data(
                self._account.entry.entry_id, self._device_id, sent.as_dict()
            ),
        )
        return True


def _none_sent(failures: tuple[SmsFailure, ...]) -> HomeAssistantError:
    """Return the translated error when no SMS went out."""
    if len(failures) == 1:
        failure = failures[0]
        key = (
            "sms_outcome_unknown"
            if failure.code is FailureCode.OUTCOME_UNKNOWN
            else "sms_not_sent"
        )
        return translated(
            HomeAssistantError, key, to=failure.to, message=failure.message
        )
    return translated(
        HomeAssistantError,
        "no_sms_sent",
        numbers=", ".join(f.to for f in failures),
    )
