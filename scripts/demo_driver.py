"""Run the 46elks integration end to end in a real Home Assistant.

    python scripts/demo_driver.py demo      # one scripted call, a story, exit
    python scripts/demo_driver.py develop   # the same stack to click around in

Run it inside the project environment (``scripts/demo`` and ``scripts/develop``
do: ``scripts/env python scripts/demo_driver.py ...``). It starts the 46elks
simulator in this process and Home Assistant (``python -m homeassistant``, the
same interpreter) as a child process with a fresh configuration directory under
``.demo/`` whose ``custom_components/elks`` links to this checkout. Everything
else goes over HTTP, as a user's browser or 46elks would: onboarding, the
config flow, the websocket API, the ``elks.call`` action, and the simulator's
hangup webhook to Home Assistant's external URL.

The simulator runs in this process (not as ``python -m elks_simulator``) so
that the story can give the simulator's own receive and send times of its
HTTP traffic on the same clock as this process's.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterator
import contextlib
import ctypes
from dataclasses import dataclass, field
from datetime import UTC, datetime
import fcntl
import json
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import sys
import time
from typing import Any, NoReturn

import aiohttp

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from demo_assist import assist_yaml, link_voice_component, run_assist_turn  # noqa: E402

from elks_simulator import (  # noqa: E402
    DEMO_PASSWORD,
    DEMO_USERNAME,
    DEMO_VOICE_NUMBER,
    DemoSeed,
    SimCall,
    Simulator,
)

DEMO_DIR = REPO / ".demo"
LOGIN_USERNAME = "demo"
LOGIN_PASSWORD = "demo-demo"
LOGIN_NAME = "Demo"
DEFAULT_CALLEE = "+46700000101"
DEFAULT_PLAY = "sound/beep"
# scripts/develop keeps its Home Assistant: the simulator's demo account keeps
# its id too (see Stack.start).
DEVELOP_ACCOUNT_ID = "u" + "46e1" * 8

HASS_START_TIMEOUT = 180.0
HASS_STOP_TIMEOUT = 120.0
# Only guards against hangs: Home Assistant answers within a second when idle,
# and within tens of seconds while it starts on a busy machine.
WS_TIMEOUT = 120.0
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=60)
# Config entry states that still change without anybody doing anything.
_SETTLING = {"not_loaded", "setup_in_progress", "unload_in_progress"}

# The Python that runs Home Assistant: this one, unless ELKS_HASS_PYTHON names
# another (scripts/demo --newest: the newest release's virtual environment).
HASS_PYTHON_ENV = "ELKS_HASS_PYTHON"

# Logged by homeassistant.util.package for every requirement it pip-installs.
INSTALL_RE = re.compile(r"Attempting install of (\S+)")


class DemoError(Exception):
    """The demo could not go on; the message says why, in one line."""


# --------------------------------------------------------------------- setup


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_config_dirs() -> None:
    """Remove the ``.demo/config-<pid>`` directories of demos no longer running."""
    if not DEMO_DIR.is_dir():
        return
    for path in DEMO_DIR.glob("config-*"):
        pid = path.name.removeprefix("config-")
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def configuration_yaml(
    port: int,
    *,
    develop: bool,
    log_levels: dict[str, str] | None = None,
    assist: bool = False,
) -> str:
    """Return a minimal ``configuration.yaml``: no ``default_config``.

    ``log_levels`` adds logger levels (tests/process logs the event bus).
    """
    url = f"http://127.0.0.1:{port}"
    lines = [
        "# Written by scripts/demo_driver.py; rewritten at each start.",
        "homeassistant:",
        "  name: 46elks demo",
        "  latitude: 59.3293",
        "  longitude: 18.0686",
        "  elevation: 20",
        "  unit_system: metric",
        "  currency: SEK",
        "  country: SE",
        "  language: en",
        "  time_zone: Europe/Stockholm",
        f"  external_url: {url}",
        f"  internal_url: {url}",
        "logger:",
        "  default: warning",
        "  logs:",
        # Its "Attempting install of ..." lines show a start that pip-installs.
        "    homeassistant.util.package: info",
        "    custom_components.elks: debug",
        # Always loaded, unused here, and loud about the missing ffmpeg and
        # libturbojpeg binaries.
        "    haffmpeg: critical",
        "    homeassistant.components.camera.img_util: critical",
    ]
    lines += [f"    {name}: {level}" for name, level in (log_levels or {}).items()]
    if develop:
        lines += ["frontend:", "config:", "history:", "logbook:"]
    if assist:
        lines += assist_yaml()
    return "\n".join(lines) + "\n"


def prepare_config_dir(
    config_dir: Path,
    port: int,
    *,
    develop: bool,
    log_levels: dict[str, str] | None = None,
    assist: bool = False,
) -> None:
    """Write the configuration, link the integration, pre-seed onboarding.

    The core configuration comes from ``configuration.yaml``, so onboarding's
    ``core_config`` step is marked done in storage: posting it would start the
    integrations Home Assistant sets up at that step (met, google_translate,
    radio_browser, shopping_list), which pip-install packages and go online.
    The other steps (user, analytics, integration) go through the HTTP API.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(
        configuration_yaml(port, develop=develop, log_levels=log_levels, assist=assist),
        encoding="utf-8",
    )
    custom = config_dir / "custom_components"
    custom.mkdir(exist_ok=True)
    link = custom / "elks"
    if link.is_symlink() or link.exists():
        if link.is_symlink():
            link.unlink()
        else:
            shutil.rmtree(link)
    link.symlink_to(REPO / "custom_components" / "elks", target_is_directory=True)
    if assist:
        link_voice_component(custom)
    storage = config_dir / ".storage"
    storage.mkdir(exist_ok=True)
    # Home Assistant 2026.10 keeps HTTP settings in storage and asks in the
    # UI to confirm ones that come from YAML (reverting them after minutes),
    # so the loopback address and port are written there as settled.
    (storage / "http").write_text(
        json.dumps(
            {
                "version": 2,
                "minor_version": 2,
                "key": "http",
                "data": {
                    "stable": {
                        "server_host": ["127.0.0.1"],
                        "server_port": port,
                        "cors_allowed_origins": ["https://cast.home-assistant.io"],
                        "login_attempts_threshold": -1,
                        "ip_ban_enabled": True,
                        "ssl_profile": "modern",
                        "use_x_frame_options": True,
                        "created_at": datetime.now(UTC).isoformat(),
                        "error": None,
                        "error_message": None,
                    },
                    "pending": None,
                    "yaml_migration_done": True,
                },
            }
        ),
        encoding="utf-8",
    )
    onboarding = storage / "onboarding"
    if not onboarding.exists():
        onboarding.write_text(
            json.dumps(
                {
                    "version": 4,
                    "minor_version": 1,
                    "key": "onboarding",
                    "data": {"done": ["core_config"]},
                }
            ),
            encoding="utf-8",
        )


def release_stale_run_lock(config_dir: Path) -> None:
    """Remove ``.ha_run.lock`` unless a Home Assistant holds it; else fail."""
    lock = config_dir / ".ha_run.lock"
    if not lock.exists():
        return
    with lock.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise DemoError(
                f"another Home Assistant runs with {config_dir} ({handle.read().strip()}); stop it first"
            ) from None
    lock.unlink(missing_ok=True)


def tail(path: Path, lines: int = 25) -> list[str]:
    """Return the last lines of a text file (none if it is missing)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def installed_at_start(log_file: Path) -> list[str]:
    """Return the packages Home Assistant pip-installed, from its log."""
    try:
        text = log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return INSTALL_RE.findall(text)


# ---------------------------------------------------------------- processes


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when this driver dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class TimedSimulator(Simulator):
    """The simulator, also noting when it starts each call's hangup webhook."""

    def __init__(self, time_scale: float) -> None:
        """Start empty, like the simulator."""
        super().__init__(time_scale)
        self.hangup_sent_at: dict[str, float] = {}

    async def _send_whenhangup(self, call: SimCall) -> bool:
        self.hangup_sent_at[call.id] = time.perf_counter()
        return await super()._send_whenhangup(call)


def hass_python() -> str:
    """Return the Python interpreter that runs Home Assistant."""
    return os.environ.get(HASS_PYTHON_ENV) or sys.executable


@dataclass
class HassProcess:
    """A Home Assistant child process in its own process group."""

    config_dir: Path
    port: int
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0

    @property
    def url(self) -> str:
        """Return the base URL it serves."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        """Return Home Assistant's own log file."""
        return self.config_dir / "home-assistant.log"

    @property
    def console_file(self) -> Path:
        """Return the file its stdout and stderr go to."""
        return self.config_dir / "console.log"

    async def start(self) -> None:
        """Start ``python -m homeassistant -c CONFIG_DIR``."""
        with self.console_file.open("wb") as console:
            self.process = await asyncio.create_subprocess_exec(
                hass_python(),
                "-m",
                "homeassistant",
                "--config",
                str(self.config_dir),
                "--log-no-color",
                cwd=self.config_dir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=console,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.started_at = time.perf_counter()

    def exited(self) -> int | None:
        """Return its exit code once it ended, else None."""
        return None if self.process is None else self.process.returncode

    async def stop(self) -> None:
        """SIGTERM its process group, SIGKILL what is left after a while."""
        await self.signal_and_wait(signal.SIGTERM)

    async def kill(self) -> None:
        """SIGKILL its process group at once: a crash, no final writes."""
        await self.signal_and_wait(signal.SIGKILL)

    async def signal_and_wait(self, sig: signal.Signals) -> int | None:
        """Send ``sig`` to its process group; SIGKILL what is left after a while.

        Returns the exit code of Home Assistant's process.
        """
        if self.process is None:
            return None
        process, self.process = self.process, None
        pgid = process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        try:
            async with asyncio.timeout(HASS_STOP_TIMEOUT):
                await process.wait()
        except TimeoutError:
            pass
        # Whatever it started (ffmpeg, ...) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        return await process.wait()

    def log_tail(self, lines: int = 25) -> list[str]:
        """Return the last lines of its log (or console when it has no log)."""
        return tail(self.log_file, lines) or tail(self.console_file, lines)


# ------------------------------------------------------------------ HTTP API


async def _json(response: aiohttp.ClientResponse, what: str) -> Any:
    text = await response.text()
    one_line = " ".join(text.split())[:300]
    if response.status >= 400:
        raise DemoError(f"{what}: HTTP {response.status}: {one_line}")
    try:
        return json.loads(text)
    except ValueError as err:
        raise DemoError(f"{what}: not JSON: {one_line}") from err


@dataclass
class HassClient:
    """Home Assistant's HTTP API, as a browser uses it."""

    session: aiohttp.ClientSession
    url: str
    token: str | None = None

    @property
    def client_id(self) -> str:
        """Return the OAuth client id: the frontend's own URL."""
        return f"{self.url}/"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def get(self, path: str, what: str) -> Any:
        """GET ``path``; return its JSON."""
        async with self.session.get(
            self.url + path, headers=self._headers()
        ) as response:
            return await _json(response, what)

    async def post(self, path: str, data: Any, what: str) -> Any:
        """POST JSON to ``path``; return its JSON."""
        async with self.session.post(
            self.url + path, json=data, headers=self._headers()
        ) as response:
            return await _json(response, what)

    async def delete(self, path: str, what: str) -> Any:
        """DELETE ``path``; return its JSON."""
        async with self.session.delete(
            self.url + path, headers=self._headers()
        ) as response:
            return await _json(response, what)

    async def wait_up(self, hass: HassProcess, timeout: float) -> Any:
        """Wait until the HTTP API answers; return ``/api/onboarding`` (None when onboarded)."""
        async with asyncio.timeout(timeout):
            while True:
                if (code := hass.exited()) is not None:
                    # Its console, not home-assistant.log: an early exit (say,
                    # another instance holds .ha_run.lock) writes no log, and
                    # the log there is the previous run's.
                    console = "\n".join(tail(hass.console_file, 15))
                    raise DemoError(
                        f"Home Assistant exited with code {code} at start:\n{console}"
                    )
                try:
                    async with self.session.get(
                        f"{self.url}/api/onboarding",
                        timeout=aiohttp.ClientTimeout(total=5),
                    ) as response:
                        if response.status == 200:
                            return await response.json()
                        if response.status == 404:
                            return None
                except aiohttp.ClientError, TimeoutError:
                    pass
                await asyncio.sleep(0.25)

    async def wait_running(self, timeout: float) -> None:
        """Wait until the core state is RUNNING (start-up finished)."""
        async with asyncio.timeout(timeout):
            while (await self.get("/api/config", "config"))["state"] != "RUNNING":
                await asyncio.sleep(0.25)

    async def wait_entries_settled(self, timeout: float) -> list[dict[str, Any]]:
        """Wait until no 46elks entry is still being set up; return the entries.

        Not ``/api/`` nor the core state: Home Assistant 2026.11 answers and
        says RUNNING while custom integrations are still setting up.
        """
        async with asyncio.timeout(timeout):
            while True:
                entries: list[dict[str, Any]] = await self.get(
                    "/api/config/config_entries/entry?domain=elks", "config entries"
                )
                if not any(e.get("state") in _SETTLING for e in entries):
                    return entries
                await asyncio.sleep(0.25)

    async def exchange_code(self, code: str) -> None:
        """Trade an authorization code for an access token."""
        async with self.session.post(
            f"{self.url}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": self.client_id,
            },
        ) as response:
            tokens = await _json(response, "token exchange")
        self.token = tokens["access_token"]

    async def onboard(self, steps: list[dict[str, Any]]) -> None:
        """Create the owner account and finish the remaining onboarding steps."""
        done = {step["step"] for step in steps if step["done"]}
        if "user" not in done:
            result = await self.post(
                "/api/onboarding/users",
                {
                    "client_id": self.client_id,
                    "name": LOGIN_NAME,
                    "username": LOGIN_USERNAME,
                    "password": LOGIN_PASSWORD,
                    "language": "en",
                },
                "onboarding: create user",
            )
            await self.exchange_code(result["auth_code"])
        else:
            await self.login()
        if "core_config" not in done:
            await self.post("/api/onboarding/core_config", {}, "onboarding: core")
        if "analytics" not in done:
            await self.post("/api/onboarding/analytics", {}, "onboarding: analytics")
        if "integration" not in done:
            await self.post(
                "/api/onboarding/integration",
                {
                    "client_id": self.client_id,
                    "redirect_uri": f"{self.url}/?auth_callback=1",
                },
                "onboarding: integration",
            )

    async def login(self) -> None:
        """Log in with the demo user through the login flow."""
        flow = await self.post(
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{self.url}/?auth_callback=1",
            },
            "login",
        )
        result = await self.post(
            f"/auth/login_flow/{flow['flow_id']}",
            {
                "client_id": self.client_id,
                "username": LOGIN_USERNAME,
                "password": LOGIN_PASSWORD,
            },
            "login",
        )
        if result.get("type") != "create_entry":
            raise DemoError(
                f"login as {LOGIN_USERNAME} failed: {result.get('errors') or result}"
            )
        await self.exchange_code(result["result"])

    async def add_elks(self, base_url: str, caller_id: str) -> dict[str, Any]:
        """Add the integration through its config flow; return the new entry."""
        what = "config flow"
        step = await self.post(
            "/api/config/config_entries/flow",
            {"handler": "elks", "show_advanced_options": False},
            what,
        )
        if step.get("step_id") != "user":
            raise DemoError(f"{what}: expected the user step, got {step}")
        step = await self.post(
            f"/api/config/config_entries/flow/{step['flow_id']}",
            {
                "username": DEMO_USERNAME,
                "password": DEMO_PASSWORD,
                "advanced": {"base_url": base_url},
            },
            what,
        )
        if step.get("step_id") != "caller_id" or step.get("errors"):
            raise DemoError(f"{what}: credentials step: {step}")
        step = await self.post(
            f"/api/config/config_entries/flow/{step['flow_id']}",
            {"caller_id": caller_id},
            what,
        )
        if step.get("type") != "create_entry":
            raise DemoError(f"{what}: caller id step: {step}")
        entry: dict[str, Any] = step["result"]
        if entry.get("state") in _SETTLING:
            # The flow may answer before the entry's setup has finished.
            settled = await self.wait_entries_settled(60)
            entry = next(
                (e for e in settled if e["entry_id"] == entry["entry_id"]), entry
            )
        if entry.get("state") != "loaded":
            raise DemoError(f"{what}: entry created but {entry.get('state')}")
        return entry


# ----------------------------------------------------------------- websocket


class HassWebSocket:
    """Home Assistant's websocket API: commands and subscribed events."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap an authenticated connection and start reading it."""
        self._ws = ws
        self._next_id = 0
        self._results: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(
        cls, session: aiohttp.ClientSession, url: str, token: str
    ) -> HassWebSocket:
        """Connect and authenticate."""
        ws = await session.ws_connect(f"{url}/api/websocket")
        hello = await ws.receive_json(timeout=WS_TIMEOUT)
        if hello.get("type") != "auth_required":
            raise DemoError(f"websocket: unexpected greeting {hello}")
        await ws.send_json({"type": "auth", "access_token": token})
        reply = await ws.receive_json(timeout=WS_TIMEOUT)
        if reply.get("type") != "auth_ok":
            raise DemoError(f"websocket: authentication failed: {reply}")
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for message in self._ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                received = time.perf_counter()
                data = json.loads(message.data)
                for item in data if isinstance(data, list) else [data]:
                    if item.get("type") == "event":
                        self.events.put_nowait((received, item["event"]))
                    elif (future := self._results.pop(item.get("id"), None)) and (
                        not future.done()
                    ):
                        future.set_result(item)
        finally:
            for future in self._results.values():
                if not future.done():
                    future.set_exception(DemoError("websocket closed"))

    async def command(self, message: dict[str, Any]) -> Any:
        """Send a command; return its result."""
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        self._results[self._next_id] = future
        await self._ws.send_json({"id": self._next_id, **message})
        async with asyncio.timeout(WS_TIMEOUT):
            reply = await future
        if not reply.get("success"):
            raise DemoError(f"websocket {message['type']}: {reply.get('error')}")
        return reply.get("result")

    async def close(self) -> None:
        """Close the connection."""
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


# ---------------------------------------------------------------- the stack


@dataclass
class Stack:
    """The simulator and Home Assistant, started and stopped together."""

    config_dir: Path
    port: int
    time_scale: float
    sim_port: int = 0
    develop: bool = False
    # scripts/demo --assist: Assist and the stand-in speech engines too.
    assist: bool = False
    sim: TimedSimulator = field(init=False)
    seed: DemoSeed = field(init=False)
    hass: HassProcess = field(init=False)
    sim_base_url: str = ""

    def __post_init__(self) -> None:
        """Create the parts without starting them."""
        self.sim = TimedSimulator(self.time_scale)
        self.hass = HassProcess(self.config_dir, self.port)

    async def start(self) -> None:
        """Start the simulator, then Home Assistant."""
        self.sim_base_url = await self.sim.start("127.0.0.1", self.sim_port)
        self.seed = self.sim.seed_demo()
        if self.develop:
            _keep_account_id(self.sim, self.seed, DEVELOP_ACCOUNT_ID)
        release_stale_run_lock(self.config_dir)
        prepare_config_dir(
            self.config_dir, self.port, develop=self.develop, assist=self.assist
        )
        await self.hass.start()

    async def stop(self) -> None:
        """Stop Home Assistant, then the simulator."""
        try:
            await self.hass.stop()
        finally:
            await self.sim.stop()


def _keep_account_id(sim: Simulator, seed: DemoSeed, account_id: str) -> None:
    """Give the demo account the same id at every start.

    ``seed_demo()`` draws a random account id, and the integration derives its
    device and entity ids from the account id: each restart of a persistent
    Home Assistant would add another last call sensor.
    """
    account = seed.account
    old = account.id
    del sim.accounts[old]
    account.id = account_id
    sim.accounts[account_id] = account
    for number in sim.numbers.values():
        if number.account_id == old:
            number.account_id = account_id


@contextlib.contextmanager
def _signals_cancel(task: asyncio.Task[Any]) -> Iterator[None]:
    """Turn SIGINT/SIGTERM into cancelling ``task`` (so that cleanup runs)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def _next_event(
    ws: HassWebSocket, predicate: Callable[[dict[str, Any]], bool], timeout: float
) -> tuple[float, dict[str, Any]]:
    async with asyncio.timeout(timeout):
        while True:
            received, event = await ws.events.get()
            if predicate(event):
                return received, event


async def _find_last_call_sensor(ws: HassWebSocket, entry_id: str) -> str:
    async with asyncio.timeout(WS_TIMEOUT):
        while True:
            entities = await ws.command({"type": "config/entity_registry/list"})
            for entity in entities:
                if entity.get("config_entry_id") == entry_id and entity[
                    "entity_id"
                ].startswith("sensor."):
                    return str(entity["entity_id"])
            await asyncio.sleep(0.2)


# ---------------------------------------------------------------------- demo


async def run_demo(args: argparse.Namespace) -> int:
    """Place one call through a real Home Assistant and tell what happened."""
    wall = time.perf_counter()
    remove_stale_config_dirs()
    config_dir = DEMO_DIR / f"config-{os.getpid()}"
    shutil.rmtree(config_dir, ignore_errors=True)
    stack = Stack(config_dir, _free_port(), args.time_scale, assist=args.assist)
    ok = False
    try:
        async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session:
            await stack.start()
            hass = stack.hass
            print(
                f"46elks simulator at {stack.sim_base_url} (time scale {args.time_scale})"
            )
            print(f"Home Assistant starting at {hass.url} (config {config_dir})")
            api = HassClient(session, hass.url)
            steps = await api.wait_up(hass, args.start_timeout)
            up = time.perf_counter() - hass.started_at
            await api.onboard(_fresh(steps))
            await api.wait_running(60)
            version = (await api.get("/api/config", "config"))["version"]
            print(
                f"  Home Assistant {version}: "
                f"HTTP API answering after {up:.1f} s; onboarded as {LOGIN_USERNAME!r} "
                f"over /api/onboarding, up and running after "
                f"{time.perf_counter() - hass.started_at:.1f} s"
            )
            entry = await api.add_elks(stack.sim_base_url, DEMO_VOICE_NUMBER)
            print(
                f"  integration added through the config flow: {entry['title']!r} "
                f"(entry {entry['entry_id']}), caller id {DEMO_VOICE_NUMBER}"
            )
            ws = await HassWebSocket.connect(session, hass.url, api.token or "")
            try:
                if args.assist:
                    ok = await run_assist_turn(
                        stack, api, ws, entry["entry_id"], args.time_scale
                    )
                else:
                    run = _incoming_call if args.incoming else _place_call
                    ok = await run(args, stack, api, ws, entry["entry_id"])
            finally:
                await ws.close()
            packages = installed_at_start(hass.log_file)
            if packages:
                print(
                    "WARNING: Home Assistant pip-installed at start: "
                    + ", ".join(packages)
                    + " (missing from requirements_demo.txt)"
                )
            else:
                print("Home Assistant installed no packages at start.")
    except DemoError as err:
        _report_failure(str(err), stack.hass)
    except TimeoutError:
        _report_failure("timed out (see the Home Assistant log)", stack.hass)
    finally:
        await stack.stop()
    print(f"Demo wall time {time.perf_counter() - wall:.1f} s (processes stopped).")
    if ok and not args.keep:
        shutil.rmtree(config_dir, ignore_errors=True)
    elif not ok:
        print(f"Kept {config_dir} for inspection.", file=sys.stderr)
    return 0 if ok else 1


async def _place_call(
    args: argparse.Namespace,
    stack: Stack,
    api: HassClient,
    ws: HassWebSocket,
    entry_id: str,
) -> bool:
    sensor = await _find_last_call_sensor(ws, entry_id)
    await ws.command({"type": "subscribe_events", "event_type": "elks_call_ended"})
    await ws.command({"type": "subscribe_events", "event_type": "state_changed"})
    before = await api.get(f"/api/states/{sensor}", "sensor state")
    states = [str(before["state"])]

    print(f"Calling {args.to} (play {args.play}) with elks.call:")
    sent = time.perf_counter()
    result = await api.post(
        "/api/services/elks/call?return_response",
        {"to": args.to, "play": args.play},
        "elks.call",
    )
    answered = time.perf_counter()
    calls = result["service_response"]["calls"]
    if len(calls) != 1:
        raise DemoError(f"elks.call: expected one call, got {result}")
    call_id = str(calls[0]["id"])
    print(f"  call id {call_id}, placed from {calls[0]['from']}: {calls[0]['state']}")

    def is_ours(event: dict[str, Any]) -> bool:
        if event["event_type"] == "elks_call_ended":
            return bool(event["data"].get("call_id") == call_id)
        return bool(event["data"].get("entity_id") == sensor)

    ended: tuple[float, dict[str, Any]] | None = None
    final: tuple[float, str] | None = None
    async with asyncio.timeout(args.call_timeout):
        while ended is None or final is None:
            received, event = await _next_event(ws, is_ours, args.call_timeout)
            if event["event_type"] == "elks_call_ended":
                ended = (received, event)
                continue
            new_state = event["data"].get("new_state") or {}
            state = str(new_state.get("state"))
            if state != states[-1]:
                states.append(state)
            if (
                new_state.get("attributes", {}).get("id") == call_id
                and state != "ongoing"
            ):
                final = (received, state)

    assert ended is not None
    assert final is not None
    print(f"  {sensor}: {' -> '.join(states)}")
    print(f"  elks_call_ended: {json.dumps(ended[1]['data'], sort_keys=True)}")
    timings: list[tuple[str, float]] = []
    posted = [
        request
        for request in stack.sim.requests
        if request.method == "POST" and request.path.lower().rstrip("/") == "/a1/calls"
    ]
    if posted:
        timings.append(
            (
                "action call -> simulator received POST /a1/calls",
                posted[-1].received_at - sent,
            )
        )
    timings.append(("action call -> action response", answered - sent))
    if (hangup_at := stack.sim.hangup_sent_at.get(call_id)) is not None:
        timings.append(
            ("action call -> simulator sends hangup webhook", hangup_at - sent)
        )
        timings.append(
            ("hangup webhook POST -> sensor update (websocket)", final[0] - hangup_at)
        )
        timings.append(
            ("hangup webhook POST -> elks_call_ended (websocket)", ended[0] - hangup_at)
        )
        delivered = [
            d
            for d in stack.sim.deliveries
            if d.call_id == call_id and d.kind == "whenhangup"
        ]
        if delivered:
            timings.append(
                (
                    f"hangup webhook POST -> HTTP {delivered[-1].status} back",
                    delivered[-1].delivered_at - hangup_at,
                )
            )
    print("Timings (simulator in this process, one clock):")
    width = max(len(label) for label, _ in timings)
    for label, seconds in timings:
        print(f"  {label:<{width}}  {_ms(seconds):>9}")
    print(f"Call {call_id} ended: {final[1]}.")
    if final[1] != ended[1]["data"].get("state"):
        raise DemoError(
            f"sensor says {final[1]} but elks_call_ended says {ended[1]['data'].get('state')}"
        )
    return True


INCOMING_CALLER = "+46700000111"


async def _add_incoming(api: HassClient, entry_id: str, number_id: str) -> None:
    """Add the "Incoming calls" subentry through its flow: ring to trigger."""
    what = "incoming calls subentry flow"
    step = await api.post(
        "/api/config/config_entries/subentries/flow",
        {"handler": [entry_id, "incoming_call"]},
        what,
    )
    flow = f"/api/config/config_entries/subentries/flow/{step['flow_id']}"
    step = await api.post(flow, {"number_id": number_id}, what)
    if step.get("step_id") == "take_over":
        # The number leads elsewhere now: confirm taking it over.
        step = await api.post(flow, {}, what)
    if step.get("step_id") != "settings":
        raise DemoError(f"{what}: expected the settings step, got {step}")
    step = await api.post(
        flow,
        {
            "allow_anyone": False,
            "allowed": [INCOMING_CALLER],
            "allowed_action": "reject",
            "unknown_action": "reject",
            "no_answer": "record",
        },
        what,
    )
    if step.get("type") != "create_entry":
        raise DemoError(f"{what}: settings step: {step}")


async def _incoming_call(
    args: argparse.Namespace,
    stack: Stack,
    api: HassClient,
    ws: HassWebSocket,
    entry_id: str,
) -> bool:
    """Ring to trigger: a caller on the allow-list dials in, is rejected, the event fires."""
    number = stack.seed.voice_number
    await _add_incoming(api, entry_id, number.id)
    async with asyncio.timeout(WS_TIMEOUT):
        while not number.voice_start:
            await asyncio.sleep(0.1)
    print(f"  {number.number} now sends its calls to Home Assistant (incoming calls)")
    await ws.command({"type": "subscribe_events", "event_type": "elks_incoming_call"})
    print(f"{INCOMING_CALLER} dials {number.number} (POST /sim/dial_in):")
    sent = time.perf_counter()
    root = stack.sim_base_url.removesuffix("/a1")
    async with api.session.post(
        f"{root}/sim/dial_in", json={"from": INCOMING_CALLER, "to": number.number}
    ) as response:
        result = await _json(response, "dial in")
    dialled = time.perf_counter()
    call_id = result["call"]["id"]
    received, event = await _next_event(
        ws,
        lambda e: (
            e["event_type"] == "elks_incoming_call"
            and e["data"].get("call_id") == call_id
        ),
        args.call_timeout,
    )
    print(f"  answered: {result['answered']}; actions: {json.dumps(result['actions'])}")
    print(f"  elks_incoming_call: {json.dumps(event['data'], sort_keys=True)}")
    print("Timings (simulator in this process, one clock):")
    print(f"  dial in -> elks_incoming_call (websocket)  {_ms(received - sent):>9}")
    print(f"  dial in -> call over (whenhangup sent)     {_ms(dialled - sent):>9}")
    if result["answered"] or event["data"].get("action") != "reject":
        raise DemoError("the allowed caller was not rejected without answering")
    print(f"Call {call_id} rang, was rejected without answering, and fired the event.")
    return True


def _fresh(steps: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if steps is None:
        raise DemoError("a fresh Home Assistant says it is onboarded already")
    return steps


async def _until_exit(hass: HassProcess) -> NoReturn:
    while hass.exited() is None:
        await asyncio.sleep(0.5)
    raise DemoError(f"Home Assistant exited with code {hass.exited()}")


def _report_failure(message: str, hass: HassProcess) -> None:
    lines = hass.log_tail()
    if lines:
        print("--- last lines of the Home Assistant log ---", file=sys.stderr)
        for line in lines:
            print(line, file=sys.stderr)
    print(f"demo FAILED: {message}", file=sys.stderr)


# ------------------------------------------------------------------- develop


async def run_develop(args: argparse.Namespace) -> int:
    """Run the stack until Ctrl-C, with the integration set up."""
    config_dir = DEMO_DIR / "develop"
    stack = Stack(
        config_dir, args.port, args.time_scale, sim_port=args.sim_port, develop=True
    )
    try:
        async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session:
            await stack.start()
            hass = stack.hass
            api = HassClient(session, hass.url)
            steps = await api.wait_up(hass, args.start_timeout)
            if steps is None:
                await api.login()
            else:
                await api.onboard(steps)
            await api.wait_running(60)
            entries = await api.wait_entries_settled(60)
            loaded = [e for e in entries if e.get("state") == "loaded"]
            for entry in entries:
                if entry not in loaded:
                    await api.delete(
                        f"/api/config/config_entries/entry/{entry['entry_id']}",
                        "remove stale entry",
                    )
            if not loaded:
                await api.add_elks(stack.sim_base_url, DEMO_VOICE_NUMBER)
            _print_develop_banner(stack, args)
            await _until_exit(hass)
    except DemoError as err:
        _report_failure(str(err), stack.hass)
        return 1
    except TimeoutError:
        _report_failure("timed out (see the Home Assistant log)", stack.hass)
        return 1
    except asyncio.CancelledError:
        print("\nStopping Home Assistant and the simulator ...")
        return 0
    finally:
        await stack.stop()


def _print_develop_banner(stack: Stack, args: argparse.Namespace) -> None:
    print()
    print(f"Home Assistant:   {stack.hass.url}")
    print(f"  login:          {LOGIN_USERNAME} / {LOGIN_PASSWORD}")
    print(f"  config dir:     {stack.config_dir} (log: home-assistant.log)")
    print(
        f"46elks simulator: {stack.sim_base_url} (time scale {args.time_scale}), "
        f"account {DEMO_USERNAME} / {DEMO_PASSWORD}, caller id {DEMO_VOICE_NUMBER}"
    )
    print("  callees:")
    for number, description in stack.seed.callees.items():
        print(f"    {number}  {description}")
    print(
        "Try: Developer tools > Actions > 46elks: Call, e.g.\n"
        "    action: elks.call\n"
        "    data:\n"
        f"      to: '{DEFAULT_CALLEE}'\n"
        f"      play: {DEFAULT_PLAY}\n"
        "and watch the last call sensor. Ctrl-C stops everything."
    )
    print(flush=True)


# ---------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser."""
    parser = argparse.ArgumentParser(
        prog="demo_driver.py", description=__doc__.split("\n\n")[0]
    )
    modes = parser.add_subparsers(dest="mode", required=True)
    demo = modes.add_parser("demo", help="place one call and tell what happened")
    demo.add_argument("--time-scale", type=float, default=0.05)
    demo.add_argument("--to", default=DEFAULT_CALLEE, help="number to call")
    demo.add_argument("--play", default=DEFAULT_PLAY, help="audio to play")
    demo.add_argument(
        "--incoming",
        action="store_true",
        help="a caller dials the demo number instead (incoming calls, ring to trigger)",
    )
    demo.add_argument("--start-timeout", type=float, default=HASS_START_TIMEOUT)
    demo.add_argument("--call-timeout", type=float, default=60.0)
    demo.add_argument(
        "--keep", action="store_true", help="keep the config dir after success"
    )
    demo.add_argument(
        "--assist",
        action="store_true",
        help="talk one turn to Assist by phone instead of placing a call",
    )
    develop = modes.add_parser("develop", help="run the stack until Ctrl-C")
    develop.add_argument("--port", type=int, default=8123)
    develop.add_argument("--sim-port", type=int, default=8046)
    develop.add_argument("--time-scale", type=float, default=1.0)
    develop.add_argument("--start-timeout", type=float, default=HASS_START_TIMEOUT)
    return parser


async def _main(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    with _signals_cancel(task):
        if args.mode == "develop":
            return await run_develop(args)
        return await run_demo(args)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen mode; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(_main(args))
    except KeyboardInterrupt, asyncio.CancelledError:
        print("demo interrupted; everything stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
