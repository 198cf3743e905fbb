"""What an ``assist`` subentry lets change: its pipeline, allowed callers and greeting.

The form fields and their parser, for the flow at setup and when the
subentry is reconfigured (its numbers stay: they were taken over).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import probatio

from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import SelectOptionDict, TextSelector

from .api import InvalidNumberError, normalize_number
from .const import (
    CONF_ASSIST_CALLERS,
    CONF_ASSIST_GREETING,
    CONF_ASSIST_PIPELINE,
    DEFAULT_ASSIST_GREETING,
)
from .subentry_flow import PHONE_NUMBERS, SettingsError, single_select

# The "preferred pipeline" choice: Assist's preferred pipeline at each call.
PREFERRED = "preferred"
MAX_CALLERS = 20

CALLERS_AND_GREETING: dict[probatio.Marker, Any] = {
    probatio.Required(CONF_ASSIST_CALLERS): PHONE_NUMBERS,
    probatio.Optional(CONF_ASSIST_GREETING, default=DEFAULT_ASSIST_GREETING): (
        TextSelector()
    ),
}


def pipeline_field(hass: HomeAssistant) -> dict[probatio.Marker, Any]:
    """Return the pipeline choice: the preferred one, or one of those set up now."""
    from homeassistant.components.assist_pipeline import async_get_pipelines  # noqa: PLC0415

    pipelines = [SelectOptionDict(value=PREFERRED, label=PREFERRED)] + [
        SelectOptionDict(value=p.id, label=p.name) for p in async_get_pipelines(hass)
    ]
    return {
        # Translates "preferred"; pipelines keep their names.
        probatio.Required(CONF_ASSIST_PIPELINE, default=PREFERRED): single_select(
            pipelines, "assist_pipeline"
        )
    }


def settings_schema(hass: HomeAssistant) -> probatio.Schema:
    """Return the form of what can change later."""
    return probatio.Schema({**pipeline_field(hass), **CALLERS_AND_GREETING})


def _callers(user_input: Mapping[str, Any]) -> list[str]:
    """Return the allowed callers normalised, or raise naming the problem."""
    callers: list[str] = []
    try:
        for caller in user_input.get(CONF_ASSIST_CALLERS) or []:
            if caller.strip() and (n := normalize_number(caller)) not in callers:
                callers.append(n)
    except InvalidNumberError as err:
        raise SettingsError(CONF_ASSIST_CALLERS, "invalid_number") from err
    if not callers or len(callers) > MAX_CALLERS:
        raise SettingsError(CONF_ASSIST_CALLERS, "callers_count")
    return callers


def parse_settings(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return the settings as stored, or raise SettingsError."""
    callers = _callers(user_input)
    pipeline = user_input[CONF_ASSIST_PIPELINE]
    return {
        CONF_ASSIST_PIPELINE: None if pipeline == PREFERRED else pipeline,
        CONF_ASSIST_CALLERS: callers,
        CONF_ASSIST_GREETING: user_input.get(CONF_ASSIST_GREETING)
        or DEFAULT_ASSIST_GREETING,
    }


def shown_settings(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return stored settings as the form shows them."""
    return {**data, CONF_ASSIST_PIPELINE: data.get(CONF_ASSIST_PIPELINE) or PREFERRED}
