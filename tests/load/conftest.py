"""Fixtures of the load tests: the integration tests' Home Assistant and simulator.

All of ``tests/integration/conftest.py`` is re-exported (not a fixed list), so
that a fixture added there and requested by the others keeps working here.
"""

from tests.integration.conftest import *  # noqa: F403
