"""Fixtures for the 46elks simulator tests (plain aiohttp over loopback)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
import json
from typing import Any

import aiohttp
from aiohttp import web
import pytest

from elks_simulator import Account, Simulator

TIME_SCALE = 0.001
USERNAME = "apiuser"
PASSWORD = "apisecret"
VOICE_NUMBER = "+46766860001"
SMS_NUMBER = "+46766860002"
INACTIVE_NUMBER = "+46766860003"
MOBILE_NUMBER = "+46700000000"


def basic(login: str, password: str) -> dict[str, str]:
    """Return an HTTP Basic Authorization header."""
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture(autouse=True)
def _enable_sockets(socket_enabled: None) -> None:
    """Allow loopback sockets (PHACC disables them by default)."""


class Receiver:
    """A tiny webhook receiver on 127.0.0.1 that records every request."""

    def __init__(self) -> None:
        """Initialise with no scripted responses (default: 200 empty body)."""
        self.received: list[tuple[str, str, dict[str, str], float]] = []
        self._queued: dict[str, list[tuple[int, str]]] = {}
        self._defaults: dict[str, tuple[int, str]] = {}
        self._runner: web.AppRunner | None = None
        self.root = ""
        self.event = asyncio.Event()

    async def start(self) -> None:
        """Start serving on a free loopback port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # noqa: SLF001
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.root = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        """Stop the server."""
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        """Return the absolute URL of ``path``."""
        return f"{self.root}{path}"

    def reply(self, path: str, *responses: Any, default: Any = None) -> None:
        """Script replies for ``path``: each response is an action dict, or (status, text)."""
        self._queued.setdefault(path, []).extend(_norm(r) for r in responses)
        if default is not None:
            self._defaults[path] = _norm(default)

    def forms(self, path: str) -> list[dict[str, str]]:
        """Return the bodies of every request received on ``path``."""
        return [form for _, p, form, _ in self.received if p == path]

    async def _handle(self, request: web.Request) -> web.Response:
        form = dict(await request.post()) if request.method == "POST" else {}
        self.received.append(
            (
                request.method,
                request.path,
                {k: str(v) for k, v in form.items()},
                asyncio.get_running_loop().time(),
            )
        )
        self.event.set()
        queue = self._queued.get(request.path)
        if queue:
            status, text = queue.pop(0)
        else:
            status, text = self._defaults.get(request.path, (200, ""))
        content_type = "application/json" if text.startswith("{") else "text/plain"
        return web.Response(status=status, text=text, content_type=content_type)


def _norm(response: Any) -> tuple[int, str]:
    if isinstance(response, dict):
        return 200, json.dumps(response)
    status, text = response
    return int(status), str(text)


@pytest.fixture
async def sim(receiver: Receiver) -> AsyncIterator[Simulator]:
    """Return a started simulator with a small time scale.

    Set up after the webhook receiver, so that it stops (its deliveries
    cancelled) before the receiver closes.
    """
    simulator = Simulator(time_scale=TIME_SCALE)
    await simulator.start(host="127.0.0.1", port=0)
    yield simulator
    await simulator.stop()


@pytest.fixture
def account(sim: Simulator) -> Account:
    """Return the test account with a voice, an sms-only and an inactive number."""
    acct = sim.add_account(
        username=USERNAME,
        password=PASSWORD,
        displayname="Test Home",
        mobilenumber=MOBILE_NUMBER,
        balance=10_000_000,
        currency="SEK",
    )
    sim.add_number(acct, VOICE_NUMBER, capabilities=("voice", "sms"), active=True)
    sim.add_number(acct, SMS_NUMBER, capabilities=("sms",), active=True)
    sim.add_number(acct, INACTIVE_NUMBER, capabilities=("voice", "sms"), active=False)
    return acct


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """Return a plain client session."""
    async with aiohttp.ClientSession() as session:
        yield session


class Api:
    """Authenticated access to the simulator's API."""

    def __init__(
        self, session: aiohttp.ClientSession, sim: Simulator, auth: dict[str, str]
    ) -> None:
        """Store the session, simulator and credentials."""
        self.session = session
        self.sim = sim
        self.auth = auth
        assert sim.base_url is not None
        self.base = sim.base_url

    async def request(
        self, method: str, path: str, **kwargs: Any
    ) -> tuple[int, str, Any]:
        """Send a request; return status, text and headers."""
        kwargs.setdefault("headers", self.auth)
        async with self.session.request(method, self.base + path, **kwargs) as resp:
            return resp.status, await resp.text(), resp.headers

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        """GET ``path`` expecting 200 JSON."""
        status, text, _ = await self.request("GET", path, **kwargs)
        assert status == 200, text
        return json.loads(text)

    async def post_call(self, **form: Any) -> tuple[int, str]:
        """POST /a1/calls with ``form`` (``from_`` stands for ``from``)."""
        data = {("from" if k == "from_" else k): str(v) for k, v in form.items()}
        status, text, _ = await self.request("POST", "/calls", data=data)
        return status, text

    async def call(
        self,
        to: str,
        voice_start: Any,
        whenhangup: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Place a call that must be accepted; return the reply JSON."""
        form: dict[str, Any] = {
            "from_": VOICE_NUMBER,
            "to": to,
            "voice_start": voice_start
            if isinstance(voice_start, str)
            else json.dumps(voice_start),
            **extra,
        }
        if whenhangup is not None:
            form["whenhangup"] = whenhangup
        status, text = await self.post_call(**form)
        assert status == 200, text
        result: dict[str, Any] = json.loads(text)
        return result


@pytest.fixture
async def api(sim: Simulator, account: Account, http: aiohttp.ClientSession) -> Api:
    """Return an authenticated API helper for the test account."""
    return Api(http, sim, basic(USERNAME, PASSWORD))


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """Return a started webhook receiver."""
    recv = Receiver()
    await recv.start()
    yield recv
    await recv.stop()
