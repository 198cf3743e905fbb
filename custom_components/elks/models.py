"""The words calls are described in: requests, outcomes, results, and how a call shows.

Stored data (calls and escalations) holds these values as plain strings:
every ``StrEnum`` value here equals the string stored by earlier versions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import ClassVar, Literal, Self

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonObjectType, JsonValueType

from .api import (
    Call,
    ElksAuthenticationError,
    ElksCallOutcomeUnknownError,
    ElksClient,
    ElksConnectionError,
    ElksError,
    ElksRateLimitedError,
    ElksRequestError,
    amount,
    parse_timestamp,
)
from .const import LOGGER

type LeadIn = Literal["none", "beep", "pause"]
_LEAD_INS: dict[str, LeadIn] = {"beep": "beep", "pause": "pause"}


class CallOutcome(StrEnum):
    """How a call ended, in the words events, escalations and responses use."""

    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    # Answered, but the right key was never pressed.
    NO_INPUT = "no_input"
    # Answered, and left before acknowledging.
    HUNG_UP = "hung_up"
    # No end was learned in time (or 46elks forgot the call).
    UNKNOWN = "unknown"
    # Escalation attempts only: the call could not be placed.
    NOT_PLACED = "not_placed"


class EscalationResult(StrEnum):
    """How an escalation ended (``running`` while it runs)."""

    RUNNING = "running"
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    EXHAUSTED = "exhausted"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


class FailureCode(StrEnum):
    """Why one recipient was not called (``call_<code>`` is its message)."""

    REJECTED = "rejected"
    OUTCOME_UNKNOWN = "outcome_unknown"
    AUTH_FAILED = "auth_failed"
    RATE_LIMITED = "rate_limited"
    CANNOT_CONNECT = "cannot_connect"
    UNEXPECTED_RESPONSE = "unexpected_response"


class HangupDisposition(StrEnum):
    """What the tracker did with news of a call's end (for logs and tests)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    # Its placement has not finished yet: claimed when it does.
    PARKED = "parked"
    # A placement with unknown outcome did create it.
    ADOPTED = "adopted"
    # A known id with other numbers.
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"
    # What 46elks' API said (reconciliation), besides the above.
    ONGOING = "ongoing"
    FORGOTTEN = "forgotten"
    NOT_OPEN = "not_open"


class WebhookRoute(StrEnum):
    """What a request to the account's webhook is for: its ``on`` query value.

    Our own call flows and hangups carry no ``on`` (stored calls keep their
    URLs across upgrades); everything added later names its route.
    """

    INCOMING_CALL = "incoming_call"
    RECORDING = "recording"
    SMS_STATUS = "sms_status"
    SMS_RECEIVED = "sms_received"


class NumberField(StrEnum):
    """The field of a 46elks number that leads its traffic somewhere."""

    VOICE_START = "voice_start"
    SMS_URL = "sms_url"


@dataclass(frozen=True, slots=True)
class NumberClaim:
    """A subentry's wish that a number's field leads to Home Assistant."""

    subentry_id: str
    number_id: str
    # E.164, for messages and the repair issue.
    number: str
    field: NumberField
    # What 46elks should have; None while there is no public URL (left as is).
    value: str | None


class CallEventType(StrEnum):
    """What the Call event entity fires."""

    ANSWERED = "answered"
    ACKNOWLEDGED = "acknowledged"
    KEYPRESS = "keypress"
    ENDED = "ended"
    ESCALATION_FINISHED = "escalation_finished"


def iso_timestamp(value: str | None) -> str | None:
    """Return a 46elks timestamp in ISO 8601 with its zone; unparsable ones as given."""
    parsed = parse_timestamp(value)
    return parsed.isoformat() if parsed else value


def now_timestamp() -> str:
    """Return the current time in ISO 8601, as escalations record it."""
    return dt_util.utcnow().isoformat()


def call_data(call: Call) -> JsonObjectType:
    """Return a call as events, sensor attributes and responses show it."""
    return {
        "id": call.id,
        "to": call.to,
        "from": call.from_number,
        "direction": call.direction,
        "state": call.state,
        "created": iso_timestamp(call.created),
        "start": iso_timestamp(call.start),
        "duration": call.duration,
        "cost": amount(call.cost),
        "answered": call.answered,
    }


def sms_data(sms_id: str, sender: str, to: str, created: str | None) -> JsonObjectType:
    """Return what every SMS, sent or received, shows in events and attributes."""
    return {
        "id": sms_id,
        "from": sender,
        "to": to,
        "created": iso_timestamp(created),
    }


def sms_event_data(
    entry_id: str, device_id: str, sms: JsonObjectType
) -> JsonObjectType:
    """Return an SMS's data as its bus event carries it (``id`` as ``sms_id``)."""
    return {
        "config_entry_id": entry_id,
        "device_id": device_id,
        "sms_id": sms["id"],
        **{key: value for key, value in sms.items() if key != "id"},
    }


@dataclass(frozen=True, slots=True)
class MenuItem:
    """What a menu digit means: a label for automations, or a number to connect."""

    label: str
    connect: str | None = None


@dataclass(frozen=True, slots=True)
class CallPlan:
    """What a call does once answered."""

    audio: str | None = None
    connect: str | None = None
    actions: JsonObjectType | None = None
    repeat: int = 1
    lead_in: LeadIn = "none"
    ack_digit: str | None = None
    menu: Mapping[str, MenuItem] | None = None
    pin: str | None = None

    @property
    def interactive(self) -> bool:
        """Whether the call needs our webhook while it runs."""
        return bool(self.ack_digit or self.menu or self.pin)

    def as_dict(self) -> JsonObjectType:
        """Return the plan as JSON-safe data."""
        data: JsonObjectType = asdict(self)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, JsonValueType]) -> Self:
        """Rebuild a stored plan."""
        actions, menu = data.get("actions"), data.get("menu")
        return cls(
            audio=_text(data.get("audio")),
            connect=_text(data.get("connect")),
            actions=dict(actions) if isinstance(actions, Mapping) else None,
            repeat=int(str(data.get("repeat") or 1)),
            lead_in=_LEAD_INS.get(str(data.get("lead_in")), "none"),
            ack_digit=_text(data.get("ack_digit")),
            menu={
                str(digit): MenuItem(str(item["label"]), _text(item.get("connect")))
                for digit, item in menu.items()
                if isinstance(item, Mapping)
            }
            if isinstance(menu, Mapping) and menu
            else None,
            pin=_text(data.get("pin")),
        )


def _text(value: JsonValueType | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Speech:
    """A message spoken with Home Assistant's text-to-speech."""

    message: str
    engine: str | None = None
    language: str | None = None
    options: JsonObjectType | None = None


@dataclass(frozen=True, slots=True)
class CallRequest:
    """One validated call action: who is called, from where, and what they hear."""

    recipients: tuple[str, ...]
    caller_id: str
    # What the call does; its audio is made right before each call.
    plan: CallPlan
    timeout: int
    speech: Speech | None = None
    # An audio URL, a 46elks sound or a ``media-source://`` id.
    play: str | None = None
    sequential: bool = False
    rounds: int = 1
    require_ack: bool = False
    wait: bool = False
    # Escalations: the SMS text, sent to everybody before the first call
    # and/or when the escalation ends with nobody answering (acknowledging).
    sms_text: str | None = None
    sms_first: bool = False
    sms_fallback: bool = False

    @property
    def needs_webhook(self) -> bool:
        """Whether Home Assistant must hear from 46elks to carry this out."""
        return self.plan.interactive or self.sequential or self.wait


@dataclass(frozen=True, slots=True)
class Dialing:
    """A request on its way out: where its hangups go, and its audio per call."""

    request: CallRequest
    hook_url: str | None
    # The audio URL for each call; None: no audio.
    audio: Callable[[], str] | None = None
    # Called once when no call needs the audio any more (spoken messages).
    release: Callable[[], None] | None = None
    # Each call's plan and voice_start as sent, by audio URL: made once.
    voice_starts: dict[str | None, tuple[CallPlan, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecipientFailure:
    """Why one recipient got no call or SMS."""

    # What response data calls ``may_exist``.
    MAY_EXIST_KEY: ClassVar[str]
    # How the log names it: "<WHAT> to <to> was not <DONE>".
    WHAT: ClassVar[str]
    DONE: ClassVar[str]

    to: str
    code: FailureCode
    message: str
    # The request may have reached 46elks (it is never retried).
    may_exist: bool = False

    @classmethod
    def from_error(cls, to: str, err: ElksError) -> Self:
        """Describe an API error for one recipient."""
        if isinstance(err, ElksRequestError):
            return cls(to, FailureCode.REJECTED, err.message)
        if isinstance(err, ElksCallOutcomeUnknownError):
            return cls(to, FailureCode.OUTCOME_UNKNOWN, str(err), may_exist=True)
        if isinstance(err, ElksAuthenticationError):
            return cls(
                to, FailureCode.AUTH_FAILED, "46elks rejected the API credentials"
            )
        if isinstance(err, ElksRateLimitedError):
            return cls(
                to, FailureCode.RATE_LIMITED, "46elks asked to slow down (HTTP 429)"
            )
        if isinstance(err, ElksConnectionError):
            return cls(to, FailureCode.CANNOT_CONNECT, str(err))
        return cls(to, FailureCode.UNEXPECTED_RESPONSE, str(err))

    def as_dict(self) -> JsonObjectType:
        """Return the failure as response data."""
        return {
            "to": self.to,
            "error": self.code,
            "message": self.message,
            self.MAY_EXIST_KEY: self.may_exist,
        }

    def log(self) -> None:
        """Log the failure, and that it was not retried when it may exist."""
        LOGGER.error(
            "%s to %s was not %s (%s): %r%s",
            self.WHAT,
            self.to,
            self.DONE,
            self.code,
            self.message,
            f" - it may have been {self.DONE} anyway and was not retried"
            if self.may_exist
            else "",
        )


@dataclass(frozen=True, slots=True)
class PlacementFailure(RecipientFailure):
    """Why one recipient was not called."""

    MAY_EXIST_KEY = "may_have_been_placed"
    WHAT = "Call"
    DONE = "placed"


type Placement = Call | PlacementFailure


@dataclass(slots=True)
class EscalationAttempt:
    """One call of an escalation: placed (``call_id``) or not (``error``)."""

    round: int
    to: str
    call_id: str | None = None
    outcome: CallOutcome | None = None
    error: FailureCode | None = None
    message: str | None = None

    def as_dict(self) -> JsonObjectType:
        """Return the attempt as event, response and stored data (unset keys left out)."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, JsonValueType]) -> Self:
        """Rebuild a stored attempt."""
        outcome, error = data.get("outcome"), data.get("error")
        return cls(
            round=int(str(data["round"])),
            to=str(data["to"]),
            call_id=str(data["call_id"]) if data.get("call_id") else None,
            outcome=CallOutcome(outcome) if isinstance(outcome, str) else None,
            error=FailureCode(error) if isinstance(error, str) else None,
            message=str(data["message"]) if data.get("message") else None,
        )


@dataclass(slots=True)
class Escalation:
    """One escalation and what happened so far."""

    id: str
    recipients: list[str]
    rounds: int
    require_ack: bool
    started: str
    attempts: list[EscalationAttempt] = field(default_factory=list)
    result: EscalationResult = EscalationResult.RUNNING
    answered_by: str | None = None
    finished: str | None = None
    sms_text: str | None = None
    sms_first: bool = False
    sms_fallback: bool = False
    # The SMS sent to everybody so far (``first``, ``fallback``): each once.
    texts: list[str] = field(default_factory=list)

    def as_dict(self) -> JsonObjectType:
        """Return the escalation as event and response data."""
        data = self.stored()
        return {"escalation_id": data.pop("id"), **data}

    def stored(self) -> JsonObjectType:
        """Return the escalation as stored (the keys of its fields).

        The SMS keys only when it texts: escalations without stay as before.
        """
        data = self._stored_calls()
        if self.sms_text is not None:
            data["sms_text"] = self.sms_text
            data["sms_first"] = self.sms_first
            data["sms_fallback"] = self.sms_fallback
            data["texts"] = list(self.texts)
        return data

    def _stored_calls(self) -> JsonObjectType:
        return {
            "id": self.id,
            "recipients": list(self.recipients),
            "rounds": self.rounds,
            "require_ack": self.require_ack,
            "started": self.started,
            "finished": self.finished,
            "result": self.result,
            "answered_by": self.answered_by,
            "attempts": [attempt.as_dict() for attempt in self.attempts],
        }

    @classmethod
    def from_stored(cls, data: Mapping[str, JsonValueType]) -> Self:
        """Rebuild a stored escalation."""
        recipients, attempts = data.get("recipients"), data.get("attempts")
        answered_by, finished = data.get("answered_by"), data.get("finished")
        texts = data.get("texts")
        return cls(
            id=str(data["id"]),
            recipients=[str(to) for to in recipients]
            if isinstance(recipients, list)
            else [],
            rounds=int(str(data.get("rounds", 1))),
            require_ack=bool(data.get("require_ack")),
            started=str(data.get("started")),
            attempts=[
                EscalationAttempt.from_dict(item)
                for item in attempts
                if isinstance(item, Mapping)
            ]
            if isinstance(attempts, list)
            else [],
            result=EscalationResult(str(data.get("result", "running"))),
            answered_by=str(answered_by) if answered_by else None,
            finished=str(finished) if finished else None,
            sms_text=_text(data.get("sms_text")),
            sms_first=bool(data.get("sms_first")),
            sms_fallback=bool(data.get("sms_fallback")),
            texts=[str(kind) for kind in texts] if isinstance(texts, list) else [],
        )


# What a parallel call's response shows of each call (documented in the README).
_RESPONSE_KEYS = ("id", "to", "from", "state", "created")


@dataclass(frozen=True, slots=True)
class PlacedCall:
    """A call a request placed, and how it ended when the request waited."""

    call: Call
    outcome: CallOutcome | None = None
    acknowledged: bool | None = None

    def as_dict(self, waited: bool) -> JsonObjectType:
        """Return the call as response data."""
        shown = call_data(self.call)
        data: JsonObjectType = {key: shown[key] for key in _RESPONSE_KEYS}
        if waited:
            data["outcome"] = self.outcome
            data["acknowledged"] = self.acknowledged
        return data


@dataclass(frozen=True, slots=True)
class CallResult:
    """What one request did: calls placed and failures, or an escalation."""

    waited: bool
    calls: tuple[PlacedCall, ...] = ()
    failures: tuple[PlacementFailure, ...] = ()
    escalation: Escalation | None = None
    first_call: EscalationAttempt | None = None

    def as_response(self) -> JsonObjectType:
        """Return the result as the action's response data."""
        if self.escalation is None:
            return {
                "calls": [call.as_dict(self.waited) for call in self.calls],
                "errors": [failure.as_dict() for failure in self.failures],
            }
        if self.waited:
            return {"escalation": self.escalation.as_dict()}
        return {
            "escalation_id": self.escalation.id,
            "first_call": self.first_call.as_dict() if self.first_call else {},
        }


class ReachBy(StrEnum):
    """How a recipient's notify entity reaches them (recipient option)."""

    CALL = "call"
    SMS = "sms"
    BOTH = "both"

    @property
    def calls(self) -> bool:
        """Whether the recipient is called."""
        return self is not ReachBy.SMS

    @property
    def texts(self) -> bool:
        """Whether the recipient gets an SMS."""
        return self is not ReachBy.CALL


class IncomingAction(StrEnum):
    """What an incoming call gets: subentry options and the event's ``action``.

    ``reject`` and ``busy`` end the call without answering it.
    """

    REJECT = "reject"
    BUSY = "busy"
    MENU = "menu"
    FORWARD = "forward"
    MESSAGE = "message"


class NoAnswerAction(StrEnum):
    """What a forwarded caller gets when nobody answers."""

    MESSAGE = "message"
    RECORD = "record"


class IncomingEventType(StrEnum):
    """What an incoming number's event entity fires."""

    RINGING = "ringing"
    REJECTED = "rejected"
    ANSWERED = "answered"
    KEYPRESS = "keypress"
    RECORDED = "recorded"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class AccountContext:
    """What every collaborator of one loaded account is built from.

    Made once at setup, so that each of them is handed the same three things
    instead of each taking them loose.
    """

    hass: HomeAssistant
    entry: ConfigEntry
    client: ElksClient
