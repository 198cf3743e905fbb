"""A local, protocol-faithful stand-in for the 46elks voice API."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable, Coroutine
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
import json
import logging
import math
import re
import secrets
import socket
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

import aiohttp
from aiohttp import web

from .faults import Faults, HeldWebhook
from .incoming import (
    IncomingResult,
    end_incoming_call,
    http_dial_in,
    incoming_result,
    new_incoming_call,
)
from .models import (
    DEFAULT_CALLEE,
    Account,
    Callee,
    DeliveryKind,
    Number,
    RecordedRequest,
    SimCall,
    WebhookDelivery,
)
from .sms import ReceivedSms, SmsService

_LOGGER = logging.getLogger(__name__)

E164_RE = re.compile(r"^\+[1-9][0-9]{0,14}$")
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"

ACTION_VERBS = ("hangup", "connect", "ivr", "play", "record")
KNOWN_ACTION_KEYS = frozenset(
    {
        "play",
        "ivr",
        "connect",
        "record",
        "recordcall",
        "hangup",
        "next",
        "skippable",
        "digits",
        "timeout",
        "repeat",
        "callerid",
        "busy",
        "failed",
        "timelimit",
        "whenhangup",
        "silencedetection",
        *"0123456789*#",
    }
)
# Keys whose value may itself be an action (or a URL returning one).
NESTED_ACTION_KEYS = ("next", "busy", "failed")

# Default bound (real seconds) of the wait_* helpers: a guard against a hang,
# not a deadline; generous so that a busy machine does not fail a test.
WAIT_TIMEOUT = 60.0

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-secret"
DEMO_MOBILENUMBER = "+46700000000"
DEMO_VOICE_NUMBER = "+46766860001"
DEMO_SMS_NUMBER = "+46766860002"
DEMO_INACTIVE_NUMBER = "+46766860003"

# A single silent MPEG-1 Layer III frame (128 kbit/s, 44.1 kHz), 417 bytes.
_MP3_FRAME = bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(413)


def _wav_body(samples: int = 800) -> bytes:
    """Return a tiny silent 8 kHz 8-bit mono WAV file."""
    data = bytes([0x80]) * samples
    header = (
        b"RIFF"
        + (36 + len(data)).to_bytes(4, "little")
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")  # PCM
        + (1).to_bytes(2, "little")  # mono
        + (8000).to_bytes(4, "little")
        + (8000).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + (8).to_bytes(2, "little")
        + b"data"
        + len(data).to_bytes(4, "little")
    )
    return header + data


def format_timestamp(value: datetime) -> str:
    """Format a datetime the 46elks way: UTC, no zone, microseconds."""
    return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(value: str) -> datetime:
    """Parse a 46elks timestamp (naive UTC); raises ValueError."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def is_http_url(value: str) -> bool:
    """Return True for an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _country_of(number: str) -> str:
    for prefix, country in (
        ("+46", "se"),
        ("+45", "dk"),
        ("+47", "no"),
        ("+358", "fi"),
        ("+44", "gb"),
        ("+49", "de"),
        ("+1", "us"),
    ):
        if number.startswith(prefix):
            return country
    return "se"


def validate_action(action: Any, where: str = "voice_start") -> str | None:
    """Return an error message if ``action`` is not a valid 46elks action object."""
    if not isinstance(action, dict):
        return f'Invalid "{where}": an action must be a JSON object'
    for key in action:
        if key not in KNOWN_ACTION_KEYS:
            return f'Invalid "{where}": unknown action key "{key}"'
    if not any(verb in action for verb in ACTION_VERBS):
        return f'Invalid "{where}": no action (one of {", ".join(ACTION_VERBS)}) given'
    for key, value in action.items():
        if key in NESTED_ACTION_KEYS or key in "0123456789*#":
            if isinstance(value, str):
                if not is_http_url(value):
                    return f'Invalid "{where}": "{key}" must be an http(s) URL or an action object'
            elif (error := validate_action(value, where)) is not None:
                return error
    return None


class _CalleeHungUp(Exception):
    """The called party hung up (its talk time is over)."""


@dataclass(slots=True)
class _Run:
    """Runtime state of one call's lifecycle; ``clock`` is simulated seconds since creation."""

    call: SimCall
    created_at: datetime
    presses: list[tuple[float, str]]
    clock: float = 0.0
    deadline: float | None = None
    steps: int = 0
    recordcall: str | None = None
    answered_at: float = 0.0

    def timestamp(self) -> str:
        """Return the simulated 'now' of this call as a 46elks timestamp."""
        return format_timestamp(self.created_at + timedelta(seconds=self.clock))


@dataclass(slots=True)
class DemoSeed:
    """What :meth:`Simulator.seed_demo` created."""

    account: Account
    voice_number: Number
    sms_number: Number
    inactive_number: Number
    callees: dict[str, str] = field(default_factory=dict)


type _Handler = Callable[
    [web.Request, Account | None, dict[str, str], dict[str, str]],
    Awaitable[web.StreamResponse],
]


def _text(status: int, text: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=text, headers=headers or None)


def _echo(request: web.Request, form: dict[str, str]) -> str:
    """Return an error that quotes the whole request, as a validation message may."""
    return (
        f'Invalid "voice_start": request was {json.dumps(form)}; '
        f"headers {json.dumps(dict(request.headers))}"
    )


class Simulator:
    """The 46elks voice API simulator.

    Every simulated duration (ringing, playing, talking, ivr timeouts, webhook
    back-off) is multiplied by ``time_scale`` before sleeping; reported
    durations, timestamps and costs are in simulated (unscaled) seconds.

    ``round_trip`` (real seconds, not scaled) puts 46elks at a distance: half
    of it passes before an API request is read and half before it is
    answered; each webhook or audio request the simulator sends waits half
    before it is sent and half after its answer came.
    """

    def __init__(
        self,
        time_scale: float = 1.0,
        *,
        play_seconds: float = 3.0,
        record_seconds: float = 3.0,
        connect_talk_seconds: float = 5.0,
        rate_per_minute: int = 3500,
        webhook_retries: int = 5,
        webhook_backoff: float = 1.0,
        webhook_timeout: float = 10.0,
        max_actions: int = 100,
        round_trip: float = 0.0,
    ) -> None:
        """Initialise an empty simulator (no accounts, no callees)."""
        self.time_scale = time_scale
        self.round_trip = round_trip
        self.play_seconds = play_seconds
        self.record_seconds = record_seconds
        self.connect_talk_seconds = connect_talk_seconds
        self.rate_per_minute = rate_per_minute
        self.webhook_retries = webhook_retries
        self.webhook_backoff = webhook_backoff
        self.webhook_timeout = webhook_timeout
        self.max_actions = max_actions

        self.accounts: dict[str, Account] = {}
        self.numbers: dict[str, Number] = {}
        self.callees: dict[str, Callee] = {}
        self.calls: dict[str, SimCall] = {}
        self.requests: list[RecordedRequest] = []
        self.deliveries: list[WebhookDelivery] = []
        self.faults = Faults()
        self.faults._release = self._release_held  # noqa: SLF001
        self.demo: DemoSeed | None = None
        self.base_url: str | None = None
        self.root_url: str | None = None

        self._tasks: set[asyncio.Task[Any]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._last_created: datetime | None = None
        self._routes: list[tuple[str, re.Pattern[str], _Handler, bool]] = [
            ("GET", re.compile(r"/a1/me"), self._get_me, True),
            ("GET", re.compile(r"/a1/numbers"), self._get_numbers, True),
            (
                "POST",
                re.compile(r"/a1/numbers/(?P<id>[^/]+)"),
                self._post_number,
                True,
            ),
            ("GET", re.compile(r"/a1/calls"), self._get_calls, True),
            ("POST", re.compile(r"/a1/calls"), self._post_call, True),
            ("GET", re.compile(r"/a1/calls/(?P<id>[^/]+)"), self._get_call, True),
            ("GET", re.compile(r"/sim/audio/(?P<name>[^/]+)"), self._sim_audio, False),
            (
                "GET",
                re.compile(r"/sim/calls/(?P<id>[^/]+)/wait"),
                self._sim_wait,
                False,
            ),
            (
                "PUT",
                re.compile(r"/sim/callees/(?P<number>[^/]+)"),
                self._sim_put_callee,
                False,
            ),
            ("GET", re.compile(r"/sim/callees"), self._sim_get_callees, False),
            ("POST", re.compile(r"/sim/dial_in"), partial(http_dial_in, self), False),
        ]
        self.sms = SmsService(self)
        self._routes.append(("POST", re.compile(r"/a1/sms"), self.sms.post_sms, True))
        self._routes.append(
            ("POST", re.compile(r"/sim/sms"), self.sms.sim_post_sms, False)
        )

    # ------------------------------------------------------------------ setup

    def add_account(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        displayname: str = "",
        mobilenumber: str | None = None,
        balance: int = 10_000_000,
        currency: str = "SEK",
        email: str = "",
    ) -> Account:
        """Create an account; ``username`` defaults to its id, ``password`` to a random token."""
        account_id = "u" + secrets.token_hex(16)
        account = Account(
            id=account_id,
            username=username or account_id,
            password=password if password is not None else secrets.token_hex(16),
            displayname=displayname,
            mobilenumber=mobilenumber,
            email=email,
            currency=currency,
            balance=balance,
        )
        self.accounts[account_id] = account
        return account

    def add_number(
        self,
        account: Account,
        number: str,
        *,
        capabilities: tuple[str, ...] | list[str] = ("voice", "sms"),
        active: bool = True,
        name: str | None = None,
        voice_start: str | None = None,
    ) -> Number:
        """Allocate ``number`` to ``account``."""
        if not E164_RE.match(number):
            raise ValueError(f"{number!r} is not an E.164 number")
        num = Number(
            id="n" + secrets.token_hex(16),
            account_id=account.id,
            number=number,
            capabilities=tuple(capabilities),
            active=active,
            name=name,
            allocated=format_timestamp(datetime.now(UTC)),
            country=_country_of(number),
            voice_start=voice_start,
        )
        self.numbers[num.id] = num
        return num

    def set_callee(self, number: str, callee: Callee) -> None:
        """Script how ``number`` behaves when called."""
        self.callees[number] = callee

    def callee_for(self, number: str) -> Callee:
        """Return the script of ``number`` (default: answer after 1 s)."""
        return self.callees.get(number, DEFAULT_CALLEE)

    def reset_faults(self) -> None:
        """Switch every fault off (held webhooks are released)."""
        self.faults.clear()

    def seed_demo(self) -> DemoSeed:
        """Create the demo account, numbers and callees with well-known values."""
        account = self.add_account(
            username=DEMO_USERNAME,
            password=DEMO_PASSWORD,
            displayname="Demo Home",
            mobilenumber=DEMO_MOBILENUMBER,
            email="demo@example.com",
            balance=10_000_000,
            currency="SEK",
        )
        voice = self.add_number(
            account, DEMO_VOICE_NUMBER, capabilities=("voice", "sms"), name="Demo voice"
        )
        sms = self.add_number(
            account, DEMO_SMS_NUMBER, capabilities=("sms",), name="Demo sms only"
        )
        inactive = self.add_number(
            account,
            DEMO_INACTIVE_NUMBER,
            capabilities=("voice", "sms"),
            active=False,
            name="Demo inactive",
        )
        scripts: dict[str, tuple[Callee, str]] = {
            "+46700000101": (
                Callee.answer(after=2.0, talk=10.0),
                "answers after 2 s, hangs up after 10 s",
            ),
            "+46700000102": (Callee.busy(), "busy"),
            "+46700000103": (Callee.no_answer(), "never answers"),
            "+46700000104": (Callee.fail(), "fails (unreachable)"),
            "+46700000105": (
                Callee.voicemail(after=3.0),
                "voicemail: answers after 3 s, never presses",
            ),
            "+46700000106": (
                Callee.answer(after=1.0, presses=[(2.0, "1")]),
                "answers after 1 s and presses 1",
            ),
        }
        for number, (callee, _) in scripts.items():
            self.set_callee(number, callee)
        self.demo = DemoSeed(
            account=account,
            voice_number=voice,
            sms_number=sms,
            inactive_number=inactive,
            callees={number: text for number, (_, text) in scripts.items()},
        )
        return self.demo

    # -------------------------------------------------------------- lifecycle

    def make_app(self) -> web.Application:
        """Return the aiohttp application (its cleanup stops background work)."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_shutdown.append(self._on_app_shutdown)
        return app

    async def _on_app_shutdown(self, app: web.Application) -> None:
        await self._shutdown_background()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving on ``host:port`` (0 = any free port); return the API base URL."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        self._stopping.clear()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        runner = web.AppRunner(self.make_app(), shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner
        bound_port = sock.getsockname()[1]
        url_host = f"[{host}]" if family == socket.AF_INET6 else host
        self.root_url = f"http://{url_host}:{bound_port}"
        self.base_url = f"{self.root_url}/a1"
        return self.base_url

    async def stop(self) -> None:
        """Cancel every background task, close the client session and the server."""
        await self._shutdown_background()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _shutdown_background(self) -> None:
        self._stopping.set()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        for call in self.calls.values():
            call.finished.set()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def audio_url(self, name: str = "hello.mp3") -> str:
        """Return the URL of a fetchable audio file served by the simulator."""
        if self.root_url is None:
            raise RuntimeError("simulator not started")
        return f"{self.root_url}/sim/audio/{name}"

    async def wait_call_finished(
        self, call_id: str, timeout: float = WAIT_TIMEOUT
    ) -> SimCall:
        """Wait (real seconds) until the call ended and its whenhangup delivery finished."""
        call = self.calls[call_id]
        async with asyncio.timeout(timeout):
            await call.finished.wait()
        return call

    async def wait_webhook_held(
        self, call_id: str, timeout: float = WAIT_TIMEOUT
    ) -> None:
        """Wait (real seconds) until the call's whenhangup is queued by ``hold_webhooks``."""
        async with asyncio.timeout(timeout):
            while not any(item.call_id == call_id for item in self.faults.held):
                await asyncio.sleep(0.005)

    async def receive_sms(self, *, from_: str, to: str, message: str) -> ReceivedSms:
        """Text ``message`` from ``from_`` to the number ``to`` (see ``SmsService``)."""
        return await self.sms.receive_sms(from_=from_, to=to, message=message)

    # Used by the SMS service.
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background until the simulator stops."""
        return self._spawn(coro)

    def timestamp(self) -> str:
        """Return a new, strictly increasing 46elks timestamp."""
        return format_timestamp(self._new_created())

    async def sleep_scaled(self, seconds: float) -> None:
        """Sleep ``seconds`` of simulated time."""
        await asyncio.sleep(seconds * self.time_scale)

    async def deliver(
        self, url: str, form: dict[str, str], kind: DeliveryKind, ref: str | None
    ) -> WebhookDelivery:
        """POST a webhook with retries (see ``_deliver``)."""
        return await self._deliver(url, form, kind, ref)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout)
            )
        return self._session

    def _new_created(self) -> datetime:
        now = datetime.now(UTC)
        if self._last_created is not None and now <= self._last_created:
            now = self._last_created + timedelta(microseconds=1)
        self._last_created = now
        return now

    async def dial_in(
        self,
        *,
        from_: str,
        to: str,
        presses: list[tuple[float, str]] | tuple[tuple[float, str], ...] = (),
        hang_up_after: float | None = None,
    ) -> IncomingResult:
        """Let a caller dial ``to``, a number of an account, run as 46elks does.

        ``presses`` are (delay, keys) as for callees; the caller hangs up
        ``hang_up_after`` simulated seconds in (None: at the flow's end).
        See ``incoming.py``. Raises KeyError for a number that takes no calls.
        """
        created = self._new_created()
        call = new_incoming_call(
            self,
            from_=from_,
            to=to,
            presses=list(presses),
            created=format_timestamp(created),
        )
        run = _Run(call=call, created_at=created, presses=list(presses))
        run.deadline = hang_up_after
        try:
            await self._run_flow(run)
        except _CalleeHungUp:
            _LOGGER.debug("Caller of %s hung up", call.id)
        answered = end_incoming_call(self, call, run.clock)
        try:
            if not await self._send_whenhangup(call):
                call.finished.set()
        finally:
            call.ended = True
        return incoming_result(self, call, answered)

    # ------------------------------------------------------------ HTTP layer

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Record, apply faults, authenticate and dispatch one request.

        Routing is case-insensitive: the path is lowercased to select a route
        (``/a1/Calls`` is ``/a1/calls``).
        """
        path = request.path
        lowered = path.lower()
        distant = not lowered.startswith("/sim/")
        if distant:
            await self._travel()
        body = await request.read()
        form: dict[str, str] = {}
        if request.content_type == "application/x-www-form-urlencoded":
            form = dict(
                parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            )
        record: RecordedRequest | None = None
        if not lowered.startswith("/sim/"):
            record = RecordedRequest(
                method=request.method,
                path=path,
                form=form,
                query=dict(request.query),
                username=_basic_username(request),
            )
            self.requests.append(record)
        fault = self.faults.take(request.method, path) if record is not None else None
        if record is not None and fault is not None:
            record.fault = fault.kind
        if fault is not None and fault.kind == "fail":
            headers = {"Retry-After": "1"} if fault.status == 429 else {}
            response: web.StreamResponse = _text(fault.status, fault.body, **headers)
        elif fault is not None and fault.kind == "echo":
            response = _text(fault.status, _echo(request, form))
        elif fault is not None and fault.kind == "drop" and not fault.after_processing:
            return self._drop(request)
        else:
            response = await self._dispatch(request, lowered, form, body)
            if fault is not None and fault.kind == "drop":
                return self._drop(request)
            if fault is not None and fault.gate is not None:
                await _first_set(fault.gate, self._stopping)
            if fault is not None and fault.kind == "delay":
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(fault.seconds):
                        await self._stopping.wait()
            if fault is not None and fault.kind == "answer":
                # A redirect elsewhere on the API, as a proxy might send.
                moved = {"Location": "/a1/me"} if 300 <= fault.status < 400 else {}
                response = _text(fault.status, fault.body, **moved)
        if record is not None:
            record.status = response.status
        if distant:
            await self._travel()
        return response

    async def _travel(self) -> None:
        """Spend half the round trip (the way there or back) to 46elks."""
        if self.round_trip > 0:
            await asyncio.sleep(self.round_trip / 2)

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=499)

    async def _dispatch(
        self, request: web.Request, lowered: str, form: dict[str, str], body: bytes
    ) -> web.StreamResponse:
        route_path = lowered.rstrip("/") or "/"
        method_mismatch = False
        for method, pattern, handler, needs_auth in self._routes:
            if pattern.fullmatch(route_path) is None:
                continue
            if method != request.method:
                method_mismatch = True
                continue
            account: Account | None = None
            if needs_auth:
                account = self._authenticate(request)
                if account is None:
                    return _unauthorized()
            match = re.fullmatch(
                pattern.pattern, request.path.rstrip("/") or "/", re.IGNORECASE
            )
            params = {
                k: unquote(v) for k, v in (match.groupdict() if match else {}).items()
            }
            request["raw_body"] = body
            return await handler(request, account, params, form)
        if route_path == "/a1" or route_path.startswith("/a1/"):
            if self._authenticate(request) is None:
                return _unauthorized()
        if method_mismatch:
            return _text(405, "Method Not Allowed")
        return _text(404, "Not Found")

    def _authenticate(self, request: web.Request) -> Account | None:
        credentials = decode_basic_auth(request.headers.get("Authorization"))
        if credentials is None:
            return None
        login, password = credentials
        for account in self.accounts.values():
            if secrets.compare_digest(
                account.username.encode(), login.encode()
            ) and secrets.compare_digest(account.password.encode(), password.encode()):
                return account
        return None

    # --------------------------------------------------------- API handlers

    async def _get_me(
        self,
        request: web.Request,
        account: Account | None,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        assert account is not None
        return web.json_response(account.to_json())

    async def _get_numbers(
        self,
        request: web.Request,
        account: Account | None,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        """List the account's numbers, oldest allocation first.

        Paging: ``limit`` (1-100, default 100); ``next`` is the id of the first
        number not returned, pass it back as ``start`` to continue.
        """
        assert account is not None
        numbers = [n for n in self.numbers.values() if n.account_id == account.id]
        limit = _parse_limit(request.query.get("limit"))
        if limit is None:
            return _text(
                400,
                f'Invalid "limit": "{request.query.get("limit")}" must be an integer between 1 and 100',
            )
        start = request.query.get("start")
        if start:
            ids = [n.id for n in numbers]
            if start not in ids:
                return _text(
                    400,
                    f'Invalid "start": "{start}" is not a number id of this account',
                )
            numbers = numbers[ids.index(start) :]
        page = numbers[:limit]
        data: dict[str, Any] = {"data": [n.to_json() for n in page]}
        if len(numbers) > limit:
            data["next"] = numbers[limit].id
        return web.json_response(data)

    async def _post_number(
        self,
        request: web.Request,
        account: Account | None,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        """Update a number's ``voice_start``/``sms_url``; ``""`` clears one."""
        assert account is not None
        number = self.numbers.get(params["id"])
        if number is None or number.account_id != account.id:
            return _text(404, f"Number {params['id']} not found")
        unknown = sorted(set(form) - {"voice_start", "sms_url"})
        if unknown:
            return _text(400, f'Invalid field "{unknown[0]}"')
        if not form:
            return _text(400, "Nothing to update")
        voice_start = form.get("voice_start", "").strip()
        if (
            voice_start
            and not is_http_url(voice_start)
            and not voice_start.startswith(("ws://", "wss://"))
        ):
            try:
                action = json.loads(voice_start)
            except ValueError:
                return _text(
                    400,
                    f'Invalid "voice_start": "{voice_start}" is neither a URL nor a JSON action',
                )
            if (error := validate_action(action)) is not None:
                return _text(400, error)
        sms_url = form.get("sms_url", "").strip()
        if sms_url and not is_http_url(sms_url):
            return _text(400, f'Invalid "sms_url": "{sms_url}" is not an http(s) URL')
        if "voice_start" in form:
            number.voice_start = voice_start or None
        if "sms_url" in form:
            number.sms_url = sms_url or None
        return web.json_response(number.to_json())

    async def _get_calls(
        self,
        request: web.Request,
        account: Account | None,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        """Call history of the account, newest first.

        ``start``: only calls created strictly before this timestamp;
        ``end``: only calls created at or after this timestamp;
        ``limit``: 1-100 (default 100). ``next`` is present when older calls
        remain: it is the ``created`` of the last returned call, a cursor to
        pass as ``start`` that returns strictly older calls.
        """
        assert account is not None
        limit = _parse_limit(request.query.get("limit"))
        if limit is None:
            return _text(
                400,
                f'Invalid "limit": "{request.query.get("limit")}" must be an integer between 1 and 100',
            )
        bounds: dict[str, datetime] = {}
        for key in ("start", "end"):
            raw = request.query.get(key)
            if raw:
                try:
                    bounds[key] = parse_timestamp(raw)
                except ValueError:
                    return _text(400, f'Invalid "{key}": "{raw}" is not a timestamp')
        calls = [c for c in self.calls.values() if c.account_id == account.id]
        calls.sort(key=lambda c: c.created, reverse=True)
        selected = []
        for call in calls:
            created = parse_timestamp(call.created)
            if "start" in bounds and created >= bounds["start"]:
                continue
            if "end" in bounds and created < bounds["end"]:
                continue
            selected.append(call)
        page = selected[:limit]
        data: dict[str, Any] = {"data": [c.to_json() for c in page]}
        if len(selected) > limit:
            data["next"] = page[-1].created
        return web.json_response(data)

    async def _get_call(
        self,
        request: web.Request,
        account: Account | None,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        assert account is not None
        call = self.calls.get(params["id"])
        if call is None or call.account_id != account.id:
            return _text(404, f"Call {params['id']} not found")
        return web.json_response(call.to_json())

    async def _post_call(
        self,
        request: web.Request,
        account: Account | None,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        assert account is not None
        error = self._validate_call(account, form)
        if error is not None:
            return _text(400, error)
        if account.balance < self.rate_per_minute:
            return _text(402, "Insufficient credits")
        to = form["to"]
        callee = self.callee_for(to)
        timeout = int(form["timeout"]) if form.get("timeout", "").strip() else 60
        created = self._new_created()
        call = SimCall(
            id="c" + secrets.token_hex(16),
            account_id=account.id,
            from_=form["from"],
            to=to,
            created=format_timestamp(created),
            voice_start=form["voice_start"].strip(),
            whenhangup=form.get("whenhangup") or None,
            timeout=timeout,
            callee=callee,
        )
        if callee.kind == "fail":
            call.state = "failed"
        self.calls[call.id] = call
        run = _Run(call=call, created_at=created, presses=list(callee.presses))
        created_json = call.creation_json()  # as at creation, even if answered late
        self._spawn(self._lifecycle(run))
        if self.faults.take_hangup_first(form):
            # Set once the whenhangup delivery finished, or when stopping.
            await call.finished.wait()
        return web.json_response(created_json)

    def _validate_call(self, account: Account, form: dict[str, str]) -> str | None:
        sender = form.get("from", "").strip()
        if not sender:
            return 'Missing "from"'
        allowed = {
            n.number
            for n in self.numbers.values()
            if n.account_id == account.id and n.is_voice
        }
        if account.mobilenumber:
            allowed.add(account.mobilenumber)
        if sender not in allowed:
            return f'Invalid "from": {sender} is not a voice-enabled number on this account'
        to = form.get("to", "").strip()
        if not to:
            return 'Missing "to"'
        if not E164_RE.match(to):
            return f'Invalid "to": "{to}" is not an E.164 number'
        voice_start = form.get("voice_start", "").strip()
        if not voice_start:
            return 'Missing "voice_start"'
        if not is_http_url(voice_start):
            try:
                action = json.loads(voice_start)
            except ValueError as err:
                if voice_start[0] in "{[":
                    return f'Invalid "voice_start": not valid JSON ({err})'
                return f'Invalid "voice_start": "{voice_start}" is neither an http(s) URL nor a JSON action'
            if (error := validate_action(action)) is not None:
                return error
        whenhangup = form.get("whenhangup", "").strip()
        if whenhangup and not is_http_url(whenhangup):
            return f'Invalid "whenhangup": "{whenhangup}" is not an http(s) URL'
        if "timeout" in form:
            raw = form["timeout"].strip()
            try:
                value = int(raw)
            except ValueError:
                value = 0
            if not 1 <= value <= 300:
                return (
                    f'Invalid "timeout": "{raw}" must be an integer between 1 and 300'
                )
        return None

    # --------------------------------------------------------- sim helpers

    async def _sim_audio(
        self,
        request: web.Request,
        account: Account | None,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        name = params["name"]
        if name.lower().endswith(".wav"):
            return web.Response(body=_wav_body(), content_type="audio/wav")
        return web.Response(body=_MP3_FRAME * 4, content_type="audio/mpeg")

    async def _sim_wait(
        self,
        request: web.Request,
        account: Account | None,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        call = self.calls.get(params["id"])
        if call is None:
            return _text(404, f"Call {params['id']} not found")
        try:
            timeout = float(request.query.get("timeout", "30"))
        except ValueError:
            return _text(400, 'Invalid "timeout"')
        try:
            async with asyncio.timeout(timeout):
                await call.finished.wait()
        except TimeoutError:
            return _text(504, f"Call {call.id} still running")
        return web.json_response(call.to_json())

    async def _sim_put_callee(
        self,
        request: web.Request,
        account: Account | None,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        number = params["number"].strip()
        if not E164_RE.match(number):
            return _text(400, f'Invalid number: "{number}" is not an E.164 number')
        try:
            data = json.loads(cast("bytes", request["raw_body"]) or b"null")
            callee = Callee.from_dict(data)
        except (TypeError, ValueError) as err:
            return _text(400, f"Invalid callee: {err}")
        self.set_callee(number, callee)
        return web.json_response({"number": number, **callee.to_dict()})

    async def _sim_get_callees(
        self,
        request: web.Request,
        account: Account | None,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        return web.json_response({n: c.to_dict() for n, c in self.callees.items()})

    # ------------------------------------------------------ call lifecycle

    async def _sleep(self, run: _Run, seconds: float) -> None:
        """Advance the call's simulated clock, honouring the callee's hang-up time."""
        seconds = max(0.0, seconds)
        if run.deadline is not None and run.clock + seconds >= run.deadline:
            await asyncio.sleep(max(0.0, run.deadline - run.clock) * self.time_scale)
            run.clock = run.deadline
            raise _CalleeHungUp
        await asyncio.sleep(seconds * self.time_scale)
        run.clock += seconds

    async def _lifecycle(self, run: _Run) -> None:
        call = run.call
        callee = call.callee
        held = False
        try:
            if call.state == "failed":
                pass
            elif callee.kind == "busy":
                await self._sleep(run, min(callee.after, call.timeout))
                call.state = "busy" if callee.after < call.timeout else "failed"
            elif not callee.answers or callee.after >= call.timeout:
                await self._sleep(run, call.timeout)
                call.state = "failed"
            else:
                await self._sleep(run, callee.after)
                call.start = run.timestamp()
                run.answered_at = run.clock
                if callee.talk is not None:
                    run.deadline = run.clock + callee.talk
                try:
                    await self._run_flow(run)
                except _CalleeHungUp:
                    _LOGGER.debug("Callee of %s hung up", call.id)
                run.deadline = None
                call.state = "success"
                call.duration = round(run.clock - run.answered_at)
                call.cost = math.ceil(call.duration / 60) * self.rate_per_minute
                account = self.accounts.get(call.account_id)
                if account is not None:
                    account.balance -= call.cost
                if run.recordcall is not None:
                    await self._post_recording(run, run.recordcall, call.duration)
            call.ended = True
            held = await self._send_whenhangup(call)
        finally:
            call.ended = True
            if not held:
                call.finished.set()

    def whenhangup_form(self, call: SimCall) -> dict[str, str]:
        """Return the whenhangup form body of a finished call."""
        form = {
            "id": call.id,
            "direction": call.direction,
            "from": call.from_,
            "to": call.to,
            "created": call.created,
            "state": call.state,
        }
        if call.start is not None:
            form["start"] = call.start
            form["duration"] = str(call.duration or 0)
            form["cost"] = str(call.cost or 0)
            form["actions"] = json.dumps(call.actions)
            form["legs"] = json.dumps(call.legs)
        return form

    async def _send_whenhangup(self, call: SimCall) -> bool:
        """Deliver whenhangup; return True if it was queued (held) instead."""
        if not call.whenhangup:
            return False
        form = self.whenhangup_form(call)
        if self.faults.holding_webhooks:
            self.faults.held.append(HeldWebhook(call.id, call.whenhangup, form))
            return True
        await self._deliver_whenhangup(call.id, call.whenhangup, form)
        return False

    async def _deliver_whenhangup(
        self,
        call_id: str,
        url: str,
        form: dict[str, str],
        kind: DeliveryKind = "whenhangup",
    ) -> None:
        times = 2 if self.faults.duplicate_webhooks else 1
        for _ in range(times):
            await self._deliver(url, form, kind, call_id)

    def _release_held(self, held: list[HeldWebhook]) -> None:
        self._spawn(self._send_released(held))

    async def _send_released(self, held: list[HeldWebhook]) -> None:
        for item in held:
            try:
                await self._deliver_whenhangup(
                    item.call_id, item.url, item.form, item.kind
                )
            finally:
                if (call := self.calls.get(item.call_id)) is not None:
                    call.finished.set()
                self.sms.released(item.call_id)

    async def _deliver(
        self,
        url: str,
        form: dict[str, str],
        kind: DeliveryKind,
        call_id: str | None,
    ) -> WebhookDelivery:
        """POST ``form`` to ``url``, retrying non-2xx/connection errors with back-off."""
        session = self._get_session()
        delivery: WebhookDelivery | None = None
        for attempt in range(1, self.webhook_retries + 2):
            status: int | None = None
            text = ""
            await self._travel()
            try:
                async with session.post(url, data=form) as resp:
                    status = resp.status
                    text = await resp.text(errors="replace")
            except (aiohttp.ClientError, TimeoutError, UnicodeError) as err:
                text = f"{type(err).__name__}: {err}"
            await self._travel()
            delivery = WebhookDelivery(
                url=url,
                form=dict(form),
                status=status,
                response_text=text,
                attempt=attempt,
                kind=kind,
                call_id=call_id,
            )
            self.deliveries.append(delivery)
            if delivery.ok or attempt > self.webhook_retries:
                break
            await asyncio.sleep(
                self.webhook_backoff * 2 ** (attempt - 1) * self.time_scale
            )
        assert delivery is not None
        return delivery

    def _event_form(
        self, call: SimCall, result: str, why: str | None = None
    ) -> dict[str, str]:
        form = {
            "callid": call.id,
            "direction": call.direction,
            "from": call.from_,
            "to": call.to,
            "result": result,
        }
        if why is not None:
            form["why"] = why
        return form

    def _voice_start_form(self, call: SimCall) -> dict[str, str]:
        if call.direction == "incoming":
            # A number's voice_start: no result, the call's creation time.
            return {
                "direction": "incoming",
                "callid": call.id,
                "from": call.from_,
                "to": call.to,
                "created": call.created,
            }
        return self._event_form(call, "newoutgoing")

    async def _fetch_action(
        self, run: _Run, url: str, form: dict[str, str], kind: DeliveryKind
    ) -> dict[str, Any] | None:
        """POST to an action webhook; return the action or None (badsource, logged)."""
        delivery = await self._deliver(url, form, kind, run.call.id)
        action: Any = None
        if delivery.ok:
            try:
                action = json.loads(delivery.response_text)
            except ValueError:
                action = None
        if not isinstance(action, dict) or validate_action(action) is not None:
            run.call.actions.append({"hangup": "badsource"})
            return None
        return action

    async def _run_flow(self, run: _Run) -> None:
        call = run.call
        action: Any
        if is_http_url(call.voice_start):
            action = await self._fetch_action(
                run, call.voice_start, self._voice_start_form(call), "voice_start"
            )
        else:
            action = json.loads(call.voice_start)
        while isinstance(action, dict):
            run.steps += 1
            if run.steps > self.max_actions:
                call.actions.append({"hangup": "toomanyactions"})
                return
            if validate_action(action) is not None:
                call.actions.append({"hangup": "badsource"})
                return
            cont = await self._execute(run, action)
            if cont is None:
                return
            target, result, why = cont
            if isinstance(target, str):
                action = await self._fetch_action(
                    run, target, self._event_form(call, result, why), "next"
                )
            else:
                action = target

    async def _execute(
        self, run: _Run, action: dict[str, Any]
    ) -> tuple[Any, str, str | None] | None:
        """Run one action; return (next target, result, why) or None to end the call."""
        call = run.call
        if isinstance(action.get("whenhangup"), str) and is_http_url(
            action["whenhangup"]
        ):
            call.whenhangup = action["whenhangup"]
        if isinstance(action.get("recordcall"), str):
            run.recordcall = action["recordcall"]
        nxt = action.get("next")
        if "hangup" in action:
            call.actions.append({"hangup": action["hangup"]})
            return None
        if "connect" in action:
            return await self._do_connect(run, action)
        if "ivr" in action:
            return await self._do_ivr(run, action)
        if "play" in action:
            url = str(action["play"])
            entry: dict[str, Any] = {"play": url}
            call.actions.append(entry)
            ok = await self._fetch_audio(run, url)
            if ok:
                await self._sleep(run, self.play_seconds)
            entry["result"] = "success" if ok else "failed"
            return (nxt, entry["result"], None) if nxt is not None else None
        # record
        target = str(action["record"])
        entry = {"record": target}
        call.actions.append(entry)
        limit = _int_or(action.get("timelimit"), 120)
        seconds = min(self.record_seconds, max(limit, 0))
        began = run.clock
        try:
            await self._sleep(run, seconds)
        except _CalleeHungUp:
            if is_http_url(target):
                await self._post_recording(run, target, round(run.clock - began))
            raise
        if is_http_url(target):
            await self._post_recording(run, target, round(seconds))
        entry["result"] = "success"
        return (nxt, "success", None) if nxt is not None else None

    async def _post_recording(self, run: _Run, url: str, duration: int) -> None:
        form = {
            "callid": run.call.id,
            "created": run.timestamp(),
            "duration": str(duration),
            "wav": self.audio_url(f"recording-{run.call.id}-{len(self.deliveries)}.wav")
            if self.root_url
            else "",
            "from": run.call.from_,
            "to": run.call.to,
        }
        await self._deliver(url, form, "record", run.call.id)

    async def _fetch_audio(self, run: _Run, url: str) -> bool:
        """GET an audio URL (built-in ``sound/...`` need no fetch); return success."""
        if url.startswith("sound/"):
            return True
        if not is_http_url(url):
            return False
        session = self._get_session()
        status: int | None = None
        text = ""
        await self._travel()
        try:
            async with session.get(url) as resp:
                status = resp.status
                body = await resp.read()
                text = f"{len(body)} bytes"
        except (aiohttp.ClientError, TimeoutError) as err:
            text = f"{type(err).__name__}: {err}"
        await self._travel()
        delivery = WebhookDelivery(
            url=url,
            form={},
            status=status,
            response_text=text,
            attempt=1,
            kind="audio",
            call_id=run.call.id,
            method="GET",
        )
        self.deliveries.append(delivery)
        return delivery.ok

    async def _do_ivr(
        self, run: _Run, action: dict[str, Any]
    ) -> tuple[Any, str, str | None] | None:
        call = run.call
        url = str(action["ivr"])
        digits = _int_or(action.get("digits"), 1)
        digits = max(digits, 1)
        timeout = _int_or(action.get("timeout"), 10)
        if not 1 <= timeout <= 30:
            timeout = 10
        repeat = max(1, _int_or(action.get("repeat"), 3))
        entry: dict[str, Any] = {"ivr": url}
        call.actions.append(entry)
        await self._fetch_audio(run, url)
        result: str | None = None
        for _ in range(repeat):
            press = run.presses.pop(0) if run.presses else None
            if press is not None and press[0] <= timeout:
                await self._sleep(run, press[0])
                pressed = press[1].split("#", 1)[0][:digits]
                if pressed:
                    result = pressed
                    break
                await self._sleep(run, timeout - press[0])
            else:
                await self._sleep(run, timeout)
        why: str | None = None
        if result is None:
            result, why = "failed", "noinput"
            entry["why"] = why
        entry["result"] = result
        if why is None and isinstance(action.get(result), (dict, str)):
            return (action[result], result, None)
        nxt = action.get("next")
        return (nxt, result, why) if nxt is not None else None

    async def _do_connect(
        self, run: _Run, action: dict[str, Any]
    ) -> tuple[Any, str, str | None] | None:
        call = run.call
        raw = str(action["connect"])
        targets = [t.strip() for t in raw.split(",") if t.strip()]
        callerid = str(action.get("callerid") or call.from_)
        ring_timeout = _int_or(action.get("timeout"), 60)
        timelimit = action.get("timelimit")
        entry: dict[str, Any] = {"connect": raw}
        call.actions.append(entry)
        scripts = [(t, self.callee_for(t)) for t in targets]
        answering = [(t, c) for t, c in scripts if c.answers and c.after < ring_timeout]
        result: str
        if answering:
            winner, script = min(answering, key=lambda item: item[1].after)
            await self._sleep(run, script.after)
            talk = script.talk if script.talk is not None else self.connect_talk_seconds
            if timelimit is not None:
                talk = min(talk, float(_int_or(timelimit, int(talk))))
            leg: dict[str, Any] = {
                "from": callerid,
                "to": winner,
                "state": "success",
                "start": run.timestamp(),
                "duration": 0,
            }
            call.legs.append(leg)
            began = run.clock
            try:
                await self._sleep(run, talk)
            finally:
                leg["duration"] = round(run.clock - began)
            for target, script in scripts:
                if target != winner:
                    call.legs.append(_lost_leg(callerid, target, script))
            result = "success"
        else:
            if all(c.kind == "busy" for _, c in scripts) and scripts:
                await self._sleep(run, max(c.after for _, c in scripts))
                result = "busy"
            else:
                if any(c.kind != "fail" for _, c in scripts):
                    await self._sleep(run, ring_timeout)
                result = "failed"
            for target, script in scripts:
                call.legs.append(_lost_leg(callerid, target, script))
        entry["result"] = result
        if result in ("busy", "failed") and action.get(result) is not None:
            return (action[result], result, None)
        nxt = action.get("next")
        return (nxt, result, None) if nxt is not None else None


def _lost_leg(callerid: str, target: str, script: Callee) -> dict[str, Any]:
    state = "busy" if script.kind == "busy" else "failed"
    return {"from": callerid, "to": target, "state": state, "duration": 0}


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except TypeError, ValueError:
        return default


def _parse_limit(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return 100
    try:
        value = int(raw)
    except ValueError:
        return None
    if value < 1:
        return None
    return min(value, 100)


def decode_basic_auth(header: str | None) -> tuple[str, str] | None:
    """Return (login, password) of an HTTP Basic ``Authorization`` header, or None."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except binascii.Error, UnicodeDecodeError:
        return None
    login, sep, password = decoded.partition(":")
    if not sep:
        return None
    return login, password


def _basic_username(request: web.Request) -> str | None:
    credentials = decode_basic_auth(request.headers.get("Authorization"))
    return None if credentials is None else credentials[0]


def _unauthorized() -> web.Response:
    return _text(401, "Unauthorized", **{"WWW-Authenticate": 'Basic realm="46elks"'})


async def _first_set(*events: asyncio.Event) -> None:
    """Wait until one of ``events`` is set."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
