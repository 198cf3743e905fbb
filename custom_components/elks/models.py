"""Runtime data of a 46elks config entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

from .api import Account, ElksClient
from .calls import CallTracker

if TYPE_CHECKING:
    from .escalation import EscalationManager
    from .webhook import ElksWebhook


@dataclass(slots=True)
class ElksData:
    """What a loaded entry needs: API client, account, webhook and call book."""

    client: ElksClient
    account: Account
    webhook: ElksWebhook
    tracker: CallTracker
    escalations: EscalationManager


type ElksConfigEntry = ConfigEntry[ElksData]
