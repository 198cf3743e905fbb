"""Incoming SMS: numbers whose SMS lead to Home Assistant, and each SMS fired once.

An ``incoming_sms`` subentry claims one number's ``sms_url`` (through the
number bindings, which give the old value back when the subentry goes).
46elks posts every SMS to it; each is checked strictly, fired once per id
(the ids seen are stored, bounded, across restarts) as ``elks_sms_received``
and on the number's event entity, unless an allow-list leaves it out.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
import probatio

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util.json import JsonObjectType

from .api import normalize_number, parse_timestamp
from .const import (
    CONF_ALLOWED_SENDERS,
    CONF_NUMBER_ID,
    CONF_RECIPIENT_NUMBER,
    EVENT_SMS_RECEIVED,
    LOGGER,
    SUBENTRY_INCOMING_SMS,
    signal_sms_received,
)
from .models import NumberClaim, NumberField, WebhookRoute, sms_data, sms_event_data
from .storage import PromptSave, StoreKind
from .webhook import ElksWebhook, checked_form

# Ids of SMS already fired, so that 46elks' retries are recognised.
SEEN_SMS_KEPT = 500
# Longest text taken (a concatenated SMS; 46elks publishes no limit, guess).
MAX_INCOMING_LENGTH = 5000
# 46elks' number ids, as the ``number`` query names them.
_NUMBER_ID = r"^[A-Za-z0-9]{1,64}\Z"


def _timestamp(value: Any) -> str:
    if not isinstance(value, str) or parse_timestamp(value) is None:
        raise probatio.Invalid("not a timestamp")
    return value


# A sender is a number or a text sender ("Bank"): both are shown as sent.
_SENDER = probatio.All(
    str, probatio.Match(r"^(\+[1-9][0-9]{1,14}|[A-Za-z0-9][A-Za-z0-9 .&_-]{0,15})\Z")
)

INCOMING_SCHEMA = probatio.Schema(
    {
        probatio.Required("id"): probatio.All(
            str, probatio.Match(r"^[a-zA-Z0-9]{1,64}\Z")
        ),
        probatio.Required("from"): _SENDER,
        probatio.Required("to"): probatio.All(
            str, probatio.Match(r"^\+[1-9][0-9]{1,14}\Z")
        ),
        probatio.Required("message"): probatio.All(
            str, probatio.Length(max=MAX_INCOMING_LENGTH)
        ),
        probatio.Required("created"): _timestamp,
        probatio.Optional("direction"): "incoming",
    },
    extra=probatio.REMOVE_EXTRA,
)


def parse_allowed_senders(text: str) -> list[str]:
    """Return the senders of an allow-list typed as text (commas or new lines).

    Numbers are normalised; raises ``InvalidNumberError`` for a bad one.
    """
    parts = (part.strip() for part in text.replace("\n", ",").split(","))
    return list(dict.fromkeys(normalize_number(part) for part in parts if part))


@dataclass(frozen=True, slots=True)
class ReceivedSms:
    """An SMS to one of the account's numbers."""

    id: str
    sender: str
    to: str
    message: str
    created: str

    def as_dict(self) -> JsonObjectType:
        """Return the SMS as events show it."""
        return {
            **sms_data(self.id, self.sender, self.to, self.created),
            "message": self.message,
        }


class IncomingSms:
    """The incoming SMS of one account: number claims and the webhook route."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        webhook: ElksWebhook,
        device_id: str,
    ) -> None:
        """Take SMS for ``entry``'s ``incoming_sms`` subentries."""
        self._hass = hass
        self._entry = entry
        self._webhook = webhook
        self._device_id = device_id
        self._saver = PromptSave(
            hass,
            entry.entry_id,
            StoreKind.INCOMING_SMS,
            lambda: {"seen": list(self._seen)},
        )
        self._seen: OrderedDict[str, None] = OrderedDict()

    async def async_load(self) -> None:
        """Read the ids fired before a restart."""
        data = await self._saver.async_load()
        seen = data.get("seen")
        for sms_id in seen if isinstance(seen, list) else []:
            self._seen[str(sms_id)] = None

    def subentries(self) -> list[ConfigSubentry]:
        """Return the ``incoming_sms`` subentries (read live)."""
        return [
            sub
            for sub in self._entry.subentries.values()
            if sub.subentry_type == SUBENTRY_INCOMING_SMS
        ]

    @callback
    def claims(self) -> Iterable[NumberClaim]:
        """Each subentry's number's ``sms_url``, pointed at our route."""
        for sub in self.subentries():
            number_id = str(sub.data[CONF_NUMBER_ID])
            yield NumberClaim(
                sub.subentry_id,
                number_id,
                str(sub.data[CONF_RECIPIENT_NUMBER]),
                NumberField.SMS_URL,
                self._webhook.url_for(WebhookRoute.SMS_RECEIVED, number=number_id),
            )

    async def async_handle(
        self, form: dict[str, str], query: Mapping[str, str]
    ) -> web.Response:
        """Fire an incoming SMS once; answer 200 whatever it holds."""
        if (sms := checked_form(INCOMING_SCHEMA, form, "incoming SMS")) is None:
            return web.Response(status=HTTPStatus.OK)
        received = ReceivedSms(
            sms["id"], sms["from"], sms["to"], sms["message"], sms["created"]
        )
        self.received(received, query.get("number", ""))
        return web.Response(status=HTTPStatus.OK)

    @callback
    def received(self, sms: ReceivedSms, number_id: str) -> bool:
        """Fire an SMS to a configured number once; False when it is left out."""
        sub = next(
            (
                sub
                for sub in self.subentries()
                if sub.data[CONF_NUMBER_ID] == number_id
                and sub.data[CONF_RECIPIENT_NUMBER] == sms.to
            ),
            None,
        )
        if sub is None:
            LOGGER.warning(
                "Ignored an SMS to %s: no Incoming SMS set up for it", sms.to
            )
            return False
        if sms.id in self._seen:
            LOGGER.debug("Repeated incoming SMS %r", sms.id)
            return False
        allowed = sub.data.get(CONF_ALLOWED_SENDERS) or []
        if allowed and sms.sender not in allowed:
            LOGGER.info("Ignored an SMS to %s from %r: not allowed", sms.to, sms.sender)
            return False
        self._remember(sms.id)
        data = sms.as_dict()
        self._hass.bus.async_fire(
            EVENT_SMS_RECEIVED,
            sms_event_data(self._entry.entry_id, self._device_id, data),
        )
        async_dispatcher_send(self._hass, signal_sms_received(sub.subentry_id), data)
        return True

    def _remember(self, sms_id: str) -> None:
        self._seen[sms_id] = None
        while len(self._seen) > SEEN_SMS_KEPT:
            self._seen.popitem(last=False)
        self._saver.schedule()

    async def async_save(self) -> None:
        """Write the ids seen now (on unload)."""
        await self._saver.async_save()
