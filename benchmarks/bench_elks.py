"""Benchmarks of the 46elks integration, with baselines measured in the same run.

Run with ``scripts/bench`` (a pytest module, so that PHACC's ``hass`` and
HTTP fixtures host Home Assistant). Everything shares one process, one event
loop and one simulator on 127.0.0.1; see ``benchmarks/README.md``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
import cProfile
import gc
import json
import logging
import os
from pathlib import Path
import platform
import pstats
from statistics import median
import sys
import time
import tracemalloc
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_config_flow,
    mock_integration,
    mock_platform,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.elks.api import ElksClient
from custom_components.elks.const import (
    CONF_BASE_URL,
    CONF_CALLER_ID,
    CONF_RING_TIMEOUT,
    DOMAIN,
    EVENT_CALL_ENDED,
)
from custom_components.elks.escalation import EscalationManager
from custom_components.elks.runtime import ElksConfigEntry
from custom_components.elks.tracker import CallTracker
from custom_components.elks.webhook import ElksWebhook
from elks_simulator import Callee, Simulator, WebhookDelivery
from elks_simulator.models import DeliveryKind
from homeassistant.components import tts, webhook
from homeassistant.components.event import EventEntity
from homeassistant.components.tts.const import DATA_TTS_MANAGER
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_USERNAME,
    CONF_WEBHOOK_ID,
    EVENT_STATE_CHANGED,
    Platform,
    __version__ as ha_version,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import storage
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component

from .stats import Report, Summary

RESULTS = Path(__file__).parent / "results" / "latest.json"

USERNAME = "u0123456789abcdef0123456789abcdef"
PASSWORD = "bench-api-password"
WEBHOOK_ID = "bench0123456789abcdef0123456789abcdefwebhook"
NOOP_WEBHOOK_ID = "bench0123456789abcdef0123456789abcdefnoop"
FLOOR_WEBHOOK_ID = "bench0123456789abcdef0123456789abcdeffloor"
# As many fields as elks_call_ended carries.
FLOOR_EVENT_DATA: dict[str, Any] = {
    "config_entry_id": "01J0000000000000000000000",
    "device_id": "0123456789abcdef0123456789abcdef",
    "call_id": "c0123456789abcdef0123456789abcd",
    "from": "+46766860001",
    "to": "+46701000001",
    "state": "failed",
    "direction": "outgoing",
    "created": "2026-01-01T00:00:00+00:00",
    "start": None,
    "cost": 0,
    "duration": 0,
    "acknowledged": None,
    "outcome": "failed",
}
CALLER_ID = "+46766860001"
SENSOR = "sensor.home_last_call"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
RING_TIMEOUT = 300  # s; "ringing" callees stay unfinished for the whole run

# Numbers: the integration calls RINGING (never answered during the run),
# rest_command and bare aiohttp call OTHER (same script, other numbers, so
# that the integration never sees their calls); BUSY end at once.
POOL = 250
RINGING = [f"+4670100{i:04d}" for i in range(POOL)]
OTHER = [f"+4670200{i:04d}" for i in range(POOL)]
BUSY = [f"+4670300{i:04d}" for i in range(POOL)]
# Busy after a short ring, so that each hangup follows its POST response:
# the escalation gap is then the integration's own hangup -> next POST.
SHORT_BUSY = [f"+4670400{i:04d}" for i in range(POOL)]
SHORT_RING = 0.005  # s

LATENCY_RUNS = 200
LATENCY_WARMUP = 10
FANOUT_RUNS = {1: 40, 10: 30, 50: 20}
DIY_RUNS = 10
BARE_FANOUT_RUNS = 20
SETUP_RUNS = 20
E2E_RUNS = 200
INGEST_CALLS = 500
INGEST_ROUNDS = 5
INGEST_CONCURRENCY = 8
MEMORY_CALLS = 10_000
MEMORY_WARMUP = 500
MEMORY_BATCH = 50
ESCALATIONS = 40
ESCALATION_LENGTH = 5
ROUND_TRIP = 0.040  # s: 46elks at a realistic distance
DISTANT_RUNS = {1: 6, 50: 3}  # per repeat, interleaved with the floor
DISTANT_REPEATS = 5
# Ratios are also computed per repeat (a block of interleaved runs) and
# reported as min / median / max over the repeats: the spread of the noise.
REPEATS = 5
SPOKEN_RECIPIENTS = 10
# ELKS_BENCH_PROFILE=DIR writes cProfile files of the hot paths to DIR.
PROFILE_DIR = os.environ.get("ELKS_BENCH_PROFILE")
PROFILE_CALLS = 2000
# ELKS_BENCH_ONLY=latency,ingest runs only those sections (while iterating;
# the escalation section needs latency's median).
ONLY = {s for s in os.environ.get("ELKS_BENCH_ONLY", "").split(",") if s}

QUIET_LOGGERS = ("", "homeassistant", "custom_components", "elks_simulator", "aiohttp")


class TimedSimulator(Simulator):
    """The simulator, noting when each ``whenhangup`` POST is started."""

    def __init__(self, time_scale: float) -> None:
        """Start with no hangups sent."""
        super().__init__(time_scale=time_scale)
        self.hangup_sent: dict[str, float] = {}

    async def _deliver(
        self,
        url: str,
        form: dict[str, str],
        kind: DeliveryKind,
        call_id: str | None,
    ) -> WebhookDelivery:
        if kind == "whenhangup" and call_id is not None:
            self.hangup_sent.setdefault(call_id, time.perf_counter())
        return await super()._deliver(url, form, kind, call_id)


@contextmanager
def quiet_logging() -> Iterator[None]:
    """Log at WARNING while measuring, so that debug logging costs nothing."""
    saved = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def rss_bytes() -> int:
    """Resident set size of this process (VmRSS)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def machine() -> dict[str, Any]:
    """Describe the machine the numbers were measured on."""
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "home_assistant": ha_version,
        "aiohttp": aiohttp.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def memory_category(filename: str) -> str:
    """Which part of the process an allocation belongs to."""
    for marker, name in (
        ("custom_components/elks", "integration (custom_components/elks)"),
        ("elks_simulator", "simulator"),
        ("homeassistant", "homeassistant"),
        ("aiohttp", "aiohttp"),
        ("/asyncio/", "asyncio"),
    ):
        if marker in filename:
            return name
    return "other"


class CountingSpeech(tts.TextToSpeechEntity):
    """A TTS engine that counts what it renders."""

    _attr_name = "Counting speech"
    _attr_unique_id = "counting_speech"
    _attr_supported_languages = ["en", "sv"]
    _attr_default_language = "en"
    renders = 0

    def get_tts_audio(
        self, message: str, language: str, options: dict[str, Any]
    ) -> tts.TtsAudioType:
        """Return stand-in audio, counting the render."""
        CountingSpeech.renders += 1
        return ("mp3", b"ID3" + message.encode())


TTS_ENGINE = "tts.counting_speech"


class FloorEvent(EventEntity):
    """A plain event entity: what Home Assistant itself costs per hangup."""

    _attr_name = "Floor"
    _attr_unique_id = "floor_event"
    _attr_event_types = ["ended"]

    @callback
    def ended(self, data: dict[str, Any]) -> None:
        """Trigger and write, as the integration's Call entity does."""
        self._trigger_event("ended", data)
        self.async_write_ha_state()


async def setup_floor_event(hass: HomeAssistant) -> FloorEvent:
    """Add one event entity of a test integration; return it."""
    entity = FloorEvent()

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, [Platform.EVENT])
        return True

    async def setup_event(
        hass: HomeAssistant, entry: ConfigEntry, add: AddConfigEntryEntitiesCallback
    ) -> None:
        add([entity])

    mock_integration(hass, MockModule("bench_floor", async_setup_entry=setup_entry))
    mock_platform(
        hass, "bench_floor.event", MockPlatform(async_setup_entry=setup_event)
    )
    mock_platform(hass, "bench_floor.config_flow")
    entry = MockConfigEntry(domain="bench_floor")
    entry.add_to_hass(hass)
    with mock_config_flow("bench_floor", ConfigFlow):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    assert entity.hass is not None
    return entity


async def setup_counting_tts(hass: HomeAssistant) -> None:
    """Set up ``tts`` with the counting engine (a test integration)."""
    assert await async_setup_component(hass, "tts", {})
    # Every message is rendered, not read from a disk cache an earlier run left.
    hass.data[DATA_TTS_MANAGER].use_file_cache = False

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, [Platform.TTS])
        return True

    async def setup_tts(
        hass: HomeAssistant, entry: ConfigEntry, add: AddConfigEntryEntitiesCallback
    ) -> None:
        add([CountingSpeech()])

    mock_integration(hass, MockModule("bench_speech", async_setup_entry=setup_entry))
    mock_platform(hass, "bench_speech.tts", MockPlatform(async_setup_entry=setup_tts))
    mock_platform(hass, "bench_speech.config_flow")
    entry = MockConfigEntry(domain="bench_speech")
    entry.add_to_hass(hass)
    with mock_config_flow("bench_speech", ConfigFlow):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()


@contextmanager
def counting_tts_streams() -> Iterator[list[int]]:
    """Count the TTS streams (audio URLs) made while inside."""
    made = [0]
    original = tts.async_create_stream

    def counted(*args: Any, **kwargs: Any) -> Any:
        made[0] += 1
        return original(*args, **kwargs)

    tts.async_create_stream = counted
    try:
        yield made
    finally:
        tts.async_create_stream = original


class Bench:
    """One Home Assistant, its HTTP server, the simulator and the baselines."""

    def __init__(
        self, hass: HomeAssistant, sim: TimedSimulator, client: TestClient[Any, Any]
    ) -> None:
        """Keep the parts; ``prepare`` sets them up."""
        self.hass = hass
        self.sim = sim
        self.client = client
        self.base_url = sim.base_url or ""
        self.session = aiohttp.ClientSession()
        self.auth = {"Authorization": aiohttp.encode_basic_auth(USERNAME, PASSWORD)}
        self.entry: MockConfigEntry | None = None
        self.ended = 0
        self.our_calls: list[str] = []
        self.hung_up: set[str] = set()
        self._next = 0
        self.hangup_url = str(client.make_url(f"/api/webhook/{WEBHOOK_ID}"))
        self.apart_url = ""
        self.noop_called = 0.0

    @property
    def tracker_sizes(self) -> dict[str, int]:
        """Internal sizes of the call tracker (private, read for the report)."""
        assert self.entry is not None
        entry: ElksConfigEntry = self.entry
        tracker = entry.runtime_data.tracker
        sizes: dict[str, int] = {
            "ongoing": tracker.ongoing_count,
            "uncertain": tracker.uncertain_count,
        }
        for name in ("_finished", "_parked", "_live"):
            if isinstance(value := vars(tracker).get(name), dict):
                sizes[name.lstrip("_")] = len(value)
        return sizes

    def numbers(self, pool: list[str], count: int) -> list[str]:
        """``count`` distinct numbers of ``pool``, rotating through it."""
        start = self._next
        self._next = (self._next + count) % len(pool)
        return [pool[(start + i) % len(pool)] for i in range(count)]

    def form(self, to: str) -> dict[str, str]:
        """Return the POST /a1/calls form the integration sends (for the baselines)."""
        return {
            "from": CALLER_ID,
            "to": to,
            "voice_start": json.dumps({"play": "sound/beep", "skippable": False}),
            "whenhangup": self.hangup_url,
            "timeout": str(RING_TIMEOUT),
        }

    async def call(self, numbers: list[str], pool_check: bool = True) -> list[str]:
        """Run ``elks.call`` (blocking) and return the placed call ids."""
        response = await self.hass.services.async_call(
            DOMAIN,
            "call",
            {"to": numbers, "play": "sound/beep"},
            blocking=True,
            return_response=True,
        )
        assert response is not None
        calls = response["calls"]
        assert isinstance(calls, list)
        assert not response["errors"], response["errors"]
        ids = [str(c["id"]) for c in calls if isinstance(c, dict)]
        assert len(ids) == len(numbers)
        self.our_calls += ids
        return ids

    async def escalate(self, numbers: list[str], **extra: Any) -> dict[str, Any]:
        """Run a sequential ``elks.call`` until it finished; return the escalation."""
        response = await self.hass.services.async_call(
            DOMAIN,
            "call",
            {"to": numbers, "mode": "sequential", "wait": True, **extra},
            blocking=True,
            return_response=True,
        )
        assert response is not None
        escalation = response["escalation"]
        assert isinstance(escalation, dict)
        return escalation

    async def rest_command(self, to: str, name: str = "elks_call") -> None:
        """Send the same POST through Home Assistant's ``rest_command``."""
        await self.hass.services.async_call(
            "rest_command", name, {"to": quote(to)}, blocking=True
        )

    async def bare(self, to: str, base_url: str | None = None) -> None:
        """Send the same POST with aiohttp alone: the floor."""
        async with self.session.post(
            f"{base_url or self.base_url}/calls", data=self.form(to), headers=self.auth
        ) as response:
            assert response.status == 200, await response.text()
            await response.read()

    async def posts_after(
        self, start: int, count: int, action: Awaitable[Any]
    ) -> list[float]:
        """Run ``action``; return when each of the ``count`` new POSTs arrived."""
        await action
        new = self.sim.requests[start:]
        arrived = [
            r.received_at
            for r in new
            if r.method == "POST" and r.path.lower() == "/a1/calls"
        ]
        assert len(arrived) == count, (len(arrived), count)
        assert all(r.status == 200 for r in new)
        return arrived

    def hangup_body(self, call_id: str, state: str = "failed") -> str:
        """Return the whenhangup form 46elks would send for one of our calls."""
        form = self.sim.whenhangup_form(self.sim.calls[call_id]) | {"state": state}
        return urlencode(form)

    async def post_all(
        self, path: str, bodies: list[str], concurrency: int
    ) -> tuple[float, list[float]]:
        """POST ``bodies`` to ``path`` over loopback; return (wall time, latencies)."""
        queue = list(reversed(bodies))
        latencies: list[float] = []

        async def worker() -> None:
            while queue:
                body = queue.pop()
                t0 = time.perf_counter()
                async with self.client.post(path, data=body, headers=FORM) as resp:
                    assert resp.status == 200
                    await resp.read()
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, latencies

    async def end_our_calls(self) -> None:
        """Hang up every call of ours still ringing (not timed)."""
        assert self.entry is not None
        ringing = [
            cid
            for cid in self.our_calls
            if self.sim.calls[cid].state == "ongoing" and cid not in self.hung_up
        ]
        path = f"/api/webhook/{WEBHOOK_ID}"
        await self.post_all(path, [self.hangup_body(c) for c in ringing], 8)
        self.hung_up.update(ringing)
        self.our_calls.clear()
        await self.hass.async_block_till_done()

    async def wait_ended(self, target: int, timeout: float = 60.0) -> None:
        """Wait until ``target`` calls have ended (elks_call_ended events)."""
        async with asyncio.timeout(timeout):
            while self.ended < target:
                await asyncio.sleep(0.005)


async def prepare(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator, apart_url: str
) -> Bench:
    """Start the simulator; set up HTTP, webhook, rest_command, script; client last."""
    sim = TimedSimulator(time_scale=1.0)
    account = sim.add_account(
        username=USERNAME,
        password=PASSWORD,
        displayname="Home",
        mobilenumber="+46700000000",
        balance=10**12,
    )
    sim.add_number(account, CALLER_ID, capabilities=("voice", "sms"))
    for number in RINGING + OTHER:
        sim.set_callee(number, Callee.no_answer())
    for number in BUSY:
        sim.set_callee(number, Callee.busy(after=0.0))
    for number in SHORT_BUSY:
        sim.set_callee(number, Callee.busy(after=SHORT_RING))
    base_url = await sim.start(host="127.0.0.1", port=0)

    for component in ("http", "webhook"):
        assert await async_setup_component(hass, component, {})
    # Before the test client: tts registers HTTP views.
    await setup_counting_tts(hass)
    # As Home Assistant's own server: views may be added after the start.
    hass.http.app.router.freeze = lambda: None  # type: ignore[method-assign]
    client: TestClient[Any, Any] = await hass_client_no_auth()
    await hass.config.async_update(external_url=str(client.make_url("")).rstrip("/"))
    bench = Bench(hass, sim, client)

    fixed = {k: v for k, v in bench.form("").items() if k != "to"}
    # The number comes URL-encoded ("%2B46..."): a script's templates would
    # turn a bare "+46..." into an integer.
    payload = urlencode(fixed, quote_via=quote) + "&to={{ to }}"
    assert await async_setup_component(
        hass,
        "rest_command",
        {
            "rest_command": {
                name: {
                    "url": f"{url}/calls",
                    "method": "post",
                    "payload": payload,
                    "content_type": "application/x-www-form-urlencoded",
                    "username": USERNAME,
                    "password": PASSWORD,
                }
                for name, url in (
                    ("elks_call", base_url),
                    ("elks_call_apart", apart_url),
                )
            }
        },
    )
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "call_each": {
                    "sequence": [
                        {
                            "repeat": {
                                "for_each": "{{ recipients }}",
                                "sequence": [
                                    {
                                        "action": "rest_command.elks_call",
                                        "data": {"to": "{{ repeat.item }}"},
                                    }
                                ],
                            }
                        }
                    ]
                }
            }
        },
    )

    async def noop(
        hass: HomeAssistant, webhook_id: str, request: web.Request
    ) -> web.Response | None:
        bench.noop_called = time.perf_counter()
        await request.read()
        return None

    webhook.async_register(hass, "bench", "no-op", NOOP_WEBHOOK_ID, noop)
    floor = await setup_floor_event(hass)

    async def state_and_event(
        hass: HomeAssistant, webhook_id: str, request: web.Request
    ) -> web.Response | None:
        # What any hangup must cost in Home Assistant: the Call entity's
        # state write and the elks_call_ended bus event, with as much data.
        await request.read()
        floor.ended(FLOOR_EVENT_DATA)
        hass.bus.async_fire("bench_call_ended", FLOOR_EVENT_DATA)
        return None

    webhook.async_register(
        hass, "bench", "state + event", FLOOR_WEBHOOK_ID, state_and_event
    )

    @callback
    def ended(event: Event[Any]) -> None:
        bench.ended += 1

    hass.bus.async_listen(EVENT_CALL_ENDED, ended)
    return bench


async def bench_setup(bench: Bench, report: Report) -> None:
    """Config entry setup time and the API requests it makes."""
    hass, sim = bench.hass, bench.sim
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        unique_id=next(iter(sim.accounts)),
        data={
            CONF_USERNAME: USERNAME,
            CONF_PASSWORD: PASSWORD,
            CONF_BASE_URL: bench.base_url,
            CONF_WEBHOOK_ID: WEBHOOK_ID,
        },
        options={CONF_CALLER_ID: CALLER_ID, CONF_RING_TIMEOUT: RING_TIMEOUT},
    )
    entry.add_to_hass(hass)
    times: list[float] = []
    requests: list[int] = []
    for run in range(SETUP_RUNS + 1):
        if run:
            assert await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
        start = len(sim.requests)
        t0 = time.perf_counter()
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        elapsed = time.perf_counter() - t0
        if run == 0:
            report.add(
                "setup", "first entry setup (cold: imports, platform)", elapsed * 1000
            )
        else:
            times.append(elapsed)
        requests.append(len(sim.requests) - start)
    bench.entry = entry
    report.add(
        "setup",
        "entry setup, warm (unload + setup) [wall]",
        Summary.of(times, "ms", 1000),
    )
    report.add(
        "setup",
        "API requests per entry setup",
        Summary.of([float(r) for r in requests], "requests"),
    )
    report.extra["setup_requests_paths"] = sorted(
        Counter(f"{r.method} {r.path}" for r in sim.requests).items()
    )


def per_repeat(
    ours: list[float], baseline: list[float], stat: str = "median"
) -> list[float]:
    """Return ``stat(ours) / stat(baseline)`` in each of REPEATS blocks."""
    ours_size, base_size = len(ours) // REPEATS, len(baseline) // REPEATS
    ratios: list[float] = []
    for k in range(REPEATS):
        o = getattr(Summary.of(ours[k * ours_size : (k + 1) * ours_size], ""), stat)
        b = getattr(Summary.of(baseline[k * base_size : (k + 1) * base_size], ""), stat)
        ratios.append(o / b)
    return ratios


async def bench_latency(bench: Bench, report: Report) -> None:
    """From the action call to the POST arriving at the simulator."""
    sim = bench.sim
    ours: list[float] = []
    ours_done: list[float] = []
    rest: list[float] = []
    bare: list[float] = []
    methods: list[tuple[list[float], Callable[[str], Awaitable[Any]], list[str]]] = [
        (ours, lambda to: bench.call([to]), RINGING),
        (rest, bench.rest_command, OTHER),
        (bare, bench.bare, OTHER),
    ]
    for run in range(LATENCY_WARMUP + LATENCY_RUNS):
        # Rotate the order so that no method always runs first.
        for k in range(3):
            samples, method, pool = methods[(run + k) % 3]
            [to] = bench.numbers(pool, 1)
            start = len(sim.requests)
            t0 = time.perf_counter()
            [arrived] = await bench.posts_after(start, 1, method(to))
            done = time.perf_counter()
            if run >= LATENCY_WARMUP:
                samples.append(arrived - t0)
                if samples is ours:
                    ours_done.append(done - t0)
    o, r, b = (Summary.of(x, "ms", 1000) for x in (ours, rest, bare))
    report.add("latency", "elks.call -> POST /a1/calls arrived", o)
    report.add("latency", "rest_command -> POST arrived (HA baseline)", r)
    report.add("latency", "bare aiohttp POST -> arrived (floor)", b)
    report.add(
        "latency",
        "elks.call until the action returned",
        Summary.of(ours_done, "ms", 1000),
    )
    for stat in ("median", "p95"):
        for baseline, name in ((rest, "rest_command"), (bare, "bare aiohttp")):
            report.ratio(
                f"latency {stat}: ours / {name}",
                getattr(o, stat),
                getattr(Summary.of(baseline, "ms", 1000), stat),
                spread=per_repeat(ours, baseline, stat),
            )
    await latency_split(bench, report)
    report.extra["latency_median_ms"] = o.median
    report.extra["rest_command_median_ms"] = r.median
    report.extra["latency_samples_s"] = ours


async def latency_split(bench: Bench, report: Report) -> None:
    """Split action -> POST arrived at the start of aiohttp's request.

    Before it: the action's own work (Home Assistant's service call, the
    schema, ours or rest_command's). After it: aiohttp and the simulator,
    the same for both.
    """
    started: list[float] = []
    original = aiohttp.ClientSession._request  # noqa: SLF001

    def noting(*args: Any, **kwargs: Any) -> Any:
        started.append(time.perf_counter())
        return original(*args, **kwargs)

    samples: dict[str, tuple[list[float], list[float]]] = {
        "elks.call": ([], []),
        "rest_command": ([], []),
    }
    methods: list[tuple[str, Callable[[str], Awaitable[Any]], list[str]]] = [
        ("elks.call", lambda to: bench.call([to]), RINGING),
        ("rest_command", bench.rest_command, OTHER),
    ]
    aiohttp.ClientSession._request = noting  # type: ignore[method-assign]  # noqa: SLF001
    try:
        for run in range(LATENCY_RUNS):
            for k in range(2):
                name, method, pool = methods[(run + k) % 2]
                [to] = bench.numbers(pool, 1)
                started.clear()
                start = len(bench.sim.requests)
                t0 = time.perf_counter()
                [arrived] = await bench.posts_after(start, 1, method(to))
                samples[name][0].append(started[0] - t0)
                samples[name][1].append(arrived - started[0])
    finally:
        aiohttp.ClientSession._request = original  # type: ignore[method-assign]  # noqa: SLF001
    for name, (before, after) in samples.items():
        report.add(
            "latency",
            f"  {name} -> aiohttp request starts",
            Summary.of(before, "ms", 1000),
        )
        report.add(
            "latency",
            f"  {name}: request starts -> POST arrived",
            Summary.of(after, "ms", 1000),
        )
    ours, rest = samples["elks.call"][0], samples["rest_command"][0]
    report.ratio(
        "latency median, before the request: ours / rest_command",
        Summary.of(ours, "").median,
        Summary.of(rest, "").median,
        spread=per_repeat(ours, rest),
    )


async def bench_fanout(bench: Bench, report: Report) -> None:
    """One action to many recipients, until every POST arrived."""
    sim = bench.sim
    medians: dict[str, float] = {}
    requests = 0
    recipients = 0
    for count, runs in FANOUT_RUNS.items():
        walls: list[float] = []
        for _ in range(runs):
            numbers = bench.numbers(RINGING, count)
            start = len(sim.requests)
            t0 = time.perf_counter()
            arrived = await bench.posts_after(start, count, bench.call(numbers))
            walls.append(max(arrived) - t0)
            requests += len(sim.requests) - start
            recipients += count
        summary = Summary.of(walls, "ms", 1000)
        medians[f"ours{count}"] = summary.median
        report.add("fan-out", f"elks.call to {count} -> all POSTs arrived", summary)

    walls = []
    for _ in range(DIY_RUNS):
        numbers = bench.numbers(OTHER, 50)
        start = len(sim.requests)
        t0 = time.perf_counter()
        action = bench.hass.services.async_call(
            "script",
            "call_each",
            {"recipients": [quote(n) for n in numbers]},
            blocking=True,
        )
        arrived = await bench.posts_after(start, 50, action)
        walls.append(max(arrived) - t0)
    diy = Summary.of(walls, "ms", 1000)
    report.add("fan-out", "script: 50 x rest_command in sequence (DIY)", diy)

    ours50: list[float] = []
    walls = []
    for _ in range(BARE_FANOUT_RUNS):
        # Interleaved: ours and the floor under the same load.
        numbers = bench.numbers(RINGING, 50)
        start = len(sim.requests)
        t0 = time.perf_counter()
        arrived = await bench.posts_after(start, 50, bench.call(numbers))
        ours50.append(max(arrived) - t0)
        numbers = bench.numbers(OTHER, 50)
        start = len(sim.requests)
        t0 = time.perf_counter()
        gathered = asyncio.gather(*(bench.bare(n) for n in numbers))
        arrived = await bench.posts_after(start, 50, gathered)
        walls.append(max(arrived) - t0)
    interleaved = Summary.of(ours50, "ms", 1000)
    report.add("fan-out", "elks.call to 50, interleaved with the floor", interleaved)
    floor = Summary.of(walls, "ms", 1000)
    report.add("fan-out", "50 concurrent bare aiohttp POSTs (floor)", floor)
    report.ratio("fan-out 50 median: ours / DIY script", medians["ours50"], diy.median)
    report.ratio(
        "fan-out 50 median: ours / bare aiohttp (interleaved)",
        interleaved.median,
        floor.median,
        spread=per_repeat(ours50, walls),
    )
    report.ratio(
        "fan-out median: ours 50 / ours 1", medians["ours50"], medians["ours1"]
    )
    report.add(
        "requests", "API requests per placed call (fan-out runs)", requests / recipients
    )


async def bench_e2e(bench: Bench, report: Report) -> None:
    """From the simulator's hangup POST to the sensor's state change."""
    hass, sim = bench.hass, bench.sim
    delays: list[float] = []
    changed_at: dict[str, float] = {}

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if new is not None and new.state not in ("ongoing", "unknown"):
            changed_at.setdefault(str(new.attributes.get("id")), time.perf_counter())

    unsub = async_track_state_change_event(hass, [SENSOR], changed)
    for _ in range(E2E_RUNS):
        sim.faults.hold_webhooks()
        [call_id] = await bench.call(bench.numbers(BUSY, 1))
        async with asyncio.timeout(10):
            while not sim.faults.held:
                await asyncio.sleep(0)
        sim.faults.release_webhooks()
        async with asyncio.timeout(10):
            while call_id not in changed_at:
                await asyncio.sleep(0)
        delays.append(changed_at[call_id] - sim.hangup_sent[call_id])
    unsub()
    await hass.async_block_till_done()
    report.add(
        "webhook",
        "simulator hangup POST -> sensor state changed",
        Summary.of(delays, "ms", 1000),
    )


async def bench_ingest(bench: Bench, report: Report) -> None:
    """Hangups per second into state + event, against a no-op webhook."""
    hass = bench.hass
    ours_rates: list[float] = []
    noop_rates: list[float] = []
    ours_lat: list[float] = []
    noop_lat: list[float] = []
    floor_rates: list[float] = []
    writes = Counter[str]()
    counting = False

    @callback
    def state_written(event: Event[EventStateChangedData]) -> None:
        if counting:
            writes[event.data["entity_id"]] += 1

    unsub = hass.bus.async_listen(EVENT_STATE_CHANGED, state_written)
    hangups = 0
    for _ in range(INGEST_ROUNDS):
        ids: list[str] = []
        for _ in range(INGEST_CALLS // MEMORY_BATCH):
            ids += await bench.call(bench.numbers(RINGING, MEMORY_BATCH))
        bodies = [bench.hangup_body(cid) for cid in ids]
        before = bench.ended
        counting = True
        wall, lat = await bench.post_all(
            f"/api/webhook/{WEBHOOK_ID}", bodies, INGEST_CONCURRENCY
        )
        await hass.async_block_till_done()
        counting = False
        hangups += len(bodies)
        assert bench.ended - before == len(ids), "hangups lost or applied twice"
        bench.hung_up.update(ids)
        ours_rates.append(len(bodies) / wall)
        ours_lat += lat
        wall, lat = await bench.post_all(
            f"/api/webhook/{NOOP_WEBHOOK_ID}", bodies, INGEST_CONCURRENCY
        )
        noop_rates.append(len(bodies) / wall)
        noop_lat += lat
        wall, _ = await bench.post_all(
            f"/api/webhook/{FLOOR_WEBHOOK_ID}", bodies, INGEST_CONCURRENCY
        )
        floor_rates.append(len(bodies) / wall)
    unsub()
    ours = Summary.of(ours_rates, "hangups/s")
    noop = Summary.of(noop_rates, "requests/s")
    report.add(
        "webhook",
        "state writes per hangup (all entities)",
        sum(writes.values()) / hangups,
    )
    report.extra["state_writes_by_entity"] = {k: v / hangups for k, v in writes.items()}
    report.add(
        "webhook", f"hangup ingest ({INGEST_CONCURRENCY} in flight), per round", ours
    )
    report.add("webhook", "no-op webhook handler, same stack (floor)", noop)
    floor = Summary.of(floor_rates, "requests/s")
    report.add(
        "webhook", "webhook with 1 event entity write + 1 bus event (HA floor)", floor
    )
    report.add("webhook", "hangup POST round trip", Summary.of(ours_lat, "ms", 1000))
    report.add(
        "webhook", "no-op webhook POST round trip", Summary.of(noop_lat, "ms", 1000)
    )
    report.ratio(
        "ingest rate median: no-op / ours (slowdown)",
        noop.median,
        ours.median,
        spread=[n / o for n, o in zip(noop_rates, ours_rates, strict=True)],
    )
    report.ratio(
        "ingest rate median: no-op / (1 state write + 1 bus event) (HA's share)",
        noop.median,
        floor.median,
        spread=[n / f for n, f in zip(noop_rates, floor_rates, strict=True)],
    )
    report.ratio(
        "ingest rate median: (1 state write + 1 bus event) / ours (our share)",
        floor.median,
        ours.median,
        spread=[f / o for f, o in zip(floor_rates, ours_rates, strict=True)],
    )


async def bench_escalation(bench: Bench, report: Report) -> None:
    """Escalations: from the hangup of call k to the POST of call k + 1."""
    sim = bench.sim
    gaps: list[float] = []
    for _ in range(ESCALATIONS):
        numbers = bench.numbers(SHORT_BUSY, ESCALATION_LENGTH)
        start = len(sim.requests)
        escalation = await bench.escalate(numbers, play="sound/beep")
        assert escalation["result"] == "exhausted", escalation
        posted = {
            r.form.get("to"): r.received_at
            for r in sim.requests[start:]
            if r.method == "POST" and r.path.lower() == "/a1/calls"
        }
        attempts = escalation["attempts"]
        assert len(attempts) == len(numbers) == len(posted)
        for previous, following in zip(attempts, attempts[1:], strict=False):
            gaps.append(posted[following["to"]] - sim.hangup_sent[previous["call_id"]])
    gap = Summary.of(gaps, "ms", 1000)
    report.add("escalation", "hangup of call k -> POST of call k+1", gap)
    latency = report.extra["latency_median_ms"]
    samples = report.extra.pop("latency_samples_s")
    report.ratio(
        "escalation gap median: gap / elks.call -> POST",
        gap.median,
        latency,
        spread=per_repeat(gaps, samples),
    )
    report.ratio("escalation gap p95: gap / elks.call -> POST median", gap.p95, latency)
    await escalation_breakdown(bench, report)
    delivery = await webhook_delivery(bench)
    report.add(
        "escalation",
        "floor: a POST to a no-op webhook -> its handler runs",
        delivery,
    )
    floor = delivery.median + report.extra["rest_command_median_ms"]
    report.add(
        "escalation", "floor: that + rest_command -> POST arrived [median]", floor
    )
    report.ratio(
        "escalation gap median: gap / floor (HA's own share)", gap.median, floor
    )
    report.ratio(
        "escalation floor / elks.call -> POST (the 2x target's floor)", floor, latency
    )


GAP_STEPS = (
    ("simulator starts the hangup POST", None),
    ("integration's webhook handler runs", (ElksWebhook, "_async_handle_request")),
    ("tracker gets the checked hangup", (CallTracker, "hangup_received")),
    (
        "state writes + bus event done, waiters resolved",
        (CallTracker, "_resolve_waiters"),
    ),
    ("escalation task runs again", (EscalationManager, "_async_attempt")),
    ("client places the next call", (ElksClient, "place_call")),
    ("aiohttp request starts", (aiohttp.ClientSession, "_request")),
    ("simulator has the POST", None),
)


@contextmanager
def stamping(marks: dict[str, list[float]]) -> Iterator[None]:
    """Note when each step of GAP_STEPS starts (wrapping the methods)."""
    saved: list[tuple[type, str, Any]] = []
    for name, where in GAP_STEPS:
        if where is None:
            continue
        cls, attr = where
        original = getattr(cls, attr)
        saved.append((cls, attr, original))
        stamps = marks.setdefault(name, [])

        def wrapper(
            *args: Any, _o: Any = original, _s: list[float] = stamps, **kwargs: Any
        ) -> Any:
            _s.append(time.perf_counter())
            return _o(*args, **kwargs)

        setattr(cls, attr, wrapper)
    try:
        yield
    finally:
        for cls, attr, original in saved:
            setattr(cls, attr, original)


async def escalation_breakdown(bench: Bench, report: Report) -> None:
    """Where the gap goes: the median time between consecutive steps."""
    sim = bench.sim
    steps: dict[str, list[float]] = {}
    names = [name for name, _ in GAP_STEPS]
    for _ in range(ESCALATIONS // 2):
        marks: dict[str, list[float]] = {}
        start = len(sim.requests)
        with stamping(marks):
            escalation = await bench.escalate(
                bench.numbers(SHORT_BUSY, ESCALATION_LENGTH), play="sound/beep"
            )
        posted = {
            r.form.get("to"): r.received_at
            for r in sim.requests[start:]
            if r.method == "POST" and r.path.lower() == "/a1/calls"
        }
        attempts = escalation["attempts"]
        for previous, following in zip(attempts, attempts[1:], strict=False):
            times = [sim.hangup_sent[previous["call_id"]]]
            for name in names[1:-1]:
                times.append(min(t for t in marks[name] if t > times[-1]))
            times.append(posted[following["to"]])
            for before, after, t0, t1 in zip(
                names, names[1:], times, times[1:], strict=False
            ):
                steps.setdefault(f"  {before} -> {after}", []).append(t1 - t0)
    for name, values in steps.items():
        report.add("escalation", name, Summary.of(values, "ms", 1000))


async def webhook_delivery(bench: Bench) -> Summary:
    """Time from starting a hangup POST (a client like the simulator's) to the handler."""
    delays: list[float] = []
    body = urlencode(FLOOR_EVENT_DATA | {"start": ""})
    url = str(bench.client.make_url(f"/api/webhook/{NOOP_WEBHOOK_ID}"))
    for _ in range(LATENCY_RUNS):
        t0 = time.perf_counter()
        async with bench.session.post(url, data=body, headers=FORM) as response:
            assert response.status == 200
            await response.read()
        delays.append(bench.noop_called - t0)
    return Summary.of(delays, "ms", 1000)


@asynccontextmanager
async def simulator_apart(round_trip: float) -> AsyncIterator[str]:
    """Run 46elks in its own process (``benchmarks/distant.py``); yield its API URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.distant",
        f"--round-trip={round_trip}",
        f"--short-busy={SHORT_BUSY[0][:-4]}",
        f"--username={USERNAME}",
        f"--password={PASSWORD}",
        f"--caller={CALLER_ID}",
        cwd=Path(__file__).parent.parent,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            line = (await process.stdout.readline()).decode()
        assert line.startswith("ELKS_SIMULATOR_URL="), line
        yield line.partition("=")[2].strip()
    finally:
        process.terminate()
        await process.wait()


async def point_entry_at(bench: Bench, base_url: str) -> None:
    """Reload the config entry against another 46elks (not timed)."""
    hass, entry = bench.hass, bench.entry
    assert entry is not None
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_BASE_URL: base_url}
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()


async def distant_arrivals(bench: Bench, base_url: str, since: int) -> dict[str, Any]:
    """When the distant simulator saw each POST /a1/calls from request ``since`` on."""
    root = base_url.removesuffix("/a1")
    async with bench.session.get(f"{root}/sim/bench/arrivals?since={since}") as resp:
        assert resp.status == 200
        data: dict[str, Any] = await resp.json()
    return data


async def distant_block(
    bench: Bench, base_url: str, count: int, runs: int
) -> tuple[list[float], list[float], list[float]]:
    """Time ``runs`` actions to ``count`` and as many gathers of bare POSTs.

    Interleaved; returns (ours returned, ours all arrived, bare all returned).
    """
    returned: list[float] = []
    arrivals: list[float] = []
    floor: list[float] = []
    for _ in range(runs):
        since = (await distant_arrivals(bench, base_url, 0))["count"]
        t0 = time.perf_counter()
        await bench.call(bench.numbers(RINGING, count))
        returned.append(time.perf_counter() - t0)
        arrived = (await distant_arrivals(bench, base_url, since))["arrived"]
        assert len(arrived) == count, (len(arrived), count)
        arrivals.append(max(arrived) - t0)
        numbers = bench.numbers(OTHER, count)
        t0 = time.perf_counter()
        await asyncio.gather(*(bench.bare(n, base_url) for n in numbers))
        floor.append(time.perf_counter() - t0)
    return returned, arrivals, floor


async def apart_latency(bench: Bench, report: Report) -> float:
    """Measure action -> POST arrived against the simulator apart; return our median."""
    url = bench.apart_url
    samples: dict[str, list[float]] = {"ours": [], "rest": [], "bare": []}
    methods: list[tuple[str, Callable[[str], Awaitable[Any]], list[str]]] = [
        ("ours", lambda to: bench.call([to]), RINGING),
        ("rest", lambda to: bench.rest_command(to, "elks_call_apart"), OTHER),
        ("bare", lambda to: bench.bare(to, url), OTHER),
    ]
    for run in range(LATENCY_WARMUP + LATENCY_RUNS):
        for k in range(3):
            name, method, pool = methods[(run + k) % 3]
            [to] = bench.numbers(pool, 1)
            since = (await distant_arrivals(bench, url, 0))["count"]
            t0 = time.perf_counter()
            await method(to)
            [arrived] = (await distant_arrivals(bench, url, since))["arrived"]
            if run >= LATENCY_WARMUP:
                samples[name].append(arrived - t0)
    o, r, b = (Summary.of(samples[k], "ms", 1000) for k in ("ours", "rest", "bare"))
    report.add("apart", "elks.call -> POST /a1/calls arrived", o)
    report.add("apart", "rest_command -> POST arrived (HA baseline)", r)
    report.add("apart", "bare aiohttp POST -> arrived (floor)", b)
    for stat in ("median", "p95"):
        for baseline, name in (("rest", "rest_command"), ("bare", "bare aiohttp")):
            report.ratio(
                f"apart: latency {stat}: ours / {name}",
                getattr(o, stat),
                getattr(Summary.of(samples[baseline], "ms", 1000), stat),
                spread=per_repeat(samples["ours"], samples[baseline], stat),
            )
    report.extra["apart_latency_samples_s"] = samples["ours"]
    return o.median


async def apart_escalation(bench: Bench, report: Report, latency: float) -> None:
    """Hangup of call k -> POST of call k+1 against the simulator apart."""
    url = bench.apart_url
    gaps: list[float] = []
    for _ in range(ESCALATIONS):
        since = (await distant_arrivals(bench, url, 0))["count"]
        escalation = await bench.escalate(
            bench.numbers(SHORT_BUSY, ESCALATION_LENGTH), play="sound/beep"
        )
        assert escalation["result"] == "exhausted", escalation
        data = await distant_arrivals(bench, url, since)
        posted = dict(data["posts"])
        attempts = escalation["attempts"]
        for previous, following in zip(attempts, attempts[1:], strict=False):
            sent = data["hangup_sent"][previous["call_id"]]
            gaps.append(posted[following["to"]] - sent)
    gap = Summary.of(gaps, "ms", 1000)
    report.add("apart", "escalation: hangup of call k -> POST of call k+1", gap)
    report.ratio(
        "apart: escalation gap median: gap / elks.call -> POST",
        gap.median,
        latency,
        spread=per_repeat(gaps, report.extra.pop("apart_latency_samples_s")),
    )
    report.ratio(
        "apart: escalation gap p95: gap / elks.call -> POST median", gap.p95, latency
    )


async def bench_apart(bench: Bench, report: Report) -> None:
    """Latency and escalation gap with the simulator in its own process.

    In one process the simulator's own work (its server, its webhook client,
    its call lifecycles) runs on Home Assistant's loop between our steps;
    apart, only Home Assistant's and the integration's work is in the gap.
    """
    await point_entry_at(bench, bench.apart_url)
    latency = await apart_latency(bench, report)
    await apart_escalation(bench, report, latency)


async def bench_distance(bench: Bench, report: Report) -> None:
    """46elks 40 ms away in its own process: one action to 1 and to 50 people.

    Run last: the entry then points at the distant simulator, whose calls
    ring until the run ends.
    """
    ours: dict[int, list[float]] = {1: [], 50: []}
    arrived: dict[int, list[float]] = {1: [], 50: []}
    floors: dict[int, list[float]] = {1: [], 50: []}
    spread: dict[str, list[float]] = {"ours": [], "floor": []}
    async with simulator_apart(ROUND_TRIP) as base_url:
        await point_entry_at(bench, base_url)
        for _ in range(DISTANT_REPEATS):
            for count, runs in DISTANT_RUNS.items():
                o, a, f = await distant_block(bench, base_url, count, runs)
                ours[count] += o
                arrived[count] += a
                floors[count] += f
            one, many = DISTANT_RUNS[1], DISTANT_RUNS[50]
            spread["ours"].append(median(ours[50][-many:]) / median(ours[1][-one:]))
            spread["floor"].append(
                median(floors[50][-many:]) / median(floors[1][-one:])
            )
    summaries: dict[str, Summary] = {}
    for count in DISTANT_RUNS:
        for key, name, values in (
            ("ours", f"elks.call to {count}, 40 ms away -> action returned", ours),
            (
                "arrived",
                f"elks.call to {count}, 40 ms away -> all POSTs arrived",
                arrived,
            ),
            ("floor", f"{count} concurrent bare aiohttp, 40 ms away (floor)", floors),
        ):
            summaries[f"{key}{count}"] = Summary.of(values[count], "ms", 1000)
            report.add("distance", name, summaries[f"{key}{count}"])
    s = summaries
    report.ratio(
        "distance median: ours 50 / ours 1 (action returned)",
        s["ours50"].median,
        s["ours1"].median,
        spread=spread["ours"],
    )
    report.ratio(
        "distance p95: ours 50 / ours 1 (action returned)",
        s["ours50"].p95,
        s["ours1"].p95,
    )
    report.ratio(
        "distance median: ours 50 / bare aiohttp 50",
        s["ours50"].median,
        s["floor50"].median,
    )
    report.ratio(
        "distance median: bare aiohttp 50 / bare aiohttp 1 (the floor)",
        s["floor50"].median,
        s["floor1"].median,
        spread=spread["floor"],
    )


async def bench_spoken(bench: Bench, report: Report) -> None:
    """Spoken messages: TTS renders and audio URLs per action and per escalation."""
    hass = bench.hass
    spoken = {"message": "Smoke in the kitchen", "tts_engine": TTS_ENGINE}
    renders = CountingSpeech.renders
    with counting_tts_streams() as streams:
        await hass.services.async_call(
            DOMAIN,
            "call",
            {"to": bench.numbers(RINGING, SPOKEN_RECIPIENTS), **spoken},
            blocking=True,
            return_response=True,
        )
        await hass.async_block_till_done()
    report.add(
        "spoken",
        f"TTS renders, one action to {SPOKEN_RECIPIENTS}",
        float(CountingSpeech.renders - renders),
    )
    report.add(
        "spoken",
        f"TTS audio streams made, one action to {SPOKEN_RECIPIENTS}",
        float(streams[0]),
    )
    renders = CountingSpeech.renders
    with counting_tts_streams() as streams:
        escalation = await bench.escalate(
            bench.numbers(SHORT_BUSY, ESCALATION_LENGTH),
            message="Water leak in the basement",
            tts_engine=TTS_ENGINE,
            language="sv",
        )
        await hass.async_block_till_done()
    assert escalation["result"] == "exhausted", escalation
    report.add(
        "spoken",
        f"TTS renders, escalation of {ESCALATION_LENGTH}",
        float(CountingSpeech.renders - renders),
    )
    report.add(
        "spoken",
        f"TTS audio streams made, escalation of {ESCALATION_LENGTH}",
        float(streams[0]),
    )


def profile_stats(profile: cProfile.Profile, path: Path) -> list[str]:
    """Write ``profile`` to ``path``; return its top lines by own time."""
    profile.dump_stats(path)
    stats = pstats.Stats(str(path))
    lines: list[str] = []
    width = len(str(Path.cwd())) + 1
    entries = stats.stats  # type: ignore[attr-defined]
    top = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:25]
    for (filename, line, name), (_, calls, tottime, cumtime, _) in top:
        where = filename.split("site-packages/")[-1][width - 1 :]
        lines.append(
            f"{tottime * 1e6 / PROFILE_CALLS:8.1f} us/op own"
            f" {cumtime * 1e6 / PROFILE_CALLS:8.1f} us/op cum"
            f" {calls / PROFILE_CALLS:6.2f}/op  {where}:{line} {name}"
        )
    return lines


async def bench_profile(bench: Bench, directory: Path) -> None:
    """Profile the action path and the hangup path against their baselines."""
    directory.mkdir(parents=True, exist_ok=True)
    sim = bench.sim

    async def action(to: str) -> None:
        await bench.call([to])

    for name, method, pool in (
        ("elks_call", action, RINGING),
        ("rest_command", bench.rest_command, OTHER),
    ):
        profile = cProfile.Profile()
        for _ in range(PROFILE_CALLS):
            [to] = bench.numbers(pool, 1)
            profile.enable()
            await method(to)
            profile.disable()
        sim.requests.clear()
        print(f"\n== profile {name}, per action ==")
        print("\n".join(profile_stats(profile, directory / f"{name}.prof")))
    await bench.end_our_calls()

    ids: list[str] = []
    for _ in range(PROFILE_CALLS // MEMORY_BATCH):
        ids += await bench.call(bench.numbers(RINGING, MEMORY_BATCH))
    bodies = [bench.hangup_body(cid) for cid in ids]
    bench.hung_up.update(ids)
    for name, path in (
        ("hangup", f"/api/webhook/{WEBHOOK_ID}"),
        ("noop_webhook", f"/api/webhook/{NOOP_WEBHOOK_ID}"),
        ("floor_webhook", f"/api/webhook/{FLOOR_WEBHOOK_ID}"),
    ):
        profile = cProfile.Profile()
        profile.enable()
        await bench.post_all(path, bodies, INGEST_CONCURRENCY)
        await bench.hass.async_block_till_done()
        profile.disable()
        print(f"\n== profile {name}, per webhook ==")
        print("\n".join(profile_stats(profile, directory / f"{name}.prof")))
    bench.our_calls.clear()
    sim.requests.clear()


async def bench_memory(bench: Bench, report: Report) -> None:
    """Resident and Python-level growth over 10 000 calls and hangups."""
    hass, sim = bench.hass, bench.sim
    requests = 0
    placed = 0

    def forget_simulator_records() -> int:
        """Drop what the simulator and the test harness keep, so it does not count.

        PHACC's mock storage is a mock: it records every write's data (one
        snapshot of the tracker's finished ids per save) until reset.
        """
        write = storage.Store._async_write_data  # noqa: SLF001
        if (reset := getattr(write, "reset_mock", None)) is not None:
            reset()
        count = len(sim.requests)
        sim.requests.clear()
        sim.deliveries.clear()
        sim.hangup_sent.clear()
        for cid in [c for c, call in sim.calls.items() if call.finished.is_set()]:
            del sim.calls[cid]
        return count

    async def run(calls: int) -> None:
        nonlocal requests, placed
        target = bench.ended
        for _ in range(calls // MEMORY_BATCH):
            numbers = bench.numbers(BUSY, MEMORY_BATCH)
            target += len(numbers)
            await bench.call(numbers)
            placed += len(numbers)
            bench.our_calls.clear()
            await bench.wait_ended(target)
            requests += forget_simulator_records()
        await hass.async_block_till_done()

    forget_simulator_records()
    await run(MEMORY_WARMUP)
    requests = placed = 0
    gc.collect()
    rss0 = rss_bytes()
    tracemalloc.start(1)
    t0 = time.perf_counter()
    await run(MEMORY_CALLS // 2)
    gc.collect()
    rss_half = rss_bytes()
    traced_half = tracemalloc.get_traced_memory()[0]
    snapshot_half = tracemalloc.take_snapshot()
    await run(MEMORY_CALLS - MEMORY_CALLS // 2)
    elapsed = time.perf_counter() - t0
    gc.collect()
    rss1 = rss_bytes()
    snapshot = tracemalloc.take_snapshot()
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    by_category: Counter[str] = Counter()
    for stat in snapshot.statistics("filename"):
        by_category[memory_category(stat.traceback[0].filename)] += stat.size
    # Growth over the second 5000 calls: what keeps growing with the call count.
    growth: Counter[str] = Counter()
    for diff in snapshot.compare_to(snapshot_half, "filename"):
        growth[memory_category(diff.traceback[0].filename)] += diff.size_diff
    top = [
        f"{s.traceback[0].filename.split('site-packages/')[-1]}:{s.traceback[0].lineno}"
        f" {s.size / 1024:.1f} KiB ({s.count} blocks)"
        for s in snapshot.statistics("lineno")[:8]
    ]
    mib = 1024 * 1024
    report.add(
        "memory", f"calls placed and ended (after {MEMORY_WARMUP} warm-up)", str(placed)
    )
    report.add("memory", "calls per second (tracemalloc on)", placed / elapsed)
    report.add(
        "memory", "RSS growth over the first half [MiB]", (rss_half - rss0) / mib
    )
    report.add(
        "memory", "RSS growth over the second half [MiB]", (rss1 - rss_half) / mib
    )
    report.add("memory", "tracemalloc live at half [KiB]", traced_half / 1024)
    report.add("memory", "tracemalloc live at end [KiB]", traced / 1024)
    for category, size in by_category.most_common():
        report.add("memory", f"  live at end: {category} [KiB]", size / 1024)
    for category, size in growth.most_common():
        report.add("memory", f"  growth, second half: {category} [KiB]", size / 1024)
    for name, size in bench.tracker_sizes.items():
        report.add("memory", f"tracker size after run: {name}", str(size))
    report.add(
        "requests", "API requests per placed call (memory run)", requests / placed
    )
    report.extra["memory_top_lines"] = top
    ours = "integration (custom_components/elks)"
    report.ratio(
        "memory: integration growth over the second half / its live memory at half",
        growth[ours],
        sum(
            s.size
            for s in snapshot_half.statistics("filename")
            if memory_category(s.traceback[0].filename) == ours
        ),
    )
    report.extra["memory_growth_lines_integration"] = [
        f"{d.traceback[0].filename.split('custom_components/')[-1]}:"
        f"{d.traceback[0].lineno} {d.size_diff / 1024:+.1f} KiB ({d.count_diff:+d})"
        for d in snapshot.compare_to(snapshot_half, "lineno")[:200]
        if "custom_components/elks" in d.traceback[0].filename and d.size_diff
    ][:10]
    report.extra["rss_bytes"] = {"start": rss0, "half": rss_half, "end": rss1}


SECTIONS: dict[str, Callable[[Bench, Report], Awaitable[None]]] = {
    "latency": bench_latency,
    "fanout": bench_fanout,
    "escalation": bench_escalation,
    "spoken": bench_spoken,
    "e2e": bench_e2e,
    "ingest": bench_ingest,
    "memory": bench_memory,
    # Last: these point the entry at a simulator in its own process for good.
    "apart": bench_apart,
    "distance": bench_distance,
}


async def test_benchmarks(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    socket_enabled: None,
) -> None:
    """Measure everything in one run and print the table."""
    report = Report(machine(), [], [], {})
    t0 = time.perf_counter()
    stack = AsyncExitStack()
    apart_url = await stack.enter_async_context(simulator_apart(0.0))
    bench = await prepare(hass, hass_client_no_auth, apart_url)
    bench.apart_url = apart_url
    try:
        with quiet_logging():
            await bench_setup(bench, report)
            for name, section in SECTIONS.items():
                if not ONLY or name in ONLY:
                    await section(bench, report)
                if name == "ingest":
                    await bench.end_our_calls()
                    if PROFILE_DIR:
                        await bench_profile(bench, Path(PROFILE_DIR))
    finally:
        await bench.session.close()
        await bench.sim.stop()
        await stack.aclose()
    report.extra["total_seconds"] = time.perf_counter() - t0
    report.write_json(RESULTS)
    print("\n" + report.table())
    print(
        f"\ntotal {report.extra['total_seconds']:.1f} s; JSON: {RESULTS}",
        file=sys.stdout,
    )
