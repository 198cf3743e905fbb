"""Fixtures of the load tests: the integration tests' Home Assistant and simulator.

All of ``tests/integration/conftest.py`` is re-exported (not a fixed list), so
that a fixture added there and requested by the others keeps working here.
"""

import pytest

from custom_components.elks import api
from tests.integration.conftest import *  # noqa: F403

# Only guards against hangs. The simulator holds half the POST /a1/calls
# responses until the call's hangup was delivered, and 200 concurrent POSTs
# queue for the session's 100 connections per host: on a busy machine a
# request waits longer than the client's 15 s (api.REQUEST_TIMEOUT), which
# these tests are not about (tests/integration/test_faults.py is).
LOAD_REQUEST_TIMEOUT = 600.0


@pytest.fixture(autouse=True)
def patient_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the client minutes per request (read when the entry sets up)."""
    monkeypatch.setattr(api, "REQUEST_TIMEOUT", LOAD_REQUEST_TIMEOUT)
