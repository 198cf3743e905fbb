"""Data model of the 46elks voice API simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
import time
from typing import Any, Literal

type CalleeKind = Literal["answer", "busy", "no_answer", "fail", "voicemail"]
type DeliveryKind = Literal[
    "whenhangup", "voice_start", "next", "audio", "record", "whendelivered", "sms"
]

CALLEE_KINDS: tuple[str, ...] = ("answer", "busy", "no_answer", "fail", "voicemail")


@dataclass(frozen=True, slots=True)
class Callee:
    """Script of how a called number behaves.

    All durations are in simulated seconds (multiplied by the simulator's
    ``time_scale`` before actually sleeping).
    """

    kind: CalleeKind
    after: float = 1.0
    talk: float | None = None
    presses: tuple[tuple[float, str], ...] = ()

    @classmethod
    def answer(
        cls,
        after: float = 1.0,
        talk: float | None = None,
        presses: Iterable[tuple[float, str]] = (),
    ) -> Callee:
        """Answer after ``after`` s; hang up after ``talk`` s (None: when the flow ends).

        ``presses`` is a list of ``(delay, digits)``: each ivr prompt consumes the
        next entry; the callee presses ``digits`` ``delay`` seconds into the
        prompt. A delay longer than the ivr timeout means no input.
        """
        return cls(
            "answer",
            after=after,
            talk=talk,
            presses=tuple((float(d), str(k)) for d, k in presses),
        )

    @classmethod
    def busy(cls, after: float = 1.0) -> Callee:
        """Signal busy after ``after`` seconds of ringing."""
        return cls("busy", after=after)

    @classmethod
    def no_answer(cls) -> Callee:
        """Ring until the call's timeout, then the call fails."""
        return cls("no_answer", after=0.0)

    @classmethod
    def fail(cls) -> Callee:
        """Be unreachable: the call is failed immediately."""
        return cls("fail", after=0.0)

    @classmethod
    def voicemail(cls, after: float = 3.0, talk: float | None = None) -> Callee:
        """Answer after ``after`` s, never press keys, hang up after the flow (or ``talk``)."""
        return cls("voicemail", after=after, talk=talk)

    @property
    def answers(self) -> bool:
        """Return True if this callee picks up."""
        return self.kind in ("answer", "voicemail")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description."""
        return {
            "kind": self.kind,
            "after": self.after,
            "talk": self.talk,
            "presses": [list(p) for p in self.presses],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Callee:
        """Build a callee from ``{"kind": ..., "after": ..., "talk": ..., "presses": [[d, k]]}``.

        Raises ValueError or TypeError on malformed input.
        """
        if not isinstance(data, dict):
            raise TypeError("callee must be a JSON object")
        kind = data.get("kind")
        if kind not in CALLEE_KINDS:
            raise ValueError(f"unknown callee kind {kind!r}")
        try:
            after_raw = data.get("after")
            talk_raw = data.get("talk")
            presses_raw = data.get("presses") or []
            presses = tuple((float(d), str(k)) for d, k in presses_raw)
            after = None if after_raw is None else float(after_raw)
            talk = None if talk_raw is None else float(talk_raw)
        except (TypeError, ValueError) as err:
            raise ValueError(f"malformed callee: {err}") from err
        if kind == "answer":
            return cls.answer(
                after=1.0 if after is None else after, talk=talk, presses=presses
            )
        if kind == "voicemail":
            return cls.voicemail(after=3.0 if after is None else after, talk=talk)
        if kind == "busy":
            return cls.busy(after=1.0 if after is None else after)
        if kind == "no_answer":
            return cls.no_answer()
        return cls.fail()


DEFAULT_CALLEE = Callee.answer(after=1.0)


@dataclass(slots=True)
class Account:
    """A 46elks account (``/a1/me``)."""

    id: str
    username: str
    password: str
    displayname: str
    mobilenumber: str | None
    email: str
    currency: str
    balance: int

    def to_json(self) -> dict[str, Any]:
        """Return the ``/a1/me`` representation."""
        return {
            "id": self.id,
            "displayname": self.displayname,
            "mobilenumber": self.mobilenumber,
            "email": self.email,
            "currency": self.currency,
            "balance": self.balance,
        }


@dataclass(slots=True)
class Number:
    """A 46elks virtual number allocated to an account."""

    id: str
    account_id: str
    number: str
    capabilities: tuple[str, ...]
    active: bool
    name: str | None
    allocated: str
    category: str = "mobile"
    country: str = "se"
    voice_start: str | None = None
    sms_url: str | None = None

    @property
    def is_voice(self) -> bool:
        """Return True if this number can be used as a caller id for calls."""
        return self.active and "voice" in self.capabilities

    def to_json(self) -> dict[str, Any]:
        """Return the ``/a1/numbers`` representation."""
        data: dict[str, Any] = {
            "id": self.id,
            "number": self.number,
            "active": "yes" if self.active else "no",
            "capabilities": list(self.capabilities),
            "category": self.category,
            "country": self.country,
            "name": self.name,
            "allocated": self.allocated,
        }
        if self.voice_start is not None:
            data["voice_start"] = self.voice_start
        if self.sms_url is not None:
            data["sms_url"] = self.sms_url
        return data


@dataclass(slots=True, eq=False)
class SimCall:
    """A call placed through ``POST /a1/calls`` and its simulated lifecycle."""

    id: str
    account_id: str
    from_: str
    to: str
    created: str
    voice_start: str
    whenhangup: str | None
    timeout: int
    callee: Callee
    direction: str = "outgoing"
    state: str = "ongoing"
    start: str | None = None
    duration: int | None = None
    cost: int | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    legs: list[dict[str, Any]] = field(default_factory=list)
    ended: bool = False
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def answered(self) -> bool:
        """Return True if the callee picked up."""
        return self.start is not None

    def to_json(self) -> dict[str, Any]:
        """Return the ``/a1/calls/{id}`` representation."""
        data: dict[str, Any] = {
            "id": self.id,
            "direction": self.direction,
            "from": self.from_,
            "to": self.to,
            "created": self.created,
            "state": self.state,
        }
        if self.start is not None:
            data["start"] = self.start
        if self.duration is not None:
            data["duration"] = self.duration
        if self.cost is not None:
            data["cost"] = self.cost
        data["legs"] = list(self.legs)
        data["actions"] = list(self.actions)
        return data

    def creation_json(self) -> dict[str, Any]:
        """Return the body of the ``POST /a1/calls`` reply."""
        return {
            "id": self.id,
            "direction": self.direction,
            "from": self.from_,
            "to": self.to,
            "created": self.created,
            "state": self.state,
        }


@dataclass(slots=True)
class RecordedRequest:
    """One HTTP request the simulator's API received."""

    method: str
    path: str
    form: dict[str, str]
    query: dict[str, str]
    username: str | None
    received_at: float = field(default_factory=time.perf_counter)
    status: int | None = None
    fault: str | None = None


@dataclass(slots=True)
class WebhookDelivery:
    """One outgoing HTTP request (attempt) the simulator made to a client URL.

    ``status`` is None when the connection failed or timed out.
    """

    url: str
    form: dict[str, str]
    status: int | None
    response_text: str
    attempt: int
    kind: DeliveryKind
    delivered_at: float = field(default_factory=time.perf_counter)
    call_id: str | None = None
    method: str = "POST"

    @property
    def ok(self) -> bool:
        """Return True if the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300
