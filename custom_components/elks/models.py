"""Runtime data of a 46elks config entry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry

from .api import Account, ElksClient
from .calls import CallTracker

if TYPE_CHECKING:
    from .coordinator import ElksAccountCoordinator
    from .escalation import EscalationManager
    from .reconcile import CallReconciler
    from .webhook import ElksWebhook


@dataclass(slots=True)
class ElksData:
    """What a loaded entry needs: API client, account poller, webhook, call book, escalations."""

    client: ElksClient
    coordinator: ElksAccountCoordinator
    webhook: ElksWebhook
    tracker: CallTracker
    escalations: EscalationManager
    # Recipients as set up (copied: Home Assistant updates subentries in
    # place); a change reloads the entry.
    subentries: dict[str, tuple[str, dict[str, Any]]]
    reconciler: CallReconciler

    @property
    def account(self) -> Account:
        """The account as last polled."""
        return self.coordinator.data


type ElksConfigEntry = ConfigEntry[ElksData]


def subentries_snapshot(
    subentries: Mapping[str, ConfigSubentry],
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Return title and data of each subentry, as values that do not change later."""
    return {key: (sub.title, dict(sub.data)) for key, sub in subentries.items()}
