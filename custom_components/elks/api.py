"""Client for the 46elks voice API.

Kept free of Home Assistant imports: it takes an injected aiohttp session,
returns typed results and raises its own exceptions, which the integration
maps to Home Assistant errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
import json
import re
from typing import Any, ClassVar, Final, Self
from urllib.parse import quote, quote_plus, urlencode

import aiohttp
from yarl import URL

DEFAULT_BASE_URL: Final = "https://api.46elks.com/a1"
REQUEST_TIMEOUT: Final = 15.0
FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"
# 46elks reports money in 1/10000 of the account currency.
MONEY_UNITS_PER_CURRENCY_UNIT: Final = 10000
MAX_PAGES: Final = 50

CALL_STATES: Final = ("ongoing", "success", "busy", "failed")
# How a call can end (a hangup or a finished call never says "ongoing").
FINAL_CALL_STATES: Final = ("success", "busy", "failed")
# Bounds of what 46elks can report about one call; anything larger is not a
# real call and would not survive JSON (state API, storage) as a number.
MAX_CALL_DURATION_SECONDS: Final = 24 * 3600
MAX_CALL_COST: Final = 10**10  # 1 000 000 currency units, in 1/10000

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
REDACTED: Final = "[redacted]"
# Home Assistant's webhook ids are 64 hex digits; 46elks' own ids are shorter.
_WEBHOOK_ID_LIKE = re.compile(r"[0-9A-Fa-f]{40,}")
_URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>\\]+")
_NUMBER_NOISE = re.compile(r"[\s\-().]")
# A number whose URL-encoding is "%2B" and its ASCII digits.
_ASCII_E164 = re.compile(r"\+[0-9]{2,15}")
# Requests under way at once, at most (fewer when the session allows fewer).
MAX_PARALLEL_REQUESTS = 100
# Answers of a proxy in front of 46elks that may have passed the request on.
GATEWAY_ERRORS = frozenset({502, 504})
# What a 46elks id looks like; anything else must not become part of a path.
_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")

SMS_STATUSES: Final = ("created", "sent", "delivered", "failed")
# What a delivery report can say: the end of a message's road.
FINAL_SMS_STATUSES: Final = ("delivered", "failed")
# Longest message accepted (guess: 46elks does not publish its limit; ten
# concatenated GSM-7 parts are 1530 characters).
MAX_SMS_LENGTH: Final = 1600
MAX_SMS_PARTS: Final = 100
# A text sender: letters and digits, starting with a letter (operators'
# rule, guess: 46elks only says 3-11 characters).
_TEXT_SENDER = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,10}$")


class ElksError(Exception):
    """Base class for errors talking to 46elks."""


class ElksAuthenticationError(ElksError):
    """46elks rejected the API credentials (HTTP 401)."""


class ElksConnectionError(ElksError):
    """46elks could not be reached; the request never got there."""


class ElksCallOutcomeUnknownError(ElksError):
    """The request may have reached 46elks but no answer came back.

    For ``POST /calls`` this means a call may have been placed: it must not
    be retried, or the callee could be rung twice.
    """


class _Described(Exception):
    """An error whose fields are a dataclass's; MESSAGE filled with them is its text."""

    MESSAGE: ClassVar[str]

    def __post_init__(self) -> None:
        """Make the message (what ``str()`` and the log show) from the fields."""
        super().__init__(self.MESSAGE.format_map(vars(self)))


@dataclass(eq=False)
class ElksRateLimitedError(_Described, ElksError):
    """46elks answered 429 Too Many Requests, with its Retry-After if it gave one."""

    MESSAGE = "rate limited by 46elks"
    retry_after: float | None


@dataclass(eq=False)
class ElksRequestError(_Described, ElksError):
    """46elks answered with an error status; ``message`` is its own text."""

    MESSAGE = "HTTP {status}: {message}"
    status: int
    message: str


class ElksResponseError(ElksError):
    """46elks answered 2xx with a body this client does not understand."""


@dataclass(eq=False)
class InvalidNumberError(_Described, ValueError):
    """A phone number (``number``, as given) that cannot be turned into E.164."""

    MESSAGE = "not a phone number in international format: {number!r}"
    number: str


@dataclass(eq=False)
class InvalidSenderError(_Described, ValueError):
    """An SMS sender (``sender``, as given) that is neither a number of the account nor a text sender."""

    MESSAGE = "not a valid SMS sender: {sender!r}"
    sender: str


@dataclass(eq=False)
class InvalidActionError(_Described, ValueError):
    """A call action that 46elks would not accept: where, and what is wrong."""

    MESSAGE = "{path}: {problem}"
    path: str
    problem: str


def normalize_number(number: str) -> str:
    """Return ``number`` in E.164, tolerating spaces, dashes, dots and parentheses.

    A leading international ``00`` prefix becomes ``+``; an ambiguous ``(0)``
    trunk prefix is refused. Numbers without a
    country code are rejected rather than guessed.
    """
    if _E164.fullmatch(number):
        return number  # already E.164: the common case, nothing to clean
    # "+46 (0)70…" may or may not mean to drop the 0: refuse to guess,
    # since either guess can ring a stranger.
    if "(0)" in number.replace(" ", ""):
        raise InvalidNumberError(number)
    cleaned = _NUMBER_NOISE.sub("", number.strip())
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not _E164.match(cleaned):
        raise InvalidNumberError(number)
    return cleaned


def validate_sender(sender: str, own_numbers: Iterable[str] | None = None) -> str:
    """Return an SMS sender as 46elks takes it: E.164, or 3-11 letters and digits.

    A sender that looks like a number must be one (``own_numbers``, when
    given, are the account's: 46elks refuses others, and replies go to it).
    """
    text = sender.strip()
    if text[:1] in "+0123456789" and text:
        try:
            number = normalize_number(text)
        except InvalidNumberError:
            raise InvalidSenderError(sender) from None
        if own_numbers is not None and number not in own_numbers:
            raise InvalidSenderError(sender)
        return number
    if not _TEXT_SENDER.fullmatch(text):
        raise InvalidSenderError(sender)
    return text


def is_audio_source(value: str) -> bool:
    """Return whether ``value`` is something 46elks can play."""
    if value.startswith("sound/"):
        return len(value) > len("sound/")
    url = URL(value)
    return url.scheme in ("http", "https") and bool(url.host)


# Keys 46elks accepts in an action object, and which of them are actions.
ACTION_KEYS: Final = frozenset(
    {"play", "ivr", "connect", "record", "recordcall", "hangup"}
)
_OPTION_KEYS: Final = frozenset(
    {
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
    }
)
_DIGIT_KEYS: Final = frozenset({*"0123456789", "*", "#"})
_NESTED_ACTION_KEYS: Final = frozenset({"next", "busy", "failed"})


def validate_action(action: Any, path: str = "actions") -> dict[str, Any]:
    """Check a raw 46elks action object and return it.

    Unknown keys, a missing or doubled main action and nested actions that
    are neither an object nor a URL raise :class:`InvalidActionError`.
    """
    if not isinstance(action, Mapping):
        raise InvalidActionError(
            path, 'must be an object such as {"play": "sound/beep"}'
        )
    main = [key for key in action if key in ACTION_KEYS]
    if not main:
        raise InvalidActionError(path, f"needs one of {', '.join(sorted(ACTION_KEYS))}")
    # recordcall is an option on another action, or an action of its own.
    if len(main) > 1 and not (len(main) == 2 and "recordcall" in main):
        raise InvalidActionError(path, f"has more than one action: {', '.join(main)}")
    for key, value in action.items():
        if not isinstance(key, str):
            raise InvalidActionError(path, f"key {key!r} is not text")
        if key in _NESTED_ACTION_KEYS or key in _DIGIT_KEYS:
            if key in _DIGIT_KEYS and "ivr" not in action:
                raise InvalidActionError(path, f"key {key!r} is only allowed with ivr")
            _validate_nested(value, f"{path}.{key}")
        elif key not in ACTION_KEYS and key not in _OPTION_KEYS:
            raise InvalidActionError(path, f"unknown key {key!r}")
    if "hangup" in action and "next" in action:
        raise InvalidActionError(path, "hangup cannot have next")
    return dict(action)


def _validate_nested(value: Any, path: str) -> None:
    if isinstance(value, str):
        url = URL(value)
        if url.scheme not in ("http", "https") or not url.host:
            raise InvalidActionError(path, "must be an action object or an http(s) URL")
        return
    validate_action(value, path)


def play_action(source: str) -> dict[str, Any]:
    """Return a ``play`` action; key presses do not skip an alarm message."""
    return {"play": source, "skippable": False}


def connect_action(number: str, callerid: str | None = None) -> dict[str, Any]:
    """Return a ``connect`` action to ``number``."""
    action: dict[str, Any] = {"connect": number}
    if callerid:
        action["callerid"] = callerid
    return action


def ivr_action(
    source: str, *, digits: int = 1, timeout: int = 10, repeat: int = 3
) -> dict[str, Any]:
    """Return an ``ivr`` action (46elks accepts a timeout of 1–30 s)."""
    return {"ivr": source, "digits": digits, "timeout": timeout, "repeat": repeat}


def hangup_action(reason: str = "reject") -> dict[str, Any]:
    """Return a ``hangup`` action."""
    return {"hangup": reason}


def with_next(
    action: Mapping[str, Any], next_: Mapping[str, Any] | str
) -> dict[str, Any]:
    """Return ``action`` with ``next`` set to an inline action or a URL."""
    return {**action, "next": next_}


class _JsonObject:
    """An object 46elks sends as JSON, built from its fields."""

    __slots__ = ()
    # What the object is called in the error when it cannot be read.
    _KIND: ClassVar[str]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Build from the API's JSON; a field left out or malformed is an error."""
        try:
            return cls._from_fields(data)
        except (KeyError, TypeError, ValueError) as err:
            raise ElksResponseError(f"unexpected {cls._KIND} object: {err!r}") from err

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any]) -> Self:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Account(_JsonObject):
    """The account behind the API credentials (``GET /me``)."""

    _KIND = "account"

    id: str
    displayname: str
    mobilenumber: str | None
    email: str | None
    currency: str
    balance: int

    @property
    def balance_amount(self) -> float:
        """Balance in currency units."""
        return self.balance / MONEY_UNITS_PER_CURRENCY_UNIT

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=str(data["id"]),
            displayname=str(data.get("displayname") or data["id"]),
            mobilenumber=_opt_str(data.get("mobilenumber")),
            email=_opt_str(data.get("email")),
            currency=str(data.get("currency") or ""),
            balance=int(data.get("balance") or 0),
        )


@dataclass(frozen=True, slots=True)
class PhoneNumber(_JsonObject):
    """A number allocated to the account (``GET /numbers``)."""

    _KIND = "number"

    id: str
    number: str
    active: bool
    capabilities: tuple[str, ...]
    name: str | None = None
    # Where 46elks sends the number's incoming calls and SMS: a URL, for
    # voice_start also an inline JSON action; None when unset.
    voice_start: str | None = None
    sms_url: str | None = None

    @property
    def can_call_from(self) -> bool:
        """Whether the number may be used as caller id for calls."""
        return self.active and "voice" in self.capabilities

    @property
    def can_receive_sms(self) -> bool:
        """Whether the number is active and receives SMS."""
        return self.active and "sms" in self.capabilities

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=str(data["id"]),
            number=str(data["number"]),
            active=data.get("active") == "yes",
            capabilities=tuple(str(c) for c in data.get("capabilities") or ()),
            name=_opt_str(data.get("name")),
            voice_start=_opt_str(data.get("voice_start")),
            sms_url=_opt_str(data.get("sms_url")),
        )


@dataclass(frozen=True, slots=True)
class Call(_JsonObject):
    """A call as 46elks reports it (``POST /calls``, ``GET /calls``).

    ``from_json`` also reads a ``whenhangup`` form.
    """

    _KIND = "call"

    id: str
    direction: str
    from_number: str
    to: str
    state: str
    created: str
    start: str | None = None
    duration: int | None = None
    cost: int | None = None

    @property
    def answered(self) -> bool:
        """Whether anybody picked up: 46elks only reports ``start`` then."""
        return self.start is not None

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=str(data["id"]),
            direction=str(data.get("direction") or "outgoing"),
            from_number=str(data["from"]),
            to=str(data["to"]),
            state=_call_state(data["state"]),
            created=str(data["created"]),
            start=_opt_str(data.get("start")),
            duration=_opt_int(data.get("duration"), MAX_CALL_DURATION_SECONDS),
            cost=_opt_int(data.get("cost"), MAX_CALL_COST),
        )


def amount(money_units: int | None) -> float | None:
    """Return a cost or balance of 46elks (in 1/10000) in currency units."""
    if money_units is None:
        return None
    return money_units / MONEY_UNITS_PER_CURRENCY_UNIT


@dataclass(frozen=True, slots=True)
class _SmsAnswer(_JsonObject):
    """What 46elks answers to ``POST /sms``, sent or only priced."""

    from_number: str
    to: str
    parts: int

    @staticmethod
    def _common(data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "from_number": str(data["from"]),
            "to": str(data["to"]),
            "parts": _opt_int(data.get("parts"), MAX_SMS_PARTS) or 1,
        }


@dataclass(frozen=True, slots=True)
class Sms(_SmsAnswer):
    """An SMS 46elks took to send."""

    _KIND = "SMS"

    id: str
    status: str
    created: str | None = None
    cost: int | None = None

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any]) -> Self:
        sms_id = _opt_str(data.get("id"))
        if sms_id is None or not _ID.fullmatch(sms_id):
            raise ValueError("id")
        return cls(
            **cls._common(data),
            id=sms_id,
            status=_sms_status(data.get("status")),
            created=_opt_str(data.get("created")),
            cost=_opt_int(data.get("cost"), MAX_CALL_COST),
        )


@dataclass(frozen=True, slots=True)
class SmsPrice(_SmsAnswer):
    """What an SMS would cost (46elks' ``dryrun``): nothing is sent."""

    _KIND = "SMS price"
    # A price is no SMS: it has no id, and 46elks answers it as "created".
    id: ClassVar[None] = None
    status: ClassVar[str] = "created"

    # 46elks' "estimated_cost", in 1/10000 of the currency.
    cost: int | None

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            **cls._common(data),
            cost=_opt_int(data.get("estimated_cost"), MAX_CALL_COST),
        )


def _sms_form(from_: str, to: str, message: str, *, flash: bool) -> dict[str, str]:
    form = {"from": from_, "to": to, "message": message}
    if flash:
        form["flashsms"] = "yes"
    return form


def _sms_status(value: Any) -> str:
    status = str(value or "created")
    if status not in SMS_STATUSES:
        raise ValueError(f"status {status!r}")
    return status


def _answer[T: _JsonObject](kind: type[T], data: Any) -> T:
    """Read one answer of 46elks as ``kind``: it must be a JSON object."""
    if not isinstance(data, Mapping):
        raise ElksResponseError("the answer is not an object")
    return kind.from_json(data)


def _call_state(value: Any) -> str:
    state = str(value)
    if state not in CALL_STATES:
        raise ValueError(f"state {state!r}")
    return state


def _opt_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _opt_int(value: Any, maximum: int) -> int | None:
    if value in (None, ""):
        return None
    number = int(value)
    if not 0 <= number <= maximum:
        raise ValueError("out of range")
    return number


def _parallel_requests(session: aiohttp.ClientSession) -> int:
    """Return how many requests may be under way at once: what the session allows."""
    connector = session.connector
    limits = [MAX_PARALLEL_REQUESTS]
    if connector is not None:
        limits += [
            limit for limit in (connector.limit, connector.limit_per_host) if limit
        ]
    return min(limits)


class ElksClient:
    """Asynchronous client for the 46elks API."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        username: str,
        password: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float | None = None,
    ) -> None:
        """Use ``session`` for all requests; nothing is sent until asked."""
        self._session = session
        self._username = username
        self._password = password
        self._headers = {"Authorization": aiohttp.encode_basic_auth(username, password)}
        self._auth_token = self._headers["Authorization"].partition(" ")[2]
        self._base_url = URL(base_url.rstrip("/"))
        # Joined once: every placed call posts here.
        self._calls_url = self._base_url / "calls"
        self._timeout = aiohttp.ClientTimeout(total=timeout or REQUEST_TIMEOUT)
        # aiohttp's timeout counts the wait for a free connection too: a call
        # queued behind the session's limit would time out unsent and be
        # reported "may have been placed". Requests queue here instead.
        self._slots = asyncio.Semaphore(_parallel_requests(session))
        self._form_headers = {**self._headers, "Content-Type": FORM_CONTENT_TYPE}
        self._fixed_form: tuple[tuple[str, str], ...] = ()
        self._fixed_body = ""

    async def get_account(self) -> Account:
        """Return the account behind the credentials; checks them too."""
        return _answer(Account, await self._get_json("me"))

    async def list_numbers(self) -> list[PhoneNumber]:
        """Return all numbers of the account, following pages."""
        return [
            PhoneNumber.from_json(item) for item in await self._get_pages("numbers")
        ]

    async def update_number(
        self,
        number_id: str,
        *,
        voice_start: str | None = None,
        sms_url: str | None = None,
    ) -> PhoneNumber:
        """Set where 46elks sends a number's calls/SMS (``POST /numbers/{id}``).

        Only the fields given are sent; ``""`` clears one (guess: 46elks
        does not document clearing). Setting a value is safe to repeat.
        """
        if not _ID.fullmatch(number_id):
            raise ValueError(f"not a 46elks number id: {number_id!r}")
        form = {
            key: value
            for key, value in (("voice_start", voice_start), ("sms_url", sms_url))
            if value is not None
        }
        if not form:
            raise ValueError("nothing to update")
        data = await self._request(
            "POST",
            f"numbers/{number_id}",
            data=form,
            body=urlencode(form).encode(),
            idempotent=True,
        )
        return _answer(PhoneNumber, data)

    async def get_call(self, call_id: str) -> Call:
        """Return one call; ValueError for an id 46elks cannot have given."""
        if not _ID.fullmatch(call_id):
            raise ValueError(f"not a 46elks call id: {call_id!r}")
        return _answer(Call, await self._get_json(f"calls/{call_id}"))

    async def place_call(
        self,
        *,
        from_number: str,
        to: str,
        voice_start: Mapping[str, Any] | str,
        whenhangup: str | None = None,
        timeout: int | None = None,
    ) -> Call:
        """Place one outgoing call with a single ``POST /calls``.

        Never retried: once the request may have been sent, a failure raises
        :class:`ElksCallOutcomeUnknownError` instead.
        """
        form: dict[str, str] = {
            "from": from_number,
            "to": to,
            "voice_start": voice_start
            if isinstance(voice_start, str)
            else json.dumps(voice_start, separators=(",", ":")),
        }
        if whenhangup:
            form["whenhangup"] = whenhangup
        if timeout is not None:
            form["timeout"] = str(timeout)
        data = await self._request(
            "POST", "calls", data=form, body=self._call_body(form), idempotent=False
        )
        try:
            return _answer(Call, data)
        except ElksResponseError as err:
            # 46elks accepted the request: the call may well be ringing.
            raise _unreadable(False, self._redactor(form)(str(err))) from None

    async def send_sms(
        self,
        from_: str,
        to: str,
        message: str,
        whendelivered: str | None = None,
        *,
        flash: bool = False,
    ) -> Sms:
        """Send one SMS with a single ``POST /sms``.

        Never retried: once the request may have been sent, a failure raises
        :class:`ElksCallOutcomeUnknownError` (the SMS may have been sent).
        """
        form = _sms_form(from_, to, message, flash=flash)
        if whendelivered:
            form["whendelivered"] = whendelivered
        return await self._post_sms(form, Sms)

    async def price_sms(
        self, from_: str, to: str, message: str, *, flash: bool = False
    ) -> SmsPrice:
        """Check and price one SMS (46elks' ``dryrun``); nothing is sent."""
        form = _sms_form(from_, to, message, flash=flash)
        form["dryrun"] = "yes"
        return await self._post_sms(form, SmsPrice)

    async def _post_sms[T: _SmsAnswer](self, form: dict[str, str], kind: type[T]) -> T:
        # Only pricing may be repeated: a sent SMS may not be sent twice.
        idempotent = kind is SmsPrice
        data = await self._request(
            "POST",
            "sms",
            data=form,
            body=urlencode(form).encode(),
            idempotent=idempotent,
        )
        try:
            return _answer(kind, data)
        except ElksResponseError as err:
            # 46elks accepted the request: the SMS may well be on its way.
            raise _unreadable(idempotent, self._redactor(form)(str(err))) from None

    def _call_body(self, form: Mapping[str, str]) -> bytes:
        """Return ``form`` URL-encoded; all but ``to`` is encoded once per action.

        The calls of one action differ only in ``to``; percent-encoding the
        rest (the voice_start JSON, the hangup URL) again for every call
        cost more than the POST itself here.
        """
        fixed = tuple(item for item in form.items() if item[0] != "to")
        if fixed != self._fixed_form:
            self._fixed_form = fixed
            self._fixed_body = urlencode(fixed)
        to = form["to"]
        # quote_plus costs as much as the rest of the body; E.164 needs none.
        to = "%2B" + to[1:] if _ASCII_E164.fullmatch(to) else quote_plus(to)
        return f"to={to}&{self._fixed_body}".encode()

    async def _get_json(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> Any:
        return await self._request("GET", path, params=params, idempotent=True)

    async def _get_pages(self, path: str) -> list[Mapping[str, Any]]:
        items: list[Mapping[str, Any]] = []
        params: dict[str, str] = {}
        for _ in range(MAX_PAGES):
            data = await self._get_json(path, params)
            if not isinstance(data, Mapping) or not isinstance(data.get("data"), list):
                raise ElksResponseError(f"{path} response has no data list")
            items.extend(item for item in data["data"] if isinstance(item, Mapping))
            cursor = data.get("next")
            if not cursor:
                break
            params = {"start": str(cursor)}
        return items

    def is_own_url(self, url: str) -> bool:
        """Whether ``url`` is on the API's own host (scheme, host and port)."""
        try:
            parsed = URL(url)
        except ValueError:
            return False
        return parsed.absolute and parsed.origin() == self._base_url.origin()

    async def download(self, url: str, max_bytes: int) -> bytes:
        """GET a file 46elks made (a recording) from the API's own host.

        Any other host is refused, redirects are not followed (a request
        for our credentials must not be sent on elsewhere), and a body over
        ``max_bytes`` is cut off with an error.
        """
        if not self.is_own_url(url):
            raise ElksResponseError("not a URL on 46elks' API host")
        try:
            async with self._session.get(
                URL(url, encoded=True),
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                if response.status != 200:
                    raise ElksRequestError(response.status, f"HTTP {response.status}")
                body = await response.content.read(max_bytes + 1)
        except (aiohttp.ClientError, TimeoutError) as err:
            raise ElksConnectionError(type(err).__name__) from None
        if len(body) > max_bytes:
            raise ElksResponseError(f"larger than {max_bytes} bytes")
        return body

    async def _request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Any:
        """Send one request and return its JSON.

        Text from 46elks is redacted of the credentials and of every URL in
        ``data`` before it goes into any exception: its messages may quote
        the request.
        A request that is not ``idempotent`` and got an unreadable 2xx or a
        redirect may have been carried out, so it raises
        :class:`ElksCallOutcomeUnknownError`.
        """
        status, text, retry_after = await self._send(
            method, path, idempotent=idempotent, params=params, body=body
        )
        if status < 300:
            try:
                return json.loads(text)
            except ValueError:
                pass
        # Only text that goes into an error is redacted (the redactor is a
        # regex over every secret variant: too costly for every answer).
        # Redact before shortening, or a cut could leave half a secret.
        shown = _short(self._redactor(data)(text))
        if status == 401:
            raise ElksAuthenticationError(shown or "unauthorized")
        if status == 429:
            raise ElksRateLimitedError(_parse_retry_after(retry_after))
        if status in GATEWAY_ERRORS and not idempotent:
            # A proxy's answer: 46elks behind it may have carried the request out.
            raise ElksCallOutcomeUnknownError(
                f"{path}: HTTP {status} from a gateway, the request may have been"
                f" carried out: {shown or 'no text'}"
            )
        if status >= 400:
            raise ElksRequestError(status, shown or f"HTTP {status}")
        if status >= 300:
            raise _unreadable(idempotent, f"{path}: unexpected HTTP {status}")
        # Not chained to the decode error: it holds the raw, unredacted text.
        raise _unreadable(idempotent, f"{path}: not JSON: {shown!r}")

    async def _send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        params: Mapping[str, str] | None,
        body: bytes | None,
    ) -> tuple[int, str, str | None]:
        """Send one request (``body``: a URL-encoded form); return its status, text and Retry-After."""
        url = self._calls_url if path == "calls" else self._base_url / path
        try:
            async with (
                self._slots,
                self._session.request(
                    method,
                    url,
                    params=params,
                    data=body,
                    headers=self._headers if body is None else self._form_headers,
                    timeout=self._timeout,
                    # A redirect is no answer from 46elks; never re-send a call.
                    allow_redirects=False,
                ) as response,
            ):
                text = await response.text(errors="replace")
                return response.status, text, response.headers.get("Retry-After")
        except aiohttp.ClientConnectorError as err:
            # The connection was never made: nothing reached 46elks.
            raise ElksConnectionError(
                f"cannot connect to {url.host}: {err.os_error}"
            ) from err
        except (TimeoutError, aiohttp.ClientError) as err:
            if idempotent:
                raise ElksConnectionError(
                    f"no answer from {url.host}: {type(err).__name__}"
                ) from err
            raise ElksCallOutcomeUnknownError(
                f"no answer from {url.host} after sending the request: {type(err).__name__}"
            ) from err

    def _redactor(self, form: Mapping[str, str] | None = None) -> Redactor:
        """Return a redactor for our credentials and the URLs in ``form``.

        Every URL we send may carry a secret (the webhook id, a cloudhook or
        audio token): none of them may come back out in an error message.
        """
        urls = [
            url
            for value in (form or {}).values()
            for url in _URL_IN_TEXT.findall(value)
        ]
        return Redactor((self._username, self._password, self._auth_token), urls=urls)


def _unreadable(idempotent: bool, detail: str) -> ElksError:
    """Return the error for a 2xx or 3xx answer this client cannot use.

    Such an answer came from 46elks' side, so a request that changes
    something (``POST /calls``) may have been carried out.
    """
    if idempotent:
        return ElksResponseError(detail)
    return ElksCallOutcomeUnknownError(
        f"46elks took the request but its answer could not be read ({detail})"
    )


class Redactor:
    """Removes secrets from text that came from 46elks.

    46elks' messages may quote the request: its form (with our webhook URLs)
    or its headers (with the credentials). Each secret is matched as sent and
    as it would appear URL- or JSON-encoded; URLs also by their path alone,
    and anything shaped like a webhook id goes too.
    """

    def __init__(self, secrets: Iterable[str], *, urls: Iterable[str] = ()) -> None:
        """Redact ``secrets`` and ``urls`` (and their paths)."""
        plain = [secret for secret in secrets if secret]
        for url in urls:
            if not url:
                continue
            plain.append(url)
            parsed = URL(url)
            path = parsed.raw_path_qs
            if len(path) > 1:
                plain.append(path)
        variants: set[str] = set()
        for secret in plain:
            escaped = json.dumps(secret)[1:-1]
            variants |= {
                secret,
                quote(secret, safe=""),
                quote_plus(secret, safe=""),
                quote(secret, safe="/:"),
                escaped,
                escaped.replace("/", "\\/"),
            }
        self._pattern = (
            re.compile(
                "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True)),
                re.IGNORECASE,
            )
            if variants
            else None
        )

    def __call__(self, text: str) -> str:
        """Return ``text`` without any secret."""
        if self._pattern is not None:
            text = self._pattern.sub(REDACTED, text)
        return _WEBHOOK_ID_LIKE.sub(REDACTED, text)


def _parse_retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_timestamp(value: str | None) -> datetime | None:
    """Parse a 46elks timestamp (UTC without zone suffix) as an aware datetime."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
