"""Fixtures: Assist with test engines, lights and a pipeline."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
import pytest

from custom_components.elks import assist_call
from homeassistant.core import HomeAssistant

from .env import ASSIST_COMPONENTS, Engines, async_setup_assist_world


@pytest.fixture(autouse=True)
def patient_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Do not end a call whose caller went quiet for 10 wall-clock seconds.

    46elks sends audio every 20 ms for as long as a call lasts; the test
    caller sends only what a test says, then waits for Home Assistant, which
    on a busy machine takes longer than ``SILENT_SOCKET_SECONDS`` to answer.
    """
    monkeypatch.setattr(assist_call, "SILENT_SOCKET_SECONDS", 3600)


@pytest.fixture
def http_components() -> dict[str, dict[str, Any]]:
    """Everything Assist needs, set up before the HTTP server starts."""
    return ASSIST_COMPONENTS


@pytest.fixture
def engines() -> Engines:
    """Return what the test STT/TTS engines see."""
    return Engines()


@pytest.fixture
async def pipeline_id(
    hass: HomeAssistant, hass_http: TestClient, engines: Engines
) -> str:
    """Set up Assist with the test engines and lights; return the pipeline's id."""
    return await async_setup_assist_world(hass, engines)
