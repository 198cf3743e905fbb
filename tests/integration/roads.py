"""The roads a webhook takes into Home Assistant, and a real restart.

46elks reaches Home Assistant in one of two ways, and tests walk both:

- ``Road.HTTP``: a real HTTP POST to ``/api/webhook/<id>`` (external URL,
  reverse proxy, open port);
- ``Road.CLOUD``: Home Assistant Cloud (cloudhooks). Nabu Casa relays the
  POST over its websocket and the cloud integration calls
  ``webhook.async_handle_webhook`` with a ``MockRequest`` built exactly as
  ``homeassistant/components/cloud/client.py`` builds it (no
  ``content_length``, no ``iter_chunked``, ``remote=None``). The websocket
  command ``webhook/handle`` takes the same road.

``CloudRelay`` stands in for Nabu Casa: a loopback server whose URL is the
cloudhook URL, so that the simulator's own deliveries (hangups, call-flow
requests) go through the Cloud road, answered with what Home Assistant
answered.

``Restarter`` stops Home Assistant as a real stop does (``hass.async_stop``:
background tasks cancelled, entries not unloaded, final writes) and starts a
new Home Assistant on the same storage and the same HTTP port, so that URLs
handed to 46elks before the restart still lead to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from enum import StrEnum
from typing import Any
from unittest.mock import patch
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from homeassistant import loader
from homeassistant.components import webhook
from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util.aiohttp import MockRequest, serialize_response

FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


class Road(StrEnum):
    """How a webhook reaches Home Assistant."""

    HTTP = "http"
    CLOUD = "cloud"


async def cloud_deliver(
    hass: HomeAssistant,
    webhook_id: str,
    body: str,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    query: str = "",
) -> tuple[int, str | None]:
    """Deliver as Home Assistant Cloud does (query string included); return status and body text."""
    request = MockRequest(
        content=body.encode("utf-8"),
        headers=FORM_HEADERS if headers is None else headers,
        method=method,
        query_string=query,
        mock_source="cloud",
        remote=None,
    )
    response = await webhook.async_handle_webhook(hass, webhook_id, request)  # type: ignore[arg-type]
    data = serialize_response(response)
    return int(data["status"]), data["body"]


def keep_router_open(app: web.Application) -> None:
    """Let integrations add views after the server started, as Home Assistant does.

    Its own server never freezes the router (``HomeAssistantHTTP.start``);
    aiohttp's test server would.
    """
    app.router.freeze = lambda: None  # type: ignore[method-assign]


async def deliver(
    hass: HomeAssistant,
    client: TestClient,
    webhook_id: str,
    form: dict[str, str] | str,
    road: Road,
    query: str = "",
) -> tuple[int, str | None]:
    """POST a form (or a raw body) to our webhook by ``road``, with ``query`` in its URL."""
    body = form if isinstance(form, str) else urlencode(form)
    if road is Road.CLOUD:
        return await cloud_deliver(hass, webhook_id, body, query=query)
    response = await client.post(
        f"/api/webhook/{webhook_id}{'?' if query else ''}{query}",
        data=body,
        headers=FORM_HEADERS,
    )
    text = await response.text()
    return response.status, text or None


class CloudRelay:
    """Nabu Casa in a box: a cloudhook URL that relays to the current Home Assistant."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Relay to ``hass`` until ``hass`` is replaced (after a restart)."""
        self.hass = hass
        self.deliveries = 0
        self._server: TestServer | None = None

    async def start(self) -> None:
        """Listen on a loopback port."""
        app = web.Application()
        app.router.add_route("*", "/hooks/{webhook_id}", self._relay)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            await self._server.close()

    def url(self, webhook_id: str) -> str:
        """Return the cloudhook URL for ``webhook_id``."""
        assert self._server is not None
        return str(self._server.make_url(f"/hooks/{webhook_id}"))

    async def _relay(self, request: web.Request) -> web.Response:
        self.deliveries += 1
        status, body = await cloud_deliver(
            self.hass,
            request.match_info["webhook_id"],
            await request.text(),
            method=request.method,
            headers=dict(request.headers),
            query=request.query_string,
        )
        if body is None:
            return web.Response(status=status)
        return web.Response(status=status, text=body, content_type="application/json")

    def active(self) -> AsyncExitStack:
        """Patch Home Assistant Cloud as subscribed, with this relay's cloudhooks.

        Apply to each Home Assistant (``hass.config.components`` is per
        instance); the patches themselves are process-wide.
        """
        relay = self

        async def create(hass: HomeAssistant, webhook_id: str) -> str:
            return relay.url(webhook_id)

        async def delete(hass: HomeAssistant, webhook_id: str) -> None:
            return None

        stack = AsyncExitStack()
        stack.enter_context(
            patch(
                "homeassistant.components.cloud.async_active_subscription",
                return_value=True,
            )
        )
        stack.enter_context(
            patch(
                "homeassistant.components.cloud.async_get_or_create_cloudhook", create
            )
        )
        stack.enter_context(
            patch("homeassistant.components.cloud.async_delete_cloudhook", delete)
        )
        return stack


SetUp = Callable[[HomeAssistant], Awaitable[None]]


class Restarter:
    """Stop Home Assistant for real and start a new one on the same storage."""

    def __init__(
        self,
        aiohttp_client: Callable[..., Awaitable[TestClient]],
        components: dict[str, dict[str, Any]],
    ) -> None:
        """Start each new Home Assistant with ``components`` set up first."""
        self._aiohttp_client = aiohttp_client
        self._components = components
        self._stack = AsyncExitStack()
        self._started: list[HomeAssistant] = []
        self.relay: CloudRelay | None = None

    async def restart(
        self,
        hass: HomeAssistant,
        client: TestClient,
        entry: MockConfigEntry,
        *,
        before_setup: SetUp | None = None,
        set_up_entry: bool = True,
    ) -> tuple[HomeAssistant, TestClient, MockConfigEntry]:
        """Stop ``hass``; return the new Home Assistant, its client and entry.

        ``before_setup`` runs on the new Home Assistant once its HTTP server
        listens and before the entry is set up (to deliver webhooks "during
        startup", say). The entry is added again as Home Assistant would load
        it from ``core.config_entries``.
        """
        port = client.server.port
        await hass.async_stop()
        await client.close()
        new_hass = await self._stack.enter_async_context(
            async_test_home_assistant(config_dir=hass.config.config_dir)
        )
        self._started.append(new_hass)
        # As the enable_custom_integrations fixture does for the first one.
        new_hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
        for component, config in self._components.items():
            assert await async_setup_component(new_hass, component, {component: config})
        keep_router_open(new_hass.http.app)
        new_client = await self._aiohttp_client(
            new_hass.http.app, server_kwargs={"host": "127.0.0.1", "port": port}
        )
        await new_hass.config.async_update(
            external_url=str(new_client.make_url("")).rstrip("/")
        )
        if self.relay is not None:
            self.relay.hass = new_hass
            new_hass.config.components.add("cloud")
        new_entry = MockConfigEntry(
            domain=entry.domain,
            entry_id=entry.entry_id,
            title=entry.title,
            unique_id=entry.unique_id,
            data=dict(entry.data),
            options=dict(entry.options),
            version=entry.version,
            minor_version=entry.minor_version,
            subentries_data=[
                ConfigSubentryData(
                    data=dict(sub.data),
                    subentry_id=sub.subentry_id,
                    subentry_type=sub.subentry_type,
                    title=sub.title,
                    unique_id=sub.unique_id,
                )
                for sub in entry.subentries.values()
            ],
        )
        new_entry.add_to_hass(new_hass)
        if before_setup is not None:
            await before_setup(new_hass)
        if set_up_entry:
            assert await new_hass.config_entries.async_setup(new_entry.entry_id)
            await new_hass.async_block_till_done()
        return new_hass, new_client, new_entry

    async def close(self) -> None:
        """Stop every Home Assistant this started, as the ``hass`` fixture does."""
        for hass in self._started:
            if hass.state is CoreState.stopped:
                continue
            for entry in hass.config_entries.async_entries():
                if entry.state is ConfigEntryState.LOADED:
                    await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_stop(force=True)
        await self._stack.aclose()


async def relay_fixture(hass: HomeAssistant) -> AsyncIterator[CloudRelay]:
    """Body of the ``cloud_relay`` fixture (see conftest)."""
    relay = CloudRelay(hass)
    await relay.start()
    hass.config.components.add("cloud")
    async with relay.active():
        yield relay
    await relay.close()
