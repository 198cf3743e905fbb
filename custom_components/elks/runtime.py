"""Runtime data of a 46elks config entry: what a loaded account holds.

Only the platforms, the actions, diagnostics and setup import this module;
the collaborators it holds never import it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry

from .api import Account, ElksClient
from .coordinator import ElksAccountCoordinator
from .dialer import Dialer
from .escalation import EscalationManager
from .incoming import IncomingCalls
from .numbers import NumberBindings
from .reconcile import CallReconciler
from .sms import SmsSender
from .tracker import CallTracker
from .webhook import ElksWebhook


@dataclass(slots=True)
class ElksData:
    """What a loaded entry needs: API client, poller, webhook, call book, dialer."""

    client: ElksClient
    coordinator: ElksAccountCoordinator
    webhook: ElksWebhook
    tracker: CallTracker
    dialer: Dialer
    reconciler: CallReconciler
    numbers: NumberBindings
    # Recipients as set up (copied: Home Assistant updates subentries in
    # place); a changed one reloads the entry, new ones are added in place.
    subentries: dict[str, tuple[str, dict[str, Any]]]
    sms: SmsSender
    # Calls to the account's numbers (incoming-calls subentries).
    incoming: IncomingCalls

    @property
    def account(self) -> Account:
        """The account as last polled."""
        return self.coordinator.data

    @property
    def escalations(self) -> EscalationManager:
        """The account's escalations, run by its dialer."""
        return self.dialer.escalations


type ElksConfigEntry = ConfigEntry[ElksData]


def subentries_snapshot(
    subentries: Mapping[str, ConfigSubentry],
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Return title and data of each subentry, as values that do not change later."""
    return {key: (sub.title, dict(sub.data)) for key, sub in subentries.items()}
