"""The client against the simulator, with a plain aiohttp session."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

import aiohttp
import pytest

from custom_components.elks.api import ElksClient
from elks_simulator import Account, Simulator

CALLER_ID = "+46766860001"


@dataclass
class Setup:
    """Simulator, account and a client for it."""

    sim: Simulator
    account: Account
    client: ElksClient
    session: aiohttp.ClientSession
    base_url: str


@pytest.fixture
async def setup(socket_enabled: None) -> AsyncGenerator[Setup]:
    """Start the simulator and a client with its own session."""
    sim = Simulator(time_scale=0.001)
    account = sim.add_account(
        username="user",
        password="pass",
        displayname="Home",
        mobilenumber="+46700000000",
    )
    sim.add_number(account, CALLER_ID, capabilities=("voice",), active=True)
    base_url = await sim.start()
    async with aiohttp.ClientSession() as session:
        yield Setup(
            sim,
            account,
            ElksClient(session, "user", "pass", base_url),
            session,
            base_url,
        )
    await sim.stop()
