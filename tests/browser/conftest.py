"""A real Home Assistant with its frontend, and Chromium driven by Playwright.

The stack is the one ``scripts/develop`` runs: the 46elks simulator (demo
account) and a ``hass`` child process (``frontend``, ``config``, ``history``,
``logbook``) on loopback ports, onboarded over HTTP. The simulator lives in an
event loop of its own thread, so that the tests can use Playwright's sync API.

The browser is Debian's ``chromium`` (``scripts/setup`` installs it with apt;
Playwright's own browser download is not available), headless, with a fresh
profile. Screenshots go to ``.artifacts/browser/`` (git-ignored).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
import os
from pathlib import Path
import shutil
import sys
import threading
from typing import Any

import aiohttp
import pytest

from elks_simulator import DEMO_VOICE_NUMBER, Callee

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO / "scripts"))

import demo_driver  # noqa: E402

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - scripts/setup installs it
    sync_playwright = None

ARTIFACTS = REPO / ".artifacts" / "browser"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CALLEE = "+46700000101"
# Only guards against hangs.
START_TIMEOUT = 180.0
UI_TIMEOUT_MS = 90_000


def chromium_path() -> str:
    """Return Debian's chromium (``ELKS_CHROMIUM`` overrides); fail when missing."""
    path = os.environ.get("ELKS_CHROMIUM") or shutil.which("chromium")
    if sync_playwright is None or path is None:
        pytest.fail(
            "the browser tests need Playwright and Debian's chromium: run scripts/setup"
        )
    return path


@dataclass
class LiveHass:
    """The simulator and a Home Assistant process, run from a background loop."""

    config_dir: Path
    loop: asyncio.AbstractEventLoop
    stack: demo_driver.Stack
    api: demo_driver.HassClient
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        """Return Home Assistant's base URL."""
        return self.stack.hass.url

    def run[T](self, make: Callable[[], Awaitable[T]], timeout: float = 180) -> T:
        """Run a coroutine in the stack's loop; return its result."""

        async def wrapper() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    def add_elks(self) -> str:
        """Add the integration over the HTTP API; return the entry id."""
        assert self.stack.sim_base_url
        entry = self.run(
            lambda: self.api.add_elks(self.stack.sim_base_url, DEMO_VOICE_NUMBER)
        )
        return str(entry["entry_id"])

    def state(self, entity_id: str) -> dict[str, Any]:
        """Return an entity's state from the HTTP API."""
        result: dict[str, Any] = self.run(
            lambda: self.api.get(f"/api/states/{entity_id}", entity_id)
        )
        return result

    def ws(self, message: dict[str, Any]) -> Any:
        """Send one websocket command; return its result."""

        async def command() -> Any:
            ws = await demo_driver.HassWebSocket.connect(
                self.session, self.url, self.api.token or ""
            )
            try:
                return await ws.command(message)
            finally:
                await ws.close()

        return self.run(command)

    def entity_ids(self, entry_id: str) -> list[str]:
        """Return the entity ids of an entry."""
        entities = self.ws({"type": "config/entity_registry/list"})
        return [
            e["entity_id"] for e in entities if e.get("config_entry_id") == entry_id
        ]

    def log_text(self) -> str:
        """Return Home Assistant's log so far."""
        path = self.stack.hass.log_file
        return path.read_text("utf-8", errors="replace") if path.exists() else ""


@pytest.fixture
def live_hass(tmp_path: Path, socket_enabled: None) -> Iterator[LiveHass]:
    """Start the simulator and an onboarded Home Assistant with its frontend."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run[T](make: Callable[[], Awaitable[T]], timeout: float) -> T:
        async def wrapper() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(wrapper(), loop).result(timeout)

    stack = demo_driver.Stack(
        tmp_path / "config",
        demo_driver._free_port(),  # noqa: SLF001
        0.05,
        develop=True,
    )

    sessions: list[aiohttp.ClientSession] = []

    async def start() -> demo_driver.HassClient:
        session = aiohttp.ClientSession(timeout=demo_driver.HTTP_TIMEOUT)
        sessions.append(session)
        await stack.start()
        stack.sim.set_callee(CALLEE, Callee.answer(after=0.5, talk=2.0))
        api = demo_driver.HassClient(session, stack.hass.url)
        steps = await api.wait_up(stack.hass, START_TIMEOUT)
        assert steps is not None, "a fresh Home Assistant says it is onboarded"
        await api.onboard(steps)
        await api.wait_running(START_TIMEOUT)
        return api

    async def stop() -> None:
        try:
            await stack.stop()
        finally:
            for session in sessions:
                await session.close()

    try:
        api = run(start, START_TIMEOUT + 30)
        yield LiveHass(tmp_path / "config", loop, stack, api, sessions[0])
    finally:
        try:
            run(stop, 90)
        finally:
            # Its executor's threads end before the test does (PHACC fails a
            # test that leaves threads behind); close() would not wait.
            run(loop.shutdown_default_executor, 90)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(90)
            loop.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Start headless Chromium with a fresh profile."""
    path = chromium_path()
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(
    browser: Browser, live_hass: LiveHass, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """Return a page logged in to Home Assistant through its login form."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    page.goto(live_hass.url)
    page.fill("input[name=username]", demo_driver.LOGIN_USERNAME)
    page.fill("input[name=password]", demo_driver.LOGIN_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/auth/" not in url and "auth_callback" not in url)
    page.locator("home-assistant-main").wait_for()
    try:
        yield page
    finally:
        shot(page, request.node.name, "last")
        context.close()


def shot(page: Page, test: str, name: str) -> Path:
    """Save a screenshot as ``.artifacts/browser/<test>/<name>.png``."""
    folder = ARTIFACTS / test
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    # Written here, not with ``screenshot(path=...)``: Playwright writes that
    # file from its loop's default executor, whose thread can outlive the
    # test (its loop is closed without waiting for it) and fail PHACC's
    # check for lingering threads.
    path.write_bytes(page.screenshot())
    return path
