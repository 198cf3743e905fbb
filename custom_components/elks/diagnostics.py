"""Diagnostics for 46elks: no secrets, no phone numbers of the account."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME, CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant

from .const import CONF_CALLER_ID, CONF_CLOUDHOOK_URL
from .runtime import ElksConfigEntry

TO_REDACT = {
    CONF_PASSWORD,
    CONF_USERNAME,
    CONF_WEBHOOK_ID,
    CONF_CLOUDHOOK_URL,
    CONF_CALLER_ID,
    "email",
    "mobilenumber",
    "id",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: ElksConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    runtime = entry.runtime_data
    hangup_url = runtime.webhook.hangup_url()
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "account": async_redact_data(asdict(runtime.account), TO_REDACT),
        "webhook": {
            "reachable": hangup_url is not None,
            "via_cloud": bool(entry.data.get(CONF_CLOUDHOOK_URL)),
        },
        "calls": runtime.tracker.sizes,
        "reconciliation": runtime.reconciler.diagnostics,
        "escalations_running": runtime.escalations.running_count,
        # Counts per kind only: subentries hold phone numbers and PINs.
        "subentries": dict(
            Counter(sub.subentry_type for sub in entry.subentries.values())
        ),
        "number_bindings": runtime.numbers.pending,
        "incoming_calls": runtime.incoming.diagnostics,
        "balance_update_ok": runtime.coordinator.last_update_success,
        "sms": runtime.sms.sizes,
    }
