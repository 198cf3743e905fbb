"""Fixtures: a real Home Assistant, its HTTP stack and the 46elks simulator."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_config_flow,
    mock_integration,
    mock_platform,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.elks.const import (
    CONF_BASE_URL,
    CONF_CALLER_ID,
    CONF_RECIPIENT_NUMBER,
    CONF_RING_TIMEOUT,
    DOMAIN,
    SUBENTRY_RECIPIENT,
)
from elks_simulator import Account, Callee, Simulator
from homeassistant.components import tts
from homeassistant.components.tts.const import DATA_TTS_MANAGER as TTS_MANAGER
from homeassistant.config_entries import ConfigEntry, ConfigFlow, ConfigSubentryData
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME, CONF_WEBHOOK_ID, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.setup import async_setup_component

from .roads import CloudRelay, Restarter, Road, keep_router_open, relay_fixture

USERNAME = "u0123456789abcdef0123456789abcdef"
PASSWORD = "s3cret-api-password"
WEBHOOK_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0secretwebhookid"
MOBILE = "+46700000000"
CALLER_ID = "+46766860001"
SMS_ONLY = "+46766860002"
INACTIVE_VOICE = "+46766860003"
ANSWERS = "+46700000101"
BUSY = "+46700000102"
NO_ANSWER = "+46700000103"
FAILS = "+46700000104"
VOICEMAIL = "+46700000105"
PRESSES_1 = "+46700000106"
# Only guards against hangs (46elks gives up after ~10 s; tests do not).
WEBHOOK_TIMEOUT = 300.0


@dataclass
class Elks:
    """The simulator with the test account."""

    sim: Simulator
    account: Account
    base_url: str

    def call_posts(self) -> list[dict[str, str]]:
        """Forms of every POST /a1/calls the simulator received."""
        return [
            r.form
            for r in self.sim.requests
            if r.method == "POST" and r.path.lower() == "/a1/calls"
        ]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom integrations from this checkout."""


# Fixtures that receive the simulator's deliveries, when a test uses them.
RECEIVERS = ("restarter", "cloud_relay")


@pytest.fixture
def receivers_before_simulator(
    request: pytest.FixtureRequest,
    hass: HomeAssistant,
    aiohttp_client: Any,
    socket_enabled: None,
) -> None:
    """Set up everything on Home Assistant's side before the simulator.

    pytest tears fixtures down in reverse order, so the simulator stops (its
    deliveries cancelled) before Home Assistant, its HTTP servers
    (``aiohttp_client``), a restarted Home Assistant or the Cloud relay go
    away: no hangup reaches a closing server, on a fast or a slow machine.
    """
    for name in RECEIVERS:
        if name in request.fixturenames:
            request.getfixturevalue(name)


@pytest.fixture
async def elks(receivers_before_simulator: None) -> AsyncGenerator[Elks]:
    """Run the 46elks simulator on a loopback port, with one account."""
    # A webhook Home Assistant answers late is still one delivery: on a busy
    # machine the event loop can take longer than 46elks' 10 s, and a retry
    # would make a test count deliveries the machine's speed chose.
    sim = Simulator(time_scale=0.001, webhook_timeout=WEBHOOK_TIMEOUT)
    account = sim.add_account(
        username=USERNAME,
        password=PASSWORD,
        displayname="Home",
        mobilenumber=MOBILE,
        balance=10_000_000,
        currency="SEK",
    )
    sim.add_number(account, CALLER_ID, capabilities=("voice", "sms"), active=True)
    sim.add_number(account, SMS_ONLY, capabilities=("sms",), active=True)
    sim.add_number(account, INACTIVE_VOICE, capabilities=("voice",), active=False)
    sim.set_callee(ANSWERS, Callee.answer(after=2.0, talk=None))
    sim.set_callee(BUSY, Callee.busy())
    sim.set_callee(NO_ANSWER, Callee.no_answer())
    sim.set_callee(FAILS, Callee.fail())
    sim.set_callee(VOICEMAIL, Callee.voicemail(after=3.0))
    sim.set_callee(PRESSES_1, Callee.answer(after=1.0, presses=[(2.0, "1")]))
    base_url = await sim.start(host="127.0.0.1", port=0)
    yield Elks(sim, account, base_url)
    await sim.stop()


@pytest.fixture
def http_components() -> dict[str, dict[str, Any]]:
    """Return components (with config) that add routes; modules may add more."""
    return {"http": {}, "webhook": {}, "diagnostics": {}, "notify": {}}


@pytest.fixture
async def hass_http(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    http_components: dict[str, dict[str, Any]],
) -> TestClient:
    """Home Assistant's HTTP app on a loopback port, used as its external URL.

    Components that add routes are set up first: the router freezes once the
    test server starts.
    """
    for component, config in http_components.items():
        assert await async_setup_component(hass, component, {component: config})
    keep_router_open(hass.http.app)
    client = await hass_client_no_auth()
    await hass.config.async_update(external_url=str(client.make_url("")).rstrip("/"))
    return client


def entry_data(base_url: str, **overrides: Any) -> dict[str, Any]:
    """Config entry data for the test account."""
    return {
        CONF_USERNAME: USERNAME,
        CONF_PASSWORD: PASSWORD,
        CONF_BASE_URL: base_url,
        CONF_WEBHOOK_ID: WEBHOOK_ID,
    } | overrides


def recipient(name: str = "Carol", number: str = ANSWERS) -> ConfigSubentryData:
    """Return a recipient subentry as the UI stores it."""
    return ConfigSubentryData(
        data={CONF_RECIPIENT_NUMBER: number},
        subentry_type=SUBENTRY_RECIPIENT,
        title=name,
        unique_id=None,
    )


def add_account_entry(
    hass: HomeAssistant,
    elks: Elks,
    subentries: list[ConfigSubentryData] | None = None,
    **options: Any,
) -> MockConfigEntry:
    """Add the test account's config entry (not set up), with ``subentries``."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        unique_id=elks.account.id,
        data=entry_data(elks.base_url),
        options={CONF_CALLER_ID: CALLER_ID, CONF_RING_TIMEOUT: 60} | options,
        subentries_data=subentries or [],
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
def config_entry(hass: HomeAssistant, elks: Elks) -> MockConfigEntry:
    """Add the test account's config entry, not set up."""
    return add_account_entry(hass, elks)


@pytest.fixture
async def loaded_entry(
    hass: HomeAssistant, hass_http: TestClient, config_entry: MockConfigEntry
) -> MockConfigEntry:
    """Set up the test account, reachable for webhooks."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


HTTP_COMPONENTS_WITH_TTS: dict[str, dict[str, Any]] = {
    "http": {},
    "webhook": {},
    "diagnostics": {},
    "notify": {},
    "tts": {},
}


class SpeakingEntity(tts.TextToSpeechEntity):
    """A TTS engine that answers every message with a few MP3 bytes."""

    _attr_name = "Test speech"
    _attr_unique_id = "test_speech"
    _attr_supported_languages = ["en", "sv"]
    _attr_default_language = "en"
    # Messages rendered: what a test counts.
    renders = 0

    def get_tts_audio(
        self, message: str, language: str, options: dict[str, Any]
    ) -> tts.TtsAudioType:
        """Return stand-in audio, counting the render."""
        self.renders += 1
        return ("mp3", b"ID3" + message.encode())


@pytest.fixture
async def speech_engine(hass: HomeAssistant, hass_http: TestClient) -> str:
    """Set up a TTS engine from a test integration; return its entity id."""

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, [Platform.TTS])
        return True

    async def setup_tts(
        hass: HomeAssistant, entry: ConfigEntry, add: AddConfigEntryEntitiesCallback
    ) -> None:
        add([SpeakingEntity()])

    # Every message is rendered, not read from a disk cache an earlier run left.
    hass.data[TTS_MANAGER].use_file_cache = False
    mock_integration(hass, MockModule("test_speech", async_setup_entry=setup_entry))
    mock_platform(hass, "test_speech.tts", MockPlatform(async_setup_entry=setup_tts))
    mock_platform(hass, "test_speech.config_flow")
    entry = MockConfigEntry(domain="test_speech")
    entry.add_to_hass(hass)
    with mock_config_flow("test_speech", ConfigFlow):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    return "tts.test_speech"


@pytest.fixture(params=list(Road))
def road(request: pytest.FixtureRequest) -> Road:
    """Each test taking ``road`` runs once by HTTP and once through Home Assistant Cloud."""
    return Road(request.param)


@pytest.fixture
async def cloud_relay(hass: HomeAssistant) -> AsyncGenerator[CloudRelay]:
    """Home Assistant Cloud, subscribed: cloudhooks relay to Home Assistant."""
    async for relay in relay_fixture(hass):
        yield relay


@pytest.fixture
async def restarter(
    aiohttp_client: Any, http_components: dict[str, dict[str, Any]]
) -> AsyncGenerator[Restarter]:
    """Stop Home Assistant for real and start a new one on the same storage."""
    restarter = Restarter(aiohttp_client, http_components)
    yield restarter
    await restarter.close()
