"""Account data (balance) polled from 46elks."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .api import Account, ElksAuthenticationError, ElksClient, ElksError
from .const import BALANCE_UPDATE_MINUTES, CONF_LOW_BALANCE, DOMAIN, LOGGER
from .errors import translated
from .repairs import async_low_balance


class ElksAccountCoordinator(DataUpdateCoordinator[Account]):
    """Polls ``GET /me``: the balance changes only with calls and top-ups."""

    config_entry: ConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, client: ElksClient
    ) -> None:
        """Poll every BALANCE_UPDATE_MINUTES."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} account",
            update_interval=timedelta(minutes=BALANCE_UPDATE_MINUTES),
        )
        self.client = client
        self.async_add_listener(self._check_low_balance)

    async def _async_update_data(self) -> Account:
        try:
            return await self.client.get_account()
        except ElksAuthenticationError as err:
            raise translated(ConfigEntryAuthFailed, "auth_failed") from err
        except ElksError as err:
            raise translated(UpdateFailed, "cannot_connect", error=str(err)) from err

    @callback
    def _check_low_balance(self) -> None:
        """Warn while the balance is under the threshold set in the options.

        An alarm call must not fail because the account ran dry.
        """
        threshold = float(self.config_entry.options.get(CONF_LOW_BALANCE) or 0)
        account = self.data
        low = threshold > 0 and account.balance_amount < threshold
        async_low_balance(
            self.hass,
            self.config_entry.entry_id,
            {
                "account": self.config_entry.title,
                "balance": f"{account.balance_amount:.2f} {account.currency}",
                "threshold": f"{threshold:.2f} {account.currency}",
            }
            if low
            else None,
        )
