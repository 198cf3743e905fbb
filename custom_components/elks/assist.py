"""Assist by phone: the WebSocket 46elks streams a call's audio to.

A websocket number's ``voice_start`` is ``wss://<public URL>/api/elks/assist/
<token>``; the token is a secret of the ``assist`` subentry, like the
webhook id: the path is not behind Home Assistant's login (46elks has none),
so knowing it is what lets a call in. Then the caller's number must be on
the subentry's list, and the conversation runs as the "46elks phone" user,
so that the logbook shows what was done by phone and Assist's exposure
rules decide what can be reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from http import HTTPStatus
import json
import secrets
from typing import Any

from aiohttp import WSMsgType, web
from yarl import URL

from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.helpers.storage import Store
from homeassistant.util.hass_dict import HassKey

from .api import normalize_number
from .assist_call import AssistCall, AssistSettings
from .assist_protocol import (
    MAX_MESSAGE_CHARS,
    Hello,
    MessageType,
    ProtocolError,
    message,
    parse_hello,
)
from .const import (
    CONF_ASSIST_CALLERS,
    CONF_ASSIST_DIAL_IN,
    CONF_ASSIST_DIAL_IN_ID,
    CONF_ASSIST_GREETING,
    CONF_ASSIST_NUMBER,
    CONF_ASSIST_NUMBER_ID,
    CONF_ASSIST_PIPELINE,
    CONF_ASSIST_TOKEN,
    CONF_ONLY_46ELKS_SOURCES,
    DEFAULT_ASSIST_GREETING,
    DOMAIN,
    LOGGER,
    MAX_CALL_SECONDS,
    SUBENTRY_ASSIST,
)
from .models import NumberClaim, NumberField
from .webhook import from_46elks

ASSIST_PATH = "/api/elks/assist"
# 46elks sends ``hello`` first, at once.
HELLO_TIMEOUT_SECONDS = 10.0
# Calls talking to Assist at once, over all accounts.
MAX_CALLS = 4
PHONE_USER_NAME = "46elks phone"
_USER_STORE_KEY = f"{DOMAIN}.assist_user"
DATA_ASSIST: HassKey[AssistState] = HassKey(f"{DOMAIN}_assist")


def new_token() -> str:
    """Return a new secret path token for an ``assist`` subentry."""
    return secrets.token_urlsafe(32)


def assist_path(token: str) -> str:
    """Return the URL path 46elks connects to for ``token``."""
    return f"{ASSIST_PATH}/{token}"


def websocket_url(hass: HomeAssistant, token: str) -> str | None:
    """Return the ``ws(s)://`` URL 46elks can reach, or None without a public URL.

    The external URL or Home Assistant Cloud's remote UI: a cloudhook carries
    webhooks only, never a WebSocket.
    """
    try:
        base = get_url(hass, allow_internal=False, prefer_external=True)
    except NoURLAvailableError:
        return None
    url = URL(base)
    scheme = "wss" if url.scheme == "https" else "ws"
    return str(url.with_scheme(scheme).with_path(assist_path(token)))


def is_assist_url(value: str | None) -> bool:
    """Return whether ``value`` (a number's voice_start) leads to an Assist WebSocket."""
    if not value or not value.startswith(("ws://", "wss://")):
        return False
    return URL(value).path.startswith(ASSIST_PATH + "/")


def connect_action(number: str) -> str:
    """Return the inline action that connects a call to the websocket ``number``."""
    return json.dumps({"connect": number}, separators=(",", ":"))


def assist_claims(hass: HomeAssistant, entry: ConfigEntry) -> list[NumberClaim]:
    """Return what the ``assist`` subentries want of the account's numbers.

    The websocket number's ``voice_start`` is the WebSocket URL (None, left
    as it is, while Home Assistant has no public URL); a dial-in number's
    connects to the websocket number.
    """
    claims: list[NumberClaim] = []
    for subentry in entry.subentries.values():
        if subentry.subentry_type != SUBENTRY_ASSIST:
            continue
        data = subentry.data
        number = data[CONF_ASSIST_NUMBER]
        claims.append(
            NumberClaim(
                subentry.subentry_id,
                data[CONF_ASSIST_NUMBER_ID],
                number,
                NumberField.VOICE_START,
                websocket_url(hass, data[CONF_ASSIST_TOKEN]),
            )
        )
        if dial_in := data.get(CONF_ASSIST_DIAL_IN):
            claims.append(
                NumberClaim(
                    subentry.subentry_id,
                    data[CONF_ASSIST_DIAL_IN_ID],
                    dial_in,
                    NumberField.VOICE_START,
                    connect_action(number),
                )
            )
    return claims


class AssistState:
    """What the view keeps across calls: the phone user and the calls running."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Start with no calls."""
        self._hass = hass
        self._store: Store[dict[str, str]] = Store(hass, 1, _USER_STORE_KEY)
        self._lock = asyncio.Lock()
        self.calls: set[AssistCall] = set()

    async def async_user_id(self) -> str:
        """Return the "46elks phone" user, made once (like voip's and cloud's)."""
        async with self._lock:
            stored = await self._store.async_load() or {}
            if (user_id := stored.get("user_id")) and (
                await self._hass.auth.async_get_user(user_id)
            ) is not None:
                return user_id
            user = await self._hass.auth.async_create_system_user(
                PHONE_USER_NAME, group_ids=[GROUP_ID_USER]
            )
            await self._store.async_save({"user_id": user.id})
            return user.id

    async def async_remove_user(self) -> None:
        """Remove the "46elks phone" user: the last account went."""
        async with self._lock:
            stored = await self._store.async_load() or {}
            if (user_id := stored.get("user_id")) and (
                user := await self._hass.auth.async_get_user(user_id)
            ) is not None:
                await self._hass.auth.async_remove_user(user)
            await self._store.async_remove()


@callback
def async_setup_assist(hass: HomeAssistant) -> None:
    """Serve the Assist WebSocket (once, for every account)."""
    hass.data[DATA_ASSIST] = AssistState(hass)
    hass.http.register_view(AssistView())


def _find(
    entries: Iterable[ConfigEntry], token: str
) -> tuple[ConfigEntry, ConfigSubentry] | None:
    """Return the loaded entry and ``assist`` subentry holding ``token``, if any."""
    found = None
    for entry in entries:
        for subentry in entry.subentries.values():
            if subentry.subentry_type != SUBENTRY_ASSIST:
                continue
            # Every token is compared, in constant time each.
            if secrets.compare_digest(
                str(subentry.data.get(CONF_ASSIST_TOKEN, "")).encode(), token.encode()
            ):
                found = (entry, subentry)
    return found


def allowed(subentry: ConfigSubentry, caller: str) -> bool:
    """Whether ``caller`` is on the subentry's list (compared as E.164)."""
    try:
        number = normalize_number(caller)
    except ValueError:
        return False
    return number in subentry.data.get(CONF_ASSIST_CALLERS, [])


class AssistView(HomeAssistantView):
    """The WebSocket 46elks connects to when a websocket number is called."""

    url = ASSIST_PATH + "/{token}"
    name = "api:elks:assist"
    # 46elks cannot log in: the secret path and the caller list guard it.
    requires_auth = False

    async def get(self, request: web.Request, token: str) -> web.StreamResponse:
        """Accept a call's WebSocket and talk to the caller."""
        hass = request.app[KEY_HASS]
        found = _find(hass.config_entries.async_loaded_entries(DOMAIN), token)
        if found is None:
            # The token is a secret: never logged.
            return web.Response(status=HTTPStatus.NOT_FOUND)
        entry, subentry = found
        if entry.options.get(CONF_ONLY_46ELKS_SOURCES) and not from_46elks(
            hass, request
        ):
            LOGGER.warning(
                "Refused an Assist WebSocket from %r: not a 46elks address",
                request.remote,
            )
            return web.Response(status=HTTPStatus.FORBIDDEN)
        state = hass.data[DATA_ASSIST]
        if len(state.calls) >= MAX_CALLS:
            return web.Response(status=HTTPStatus.SERVICE_UNAVAILABLE)
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_CHARS)
        await ws.prepare(request)
        hello = await _hello(ws)
        if hello is None or not allowed(subentry, hello.caller):
            if hello is not None:
                LOGGER.info("Refused an Assist call from a number not on the list")
            await ws.send_str(message(MessageType.BYE))
            await ws.close()
            return ws
        await _talk(hass, ws, subentry.data, state)
        return ws


async def _hello(ws: web.WebSocketResponse) -> Hello | None:
    """Return the call's first message, checked; None unless a good ``hello``."""
    try:
        async with asyncio.timeout(HELLO_TIMEOUT_SECONDS):
            raw = await ws.receive()
    except TimeoutError:
        return None
    if raw.type != WSMsgType.TEXT:
        return None
    try:
        return parse_hello(raw.data)
    except ProtocolError as err:
        LOGGER.debug("Assist call: bad hello (%s)", err)
        return None


async def _talk(
    hass: HomeAssistant,
    ws: web.WebSocketResponse,
    data: Any,
    state: AssistState,
) -> None:
    """Run the conversation, for at most MAX_CALL_SECONDS."""
    settings = AssistSettings(
        pipeline_id=data.get(CONF_ASSIST_PIPELINE) or None,
        greeting=data.get(CONF_ASSIST_GREETING) or DEFAULT_ASSIST_GREETING,
        user_id=await state.async_user_id(),
    )
    call = AssistCall(hass, ws, settings)
    state.calls.add(call)
    try:
        async with asyncio.timeout(MAX_CALL_SECONDS):
            await call.async_run()
    except TimeoutError:
        LOGGER.info("Assist call: ended after %s s", MAX_CALL_SECONDS)
    finally:
        state.calls.discard(call)
        if not ws.closed:
            await ws.close()
