"""Benchmark setup: our integration, without the test suite's loop debugging.

``custom_components.elks`` is imported before PHACC's own ``custom_components``
test package can shadow it.
"""

import asyncio

import pytest

import custom_components.elks  # noqa: F401


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom integrations from this checkout."""


@pytest.fixture(autouse=True)
async def enable_event_loop_debug() -> None:
    """Override PHACC's fixture: asyncio debug mode would distort every number."""
    asyncio.get_running_loop().set_debug(False)
