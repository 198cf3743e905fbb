"""Fixtures: Assist with test engines, lights and a pipeline."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
import pytest

from homeassistant.core import HomeAssistant

from .env import ASSIST_COMPONENTS, Engines, async_setup_assist_world


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
