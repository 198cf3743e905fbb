"""A real Home Assistant process against the 46elks simulator.

The simulator runs in the test's own event loop; Home Assistant runs as a
child process (``python -m homeassistant -c <config dir>``, this interpreter)
on a loopback port, set up over HTTP as a user would (onboarding, the config
flow) with the pieces of ``scripts/demo_driver.py``. It can be stopped with
SIGTERM (a clean stop) or SIGKILL (a crash) and started again on the same
configuration directory and port, so that URLs handed to 46elks stay valid.

What happened is read from Home Assistant itself: its websocket API, its
``.storage`` files and its log, where the event bus logs every event at
debug level (``homeassistant.core``), so that events fired while no
websocket was connected (during a start, say) are counted too.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import json
from pathlib import Path
import re
import shutil
import signal
import sys
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from elks_simulator import DEMO_VOICE_NUMBER, Callee, HeldWebhook, Simulator

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO / "scripts"))

import demo_driver  # noqa: E402

# Only guards against hangs: a start takes ~15 s on an idle machine.
START_TIMEOUT = 180.0
LOADED_TIMEOUT = 120.0
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
LOG_LEVELS = {"homeassistant.core": "debug"}
TIME_SCALE = 0.05

_BUS_RE = re.compile(
    r"Bus:Handling <Event (elks_call_ended|elks_escalation_finished)\[\w\]: (.*)>\s*$",
    re.MULTILINE,
)
_CALL_ID_RE = re.compile(r"(?:^|, )call_id=(\w+)")
_ESCALATION_RE = re.compile(r"(?:^|, )escalation_id=(\w+)")
_RESULT_RE = re.compile(r"(?:^|, )result=(\w+)")
TRACEBACK = "Traceback (most recent call last)"


def free_port() -> int:
    """Return a free loopback port (each test picks its own: no sharing)."""
    return demo_driver._free_port()  # noqa: SLF001


class ProcessSimulator(Simulator):
    """The simulator with two test controls.

    - ``gated`` numbers ring until ``gate`` is set (a callee that stays
      unanswered until the test lets it end; ``GET /a1/calls/{id}`` says
      ``ongoing`` meanwhile);
    - ``garble_next``: the next so many successful ``POST /a1/calls`` create
      the call and answer 200 with a body nobody can read.
    """

    def __init__(self, time_scale: float) -> None:
        """Start empty, like the simulator."""
        super().__init__(time_scale)
        self.gated: set[str] = set()
        self.gate = asyncio.Event()
        self.garble_next = 0
        self.garbled: set[str] = set()

    async def _lifecycle(self, run: Any) -> None:
        if run.call.to in self.gated:
            await self.gate.wait()
        await super()._lifecycle(run)

    async def _post_call(
        self,
        request: web.Request,
        account: Any,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        response = await super()._post_call(request, account, params, form)
        if self.garble_next > 0 and response.status == 200:
            self.garble_next -= 1
            self.garbled.add(form["to"])
            return web.Response(
                status=200, text="<html>busy</html>", content_type="text/html"
            )
        return response

    def take_held(self) -> list[HeldWebhook]:
        """Take the queued hangups out of the simulator's hold."""
        items = list(self.faults.held)
        self.faults.held.clear()
        return items

    async def deliver_by_http(self, items: list[HeldWebhook]) -> None:
        """Deliver hangups taken with ``take_held`` as 46elks does (with retries)."""

        async def one(item: HeldWebhook) -> None:
            try:
                await self._deliver_whenhangup(item.call_id, item.url, item.form)
            finally:
                if (call := self.calls.get(item.call_id)) is not None:
                    call.finished.set()

        await asyncio.gather(*(one(item) for item in items))


@dataclass
class HassNode:
    """One Home Assistant configuration (dir, port) and its successive processes."""

    config_dir: Path
    sim: ProcessSimulator
    session: aiohttp.ClientSession
    port: int = field(default_factory=free_port)
    process: demo_driver.HassProcess = field(init=False)
    api: demo_driver.HassClient = field(init=False)
    ws: demo_driver.HassWebSocket | None = None
    entry_id: str = ""
    logs: list[Path] = field(default_factory=list)
    runs: int = 0
    start_seconds: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Create the parts; nothing runs yet."""
        self.process = demo_driver.HassProcess(self.config_dir, self.port)
        self.api = demo_driver.HassClient(self.session, self.process.url)

    @property
    def url(self) -> str:
        """Return Home Assistant's base URL."""
        return self.process.url

    @property
    def calls_file(self) -> Path:
        """Return the tracker's storage file."""
        return self.config_dir / ".storage" / f"elks.{self.entry_id}.calls"

    async def first_start(self) -> None:
        """Start a fresh Home Assistant, onboard it, add the integration."""
        demo_driver.prepare_config_dir(
            self.config_dir, self.port, develop=False, log_levels=LOG_LEVELS
        )
        began = time.perf_counter()
        await self.process.start()
        steps = await self.api.wait_up(self.process, START_TIMEOUT)
        assert steps is not None, "a fresh Home Assistant says it is onboarded"
        await self.api.onboard(steps)
        async with asyncio.timeout(LOADED_TIMEOUT):
            await self.api.wait_running(LOADED_TIMEOUT)
        assert self.sim.base_url is not None
        entry = await self.api.add_elks(self.sim.base_url, DEMO_VOICE_NUMBER)
        self.entry_id = str(entry["entry_id"])
        self.ws = await demo_driver.HassWebSocket.connect(
            self.session, self.url, self.api.token or ""
        )
        self.start_seconds.append(time.perf_counter() - began)

    async def start_again(self) -> None:
        """Start Home Assistant on the same config dir and port; wait for the entry."""
        began = time.perf_counter()
        await self.process.start()
        steps = await self.api.wait_up(self.process, START_TIMEOUT)
        assert steps is None, "onboarding was lost"
        await self.api.login()
        self.ws = await demo_driver.HassWebSocket.connect(
            self.session, self.url, self.api.token or ""
        )
        # Not /api/: it answers before custom integrations are set up.
        async with asyncio.timeout(LOADED_TIMEOUT):
            while True:
                entries = await self.ws.command(
                    {"type": "config_entries/get", "domain": "elks"}
                )
                states = {e["entry_id"]: e["state"] for e in entries}
                if states.get(self.entry_id) == "loaded":
                    break
                assert self.process.exited() is None, self.process.log_tail()
                await asyncio.sleep(0.2)
        self.start_seconds.append(time.perf_counter() - began)

    async def _ended(self, how: Callable[[], Awaitable[int | None]]) -> int | None:
        if self.ws is not None:
            ws, self.ws = self.ws, None
            with contextlib.suppress(Exception):
                await ws.close()
        code = await how()
        self.runs += 1
        # Kept: the next start rolls home-assistant.log over.
        kept = self.config_dir / f"home-assistant.run{self.runs}.log"
        if self.process.log_file.exists():
            shutil.copyfile(self.process.log_file, kept)
            self.logs.append(kept)
        return code

    async def kill(self) -> None:
        """SIGKILL Home Assistant: a crash."""
        await self._ended(self.process.kill)

    async def stop(self) -> int | None:
        """SIGTERM Home Assistant: a clean stop. Returns its exit code."""
        return await self._ended(lambda: self.process.signal_and_wait(signal.SIGTERM))

    async def close(self) -> None:
        """Stop whatever still runs (end of test)."""
        if self.process.process is not None:
            await self.stop()

    # ---------------------------------------------------------- using it

    async def call_action(
        self, data: dict[str, Any], service: str = "call"
    ) -> dict[str, Any]:
        """Call ``elks.<service>`` over the HTTP API; return its response (or error)."""
        async with self.session.post(
            f"{self.url}/api/services/elks/{service}"
            + ("?return_response" if service == "call" else ""),
            json=data,
            headers={"Authorization": f"Bearer {self.api.token}"},
        ) as response:
            text = await response.text()
        if response.status != 200:
            return {"http_status": response.status, "text": text}
        if service != "call":
            return {}
        result: dict[str, Any] = json.loads(text)
        return result.get("service_response") or {}

    async def subscribe(self, *event_types: str) -> None:
        """Subscribe the websocket to events."""
        assert self.ws is not None
        for event_type in event_types:
            await self.ws.command(
                {"type": "subscribe_events", "event_type": event_type}
            )

    async def barrier(self) -> None:
        """Return once every event fired so far reached the websocket.

        Events and replies share one ordered connection: a reply to a later
        command comes after them.
        """
        assert self.ws is not None
        await self.ws.command({"type": "get_config"})

    def drain_events(self) -> list[dict[str, Any]]:
        """Return the events received so far on the websocket."""
        assert self.ws is not None
        events = []
        while not self.ws.events.empty():
            events.append(self.ws.events.get_nowait()[1])
        return events

    async def deliver_by_cloud(self, webhook_id: str, form: dict[str, str]) -> None:
        """Deliver a webhook by Home Assistant Cloud's road: ``webhook/handle``."""
        assert self.ws is not None
        result = await self.ws.command(
            {
                "type": "webhook/handle",
                "webhook_id": webhook_id,
                "method": "POST",
                "body": urlencode(form),
                "headers": FORM_HEADERS,
                "query": "",
            }
        )
        assert result["status"] == 200, result

    async def deliver_by_http(self, url: str, form: dict[str, str]) -> None:
        """POST a webhook to Home Assistant as 46elks does."""
        async with self.session.post(url, data=form) as response:
            assert response.status == 200, await response.text()

    def stored_calls(self) -> dict[str, Any] | None:
        """Return the tracker's stored data, None while it was never written."""
        try:
            data: dict[str, Any] = json.loads(self.calls_file.read_text("utf-8"))
        except OSError, ValueError:
            return None
        return data.get("data")

    def log_text(self) -> str:
        """Return the logs of every run so far, and the current one."""
        parts = [path.read_text("utf-8", errors="replace") for path in self.logs]
        if self.process.process is not None and self.process.log_file.exists():
            parts.append(self.process.log_file.read_text("utf-8", errors="replace"))
        return "\n".join(parts)

    def console_text(self) -> str:
        """Return Home Assistant's console output (of the last run)."""
        try:
            return self.process.console_file.read_text("utf-8", errors="replace")
        except OSError:
            return ""


def webhook_id_of(url: str) -> str:
    """Return the webhook id of a ``/api/webhook/<id>`` URL."""
    return url.rstrip("/").rsplit("/", 1)[1]


def logged_events(log: str) -> tuple[Counter[str], dict[str, list[str]]]:
    """Return ``elks_call_ended`` per call id, and escalation results per id."""
    ended: Counter[str] = Counter()
    escalations: dict[str, list[str]] = {}
    for kind, data in _BUS_RE.findall(log):
        if kind == "elks_call_ended":
            if (match := _CALL_ID_RE.search(data)) is not None:
                ended[match.group(1)] += 1
        elif (esc := _ESCALATION_RE.search(data)) is not None:
            result = _RESULT_RE.search(data)
            escalations.setdefault(esc.group(1), []).append(
                result.group(1) if result else "?"
            )
    return ended, escalations


class HangupPump:
    """Delivers every held hangup twice: by HTTP (the simulator) and by Cloud.

    Runs in the background while started; ``stop`` returns once the batch
    in hand has been delivered both ways.
    """

    def __init__(self, sim: ProcessSimulator, node: HassNode) -> None:
        """Pump ``sim``'s held hangups into ``node``."""
        self._sim = sim
        self._node = node
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self.delivered: list[str] = []
        self.cloud_first = True

    def start(self) -> None:
        """Start pumping (the simulator must be holding webhooks)."""
        self._running = True
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop after the batch in hand."""
        self._running = False
        if self._task is not None:
            task, self._task = self._task, None
            await task

    async def _run(self) -> None:
        while self._running:
            items = self._sim.take_held()
            if not items:
                await asyncio.sleep(0.02)
                continue
            await self.deliver(items)

    async def deliver(self, items: list[HeldWebhook]) -> None:
        """Deliver ``items`` by both roads; alternate which road goes first."""
        cloud_first, self.cloud_first = self.cloud_first, not self.cloud_first

        async def cloud() -> None:
            for item in items:
                await self._node.deliver_by_cloud(webhook_id_of(item.url), item.form)

        if cloud_first:
            await cloud()
            await self._sim.deliver_by_http(items)
        else:
            await self._sim.deliver_by_http(items)
            await cloud()
        self.delivered.extend(item.call_id for item in items)


async def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.05
) -> None:
    """Wait until ``condition()``; fail with ``what`` after ``timeout`` (hang guard)."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(poll)
    except TimeoutError:
        raise AssertionError(
            f"timed out after {timeout} s waiting for {what}"
        ) from None


@contextlib.asynccontextmanager
async def hass_node(config_dir: Path) -> AsyncIterator[HassNode]:
    """Start the simulator (demo account) and a fresh Home Assistant; stop both after."""
    sim = ProcessSimulator(TIME_SCALE)
    await sim.start("127.0.0.1", 0)
    sim.seed_demo()
    sim.set_callee("+46700000101", Callee.answer(after=0.5, talk=2.0))
    try:
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=60)
        ) as session:
            node = HassNode(config_dir, sim, session)
            try:
                await node.first_start()
                yield node
            except BaseException:
                for line in node.process.log_tail(40):
                    print(line)  # noqa: T201
                raise
            finally:
                await node.close()
    finally:
        await sim.stop()
