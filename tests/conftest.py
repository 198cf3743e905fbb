"""Shared test setup.

Import our integration before PHACC's own ``custom_components`` test package
can shadow it.
"""

import custom_components.elks  # noqa: F401
