"""Real Home Assistant processes: every test here runs one (started twice).

Each test gets its own configuration directory (``tmp_path``) and its own
loopback ports, so two pytest-xdist workers never share either. The tests
are plain functions that run their scenario with ``asyncio.run``: the
simulator lives in that loop, Home Assistant in its own process.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """Let the test talk to its simulator and Home Assistant over loopback."""
