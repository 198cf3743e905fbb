"""The webhook 46elks calls when a call ends (``whenhangup``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from ipaddress import IPv6Address, ip_address
from typing import Any
from urllib.parse import unquote_plus, urlencode

from aiohttp import web
from aiohttp.hdrs import CONTENT_LENGTH, METH_GET, METH_POST, METH_PUT
import probatio

from homeassistant.components import webhook
from homeassistant.const import CONF_WEBHOOK_ID, EVENT_CORE_CONFIG_UPDATE
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers.network import NoURLAvailableError, is_cloud_connection
from homeassistant.util.aiohttp import MockRequest

from .api import (
    FINAL_CALL_STATES,
    MAX_CALL_COST,
    MAX_CALL_DURATION_SECONDS,
    Call,
    ElksResponseError,
    hangup_action,
    parse_timestamp,
)
from .call_flow import STEP_PARAM
from .const import (
    CONF_CLOUDHOOK_URL,
    CONF_ONLY_46ELKS_SOURCES,
    DOMAIN,
    ELKS_WEBHOOK_SOURCES,
    LOGGER,
)
from .models import AccountContext, WebhookRoute
from .repairs import async_no_public_url
from .tracker import CallTracker

# Registered for all methods so that a wrong one is refused here, without
# Home Assistant's warning that would log the secret webhook id.
_HANDLED_METHODS = (METH_POST, METH_GET, METH_PUT)
MAX_BODY_BYTES = 64 * 1024
# ``mock_source`` of the requests the cloud integration builds for cloudhooks.
CLOUD_SOURCE = "cloud"
ROUTE_PARAM = "on"

# A route's handler gets the checked form and the query; it answers 46elks.
type RouteHandler = Callable[
    [dict[str, str], Mapping[str, str]], Awaitable[web.Response]
]


def _timestamp(value: Any) -> str:
    """Accept a 46elks timestamp only if it parses (it is shown and stored)."""
    if not isinstance(value, str) or parse_timestamp(value) is None:
        raise probatio.Invalid("not a timestamp")
    return value


def _count(maximum: int) -> Any:
    """Digits only (no sign, spaces or exponent), then 0..``maximum``."""
    return probatio.All(
        str,
        probatio.Match(r"^[0-9]{1,20}\Z"),
        probatio.Coerce(int),
        probatio.Range(min=0, max=maximum),
    )


_PHONE_NUMBER = probatio.All(str, probatio.Match(r"^\+[1-9][0-9]{1,14}\Z"))

# Everything is checked here, before the tracker sees the hangup: a call ends
# once, so an impossible hangup must not be the one that ends it.
HANGUP_SCHEMA = probatio.Schema(
    {
        probatio.Required("id"): probatio.All(
            str, probatio.Match(r"^[a-zA-Z0-9]{1,64}\Z")
        ),
        probatio.Required("from"): _PHONE_NUMBER,
        probatio.Required("to"): _PHONE_NUMBER,
        probatio.Required("state"): probatio.In(FINAL_CALL_STATES),
        probatio.Required("created"): _timestamp,
        probatio.Optional("direction"): probatio.In(("outgoing", "incoming")),
        probatio.Optional("start"): _timestamp,
        probatio.Optional("duration"): _count(MAX_CALL_DURATION_SECONDS),
        probatio.Optional("cost"): _count(MAX_CALL_COST),
    },
    extra=probatio.REMOVE_EXTRA,
)

# Every field read from a webhook form: the hangup's and the call flow's,
# and a recording's audio URL.
_READ_FIELDS = frozenset(
    {str(key) for key in HANGUP_SCHEMA.schema} | {"callid", "result", "why", "wav"}
)
# SMS delivery reports and incoming SMS.
_READ_FIELDS |= {"status", "delivered", "message"}


def parse_hangup(form: dict[str, str]) -> Call:
    """Validate a ``whenhangup`` form and return the ended call.

    Raises ``probatio.Invalid`` or :class:`ElksResponseError` for bad input.
    """
    return Call.from_json(HANGUP_SCHEMA(form))


class ElksWebhook:
    """Our webhook: registration, the URL handed to 46elks, and its handler."""

    def __init__(self, account: AccountContext, tracker: CallTracker) -> None:
        """Prepare for the account; nothing is registered yet."""
        self._account = account
        self._tracker = tracker
        # get_url and the repair issue cost more than placing a call takes
        # here; the external URL only changes with the core configuration.
        self._external_url: str | None = None
        self._external_url_known = False
        self._reported_missing: bool | None = None
        self._routes: dict[WebhookRoute, RouteHandler] = {}

    @property
    def webhook_id(self) -> str:
        """The secret webhook id; never logged."""
        return str(self._account.entry.data[CONF_WEBHOOK_ID])

    async def async_setup(self) -> None:
        """Register the webhook (and a cloudhook when Home Assistant Cloud is active)."""
        webhook.async_register(
            self._account.hass,
            DOMAIN,
            f"46elks {self._account.entry.title}",
            self.webhook_id,
            self._async_handle,
            allowed_methods=_HANDLED_METHODS,
        )
        self._account.entry.async_on_unload(
            lambda: webhook.async_unregister(self._account.hass, self.webhook_id)
        )
        self._account.entry.async_on_unload(
            self._account.hass.bus.async_listen(
                EVENT_CORE_CONFIG_UPDATE, self._core_config_updated
            )
        )
        await self._async_ensure_cloudhook()
        self.hangup_url()  # creates or clears the repair issue

    async def _async_ensure_cloudhook(self) -> None:
        if "cloud" not in self._account.hass.config.components:
            return
        from homeassistant.components import cloud  # noqa: PLC0415

        if not cloud.async_active_subscription(self._account.hass):
            return
        if self._account.entry.data.get(CONF_CLOUDHOOK_URL):
            return
        try:
            url = await cloud.async_get_or_create_cloudhook(
                self._account.hass, self.webhook_id
            )
        except cloud.CloudNotAvailable:
            LOGGER.warning(
                "Home Assistant Cloud is not reachable; using the external URL"
            )
            return
        self._account.hass.config_entries.async_update_entry(
            self._account.entry,
            data={**self._account.entry.data, CONF_CLOUDHOOK_URL: url},
        )

    @callback
    def _cloudhook_url(self) -> str | None:
        """Return the stored cloudhook while the Home Assistant Cloud subscription lasts."""
        url: str | None = self._account.entry.data.get(CONF_CLOUDHOOK_URL)
        if url is None or "cloud" not in self._account.hass.config.components:
            return None
        from homeassistant.components import cloud  # noqa: PLC0415

        return url if cloud.async_active_subscription(self._account.hass) else None

    @callback
    def _core_config_updated(self, _event: Event) -> None:
        self._external_url_known = False

    @callback
    def _webhook_url(self) -> str | None:
        """Return the webhook's external URL (cached until the core config changes)."""
        if not self._external_url_known:
            try:
                self._external_url = webhook.async_generate_url(
                    self._account.hass,
                    self.webhook_id,
                    allow_internal=False,
                    prefer_external=True,
                )
            except NoURLAvailableError:
                self._external_url = None
            self._external_url_known = True
        return self._external_url

    @callback
    def hangup_url(self) -> str | None:
        """URL for 46elks' ``whenhangup``, or None when Home Assistant is unreachable.

        Without one, calls still go out and their state comes only from the
        API response; a repair issue explains how to fix it.
        """
        url = self._cloudhook_url()
        if url is None:
            url = self._webhook_url()
        if self._reported_missing is not (url is None):
            self._reported_missing = url is None
            async_no_public_url(
                self._account.hass,
                self._account.entry.entry_id,
                self._account.entry.title,
                missing=url is None,
            )
        return url

    @callback
    def async_add_route(
        self, route: WebhookRoute, handler: RouteHandler
    ) -> CALLBACK_TYPE:
        """Send requests for ``route`` to ``handler``; returns the remover.

        Requests for a route nobody handles (yet, during startup) get 200
        and are logged: 46elks would only retry them.
        """
        self._routes[route] = handler

        @callback
        def remove() -> None:
            self._routes.pop(route, None)

        return remove

    @callback
    def url_for(self, route: WebhookRoute, **params: str) -> str | None:
        """Return the public URL 46elks uses for ``route``, None when unreachable."""
        base = self.hangup_url()
        if base is None:
            return None
        separator = "&" if "?" in base else "?"
        query = urlencode({ROUTE_PARAM: route.value, **params})
        return f"{base}{separator}{query}"

    async def _async_handle(
        self, hass: HomeAssistant, webhook_id: str, request: web.Request
    ) -> web.Response:
        """Handle a POST from 46elks; never raises, always answers.

        46elks retries anything but 2xx, so every answer is 200 once the
        request reached our handler; the reason goes to the debug log instead.
        """
        try:
            return await self._async_handle_request(hass, request)
        except Exception:  # noqa: BLE001
            # Home Assistant would log the error with the secret webhook id.
            LOGGER.exception("Error handling a 46elks webhook")
            return web.Response(status=HTTPStatus.OK)

    async def _async_handle_request(
        self, hass: HomeAssistant, request: web.Request
    ) -> web.Response:
        """Handle a request.

        ``request`` is aiohttp's, or the ``MockRequest`` Home Assistant Cloud
        builds for a cloudhook: only what both have is used.
        """
        if request.method != METH_POST:
            return web.Response(status=HTTPStatus.METHOD_NOT_ALLOWED)
        if self._account.entry.options.get(
            CONF_ONLY_46ELKS_SOURCES
        ) and not from_46elks(hass, request):
            LOGGER.warning(
                "Refused a webhook from %r: not one of 46elks' addresses",
                request.remote,
            )
            return web.Response(status=HTTPStatus.FORBIDDEN)
        body = await _read_body(request)
        if body is None:
            LOGGER.warning("Ignored an oversize or unreadable 46elks webhook")
            return web.Response(status=HTTPStatus.OK)
        form = _parse_form(body)
        if form is None:
            LOGGER.warning("Ignored a 46elks webhook that is not a form")
            return web.Response(status=HTTPStatus.OK)
        if (route_name := request.query.get(ROUTE_PARAM)) is not None:
            return await self._async_route(route_name, form, request.query)
        if "callid" in form:
            return await self._async_call_flow(form, request.query.get(STEP_PARAM))
        if "id" not in form:
            LOGGER.debug("Ignored a 46elks webhook without call id")
            return web.Response(status=HTTPStatus.OK)
        return self._hangup(form)

    @callback
    def _hangup(self, form: dict[str, str]) -> web.Response:
        """Check a ``whenhangup`` form and hand it to the tracker."""
        try:
            call = parse_hangup(form)
        except probatio.Invalid as err:
            # The message names our field and rule, never the value sent.
            LOGGER.warning(
                "Ignored an invalid 46elks hangup for call %r: %s %s",
                clip(form["id"]),
                ".".join(str(part) for part in err.path),
                err.msg,
            )
            return web.Response(status=HTTPStatus.OK)
        except ElksResponseError:
            LOGGER.warning(
                "Ignored an invalid 46elks hangup for call %r", clip(form["id"])
            )
            return web.Response(status=HTTPStatus.OK)
        outcome = self._tracker.hangup_received(call)
        LOGGER.debug("Hangup for call %r: %s", call.id, outcome)
        return web.Response(status=HTTPStatus.OK)

    async def _async_route(
        self, route_name: str, form: dict[str, str], query: Mapping[str, str]
    ) -> web.Response:
        try:
            handler = self._routes[WebhookRoute(route_name)]
        except ValueError, KeyError:
            LOGGER.warning("Ignored a 46elks webhook for route %r", clip(route_name))
            return web.Response(status=HTTPStatus.OK)
        return await handler(form, query)

    async def _async_call_flow(
        self, form: dict[str, str], step_number: str | None
    ) -> web.Response:
        """Answer 46elks' ``voice_start``/``next`` request with the next action.

        Anything but a JSON action hangs the call up on 46elks' side, so a
        request we cannot place is answered with an explicit hangup.
        """
        call_id = form["callid"]
        step = None
        if (hook_url := self.hangup_url()) is not None:
            step = await self._tracker.async_flow_request(
                call_id,
                form.get("result", ""),
                form.get("why"),
                from_number=form.get("from"),
                to=form.get("to"),
                hook_url=hook_url,
                step_number=step_number,
            )
        if step is None:
            LOGGER.debug("Call-flow request for unknown call %r", clip(call_id))
            return web.json_response(hangup_action("reject"))
        return web.json_response(step.action)


_SOURCES = frozenset(ip_address(address) for address in ELKS_WEBHOOK_SOURCES)


def from_46elks(hass: HomeAssistant, request: web.Request | MockRequest) -> bool:
    """Whether a request comes from one of 46elks' published addresses.

    ``request.remote`` is the client address as Home Assistant's HTTP
    integration resolved it: behind a reverse proxy it comes from
    X-Forwarded-For only when that proxy is trusted. Cloudhook deliveries
    (a ``MockRequest`` from the cloud integration, ``remote`` None) and the
    Remote UI carry no address of the original sender and are let through:
    Nabu Casa relays them, and the secret cloudhook URL is their defence.
    Webhooks sent over Home Assistant's own websocket API are not 46elks.
    """
    if is_cloud_connection(hass):
        return True
    if isinstance(request, MockRequest):
        return request.mock_source == CLOUD_SOURCE
    try:
        address = ip_address(request.remote or "")
    except ValueError:
        return False
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address in _SOURCES


async def _read_body(request: web.Request | MockRequest) -> bytes | None:
    """Read at most MAX_BODY_BYTES; None when the body is larger or breaks off.

    Only ``headers`` and ``content.read(n)`` are used: Home Assistant Cloud's
    ``MockRequest`` has neither ``content_length`` nor ``iter_chunked``.
    """
    if (declared := request.headers.get(CONTENT_LENGTH)) is not None:
        try:
            if int(declared) > MAX_BODY_BYTES:
                return None
        except ValueError:  # Cloud relays headers aiohttp never checked
            return None
    # One stream: MockRequest.content makes a new reader on every access.
    stream = request.content
    body = bytearray()
    try:
        # One byte past the bound tells an oversize body from one that fits.
        while chunk := await stream.read(MAX_BODY_BYTES + 1 - len(body)):
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return None
    except OSError, ValueError:  # the client went away mid-body
        return None
    return bytes(body)


def clip(value: str) -> str:
    """Shorten an untrusted value for the log (which shows it with %r)."""
    return value if len(value) <= 80 else value[:80] + "…"


def checked_form(
    schema: probatio.Schema, form: dict[str, str], what: str
) -> dict[str, Any] | None:
    """Return ``form`` as ``schema`` makes it, or None after logging why not.

    The log names our field and rule and the (clipped) id, never the value
    that broke the rule.
    """
    try:
        checked: dict[str, Any] = schema(form)
    except probatio.Invalid as err:
        LOGGER.warning(
            "Ignored an invalid %s %r: %s %s",
            what,
            clip(form.get("id", "")),
            ".".join(str(part) for part in err.path),
            err.msg,
        )
        return None
    return checked


def _parse_form(body: bytes) -> dict[str, str] | None:
    """Decode a form-encoded body strictly: UTF-8 and ``key=value`` pairs only.

    Only the fields a handler reads are percent-decoded (strictly, as
    UTF-8): 46elks also sends ``actions`` and ``legs``, JSON that nothing
    here reads and that costs as much to decode as the rest together.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    form: dict[str, str] = {}
    if not text:
        return form
    try:
        for pair in text.split("&"):
            key, sep, value = pair.partition("=")
            if not sep:
                return None
            if "%" in key or "+" in key:
                key = unquote_plus(key, errors="strict")
            if key in _READ_FIELDS:
                form[key] = (
                    unquote_plus(value, errors="strict")
                    if "%" in value or "+" in value
                    else value
                )
    except UnicodeDecodeError:
        return None
    return form
