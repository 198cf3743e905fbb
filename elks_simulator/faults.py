"""Fault injection for the 46elks simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .models import DeliveryKind

type FaultKind = Literal["fail", "delay", "drop", "answer", "echo", "hold"]
type CallFormPredicate = Callable[[Mapping[str, str]], bool]


@dataclass(slots=True)
class RequestFault:
    """A fault applied to the next ``remaining`` matching API requests."""

    kind: FaultKind
    path: str | None
    method: str | None
    remaining: int
    status: int = 500
    body: str = "Internal Server Error"
    seconds: float = 0.0
    after_processing: bool = False
    gate: asyncio.Event | None = None

    def matches(self, method: str, path: str) -> bool:
        """Return True if the fault applies to this request."""
        if self.remaining <= 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is None:
            return True
        want = _norm(self.path)
        got = _norm(path)
        if want.endswith("*"):
            return got.startswith(want[:-1])
        return got == want


def _norm(path: str) -> str:
    path = path.lower()
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path


@dataclass(slots=True)
class HangupFirst:
    """Calls whose ``POST /a1/calls`` is answered only after their whenhangup.

    ``remaining`` counts matching calls still to hold (None: no limit);
    ``predicate`` selects calls by the form of the request that creates them.
    """

    remaining: int | None
    predicate: CallFormPredicate | None = None

    def matches(self, form: Mapping[str, str]) -> bool:
        """Return True if the call created by ``form`` is to be held."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.predicate is None or self.predicate(form)


@dataclass(slots=True)
class HeldWebhook:
    """A whenhangup (or SMS delivery report) queued by :meth:`Faults.hold_webhooks`.

    ``call_id`` is the SMS id for a delivery report.
    """

    call_id: str
    url: str
    form: dict[str, str]
    kind: DeliveryKind = "whenhangup"


@dataclass
class Faults:
    """Switchable misbehaviour of the simulator. Everything is off by default.

    ``path`` arguments match the request path case-insensitively; a trailing
    ``*`` makes it a prefix match and ``None`` matches every API request.
    """

    duplicate_webhooks: bool = False
    holding_webhooks: bool = False
    request_faults: list[RequestFault] = field(default_factory=list)
    held: list[HeldWebhook] = field(default_factory=list)
    hangup_first: list[HangupFirst] = field(default_factory=list)
    _release: Callable[[list[HeldWebhook]], None] | None = field(
        default=None, repr=False
    )

    def fail_next(
        self,
        status: int = 500,
        count: int = 1,
        path: str | None = "/a1/calls",
        body: str = "Internal Server Error",
        method: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` and ``body``.

        A 429 also carries ``Retry-After: 1``.
        """
        self.request_faults.append(
            RequestFault("fail", path, method, count, status=status, body=body)
        )

    def delay_next(
        self,
        seconds: float,
        count: int = 1,
        path: str | None = "/a1/calls",
        method: str | None = None,
    ) -> None:
        """Process the next ``count`` matching requests, then answer ``seconds`` late.

        The delay is in real (wall clock) seconds, not scaled.
        """
        self.request_faults.append(
            RequestFault("delay", path, method, count, seconds=seconds)
        )

    def hold_response_next(
        self, path: str | None = "/a1/calls", method: str | None = None
    ) -> asyncio.Event:
        """Process the next matching request; answer it only once the returned event is set.

        Forces "46elks acted on the request before its answer arrived" (a
        call answered and asking for its first step, say) without a clock.
        Stopping the simulator answers it too.
        """
        gate = asyncio.Event()
        self.request_faults.append(RequestFault("hold", path, method, 1, gate=gate))
        return gate

    def drop_next(
        self,
        count: int = 1,
        path: str | None = "/a1/calls",
        after_processing: bool = False,
        method: str | None = None,
    ) -> None:
        """Close the connection of the next ``count`` matching requests without answering.

        With ``after_processing`` the request is processed first (a call IS
        created) and only the response is lost.
        """
        self.request_faults.append(
            RequestFault("drop", path, method, count, after_processing=after_processing)
        )

    def answer_next(
        self,
        status: int = 200,
        body: str = "",
        count: int = 1,
        path: str | None = "/a1/calls",
        method: str | None = None,
    ) -> None:
        """Process the next ``count`` matching requests, then answer ``status`` and ``body``.

        The request takes effect (a call IS created); only the answer is
        replaced, e.g. by a 2xx the client cannot read or a redirect (3xx
        answers carry ``Location: /a1/me``).
        """
        self.request_faults.append(
            RequestFault(
                "answer",
                path,
                method,
                count,
                status=status,
                body=body,
                after_processing=True,
            )
        )

    def echo_next(
        self,
        status: int = 400,
        count: int = 1,
        path: str | None = "/a1/calls",
        method: str | None = None,
    ) -> None:
        """Refuse the next ``count`` matching requests with an error quoting them.

        The body names the problem and echoes the request's form and headers
        (``Authorization`` included), as a validation message may.
        """
        self.request_faults.append(
            RequestFault("echo", path, method, count, status=status)
        )

    def hangup_before_response(
        self, count: int | None = 1, *, when: CallFormPredicate | None = None
    ) -> None:
        """Answer the next ``count`` created calls only after their whenhangup was delivered.

        Forces the order "the hangup overtakes its POST response" instead of
        racing it: the call is created and runs its whole lifecycle, and the
        response to the ``POST /a1/calls`` that created it is held until the
        call ended and its whenhangup delivery finished (every attempt, both
        copies with ``duplicate_webhooks``; after ``release_webhooks`` while
        webhooks are held). ``when`` selects calls by the request's form, e.g.
        ``when=lambda form: form["to"] in numbers``; only selected calls count.
        ``count=None`` holds every selected call until :meth:`clear`. Requests
        that create no call (rejected, failed or dropped before processing)
        are never held and do not count.
        """
        self.hangup_first.append(HangupFirst(count, when))

    def take_hangup_first(self, form: Mapping[str, str]) -> bool:
        """Consume one hold for the call just created by ``form``; True if it is held."""
        for rule in self.hangup_first:
            if rule.matches(form):
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self.hangup_first.remove(rule)
                return True
        return False

    def hold_webhooks(self) -> None:
        """Queue whenhangup deliveries instead of sending them."""
        self.holding_webhooks = True

    def release_webhooks(self, reverse: bool = False) -> None:
        """Stop holding and send the queued whenhangup deliveries, in order or reversed.

        Must be called from the event loop running the simulator.
        """
        self.holding_webhooks = False
        queued = list(reversed(self.held)) if reverse else list(self.held)
        self.held.clear()
        if queued and self._release is not None:
            self._release(queued)

    def take(self, method: str, path: str) -> RequestFault | None:
        """Consume and return the first fault matching a request, if any."""
        for fault in self.request_faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.request_faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        """Switch every request fault and webhook fault off (held webhooks are released).

        Responses already waiting for their call's hangup keep waiting for it.
        """
        self.request_faults.clear()
        self.hangup_first.clear()
        self.duplicate_webhooks = False
        if self.holding_webhooks or self.held:
            self.release_webhooks()
