"""Config flow for 46elks: credentials, caller id, reauth, reconfigure, options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import probatio

from homeassistant.components import webhook
from homeassistant.config_entries import (
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME, CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    LanguageSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .api import (
    DEFAULT_BASE_URL,
    Account,
    ElksAuthenticationError,
    ElksClient,
    ElksError,
    InvalidNumberError,
    normalize_number,
)
from .assist_flow import AssistSubentryFlow
from .const import (
    CONF_ADVANCED,
    CONF_BASE_URL,
    CONF_CALLER_ID,
    CONF_LANGUAGE,
    CONF_LOW_BALANCE,
    CONF_ONLY_46ELKS_SOURCES,
    CONF_REACH_BY,
    CONF_RECIPIENT_NUMBER,
    CONF_RING_TIMEOUT,
    CONF_TTS_ENGINE,
    DEFAULT_RING_TIMEOUT,
    DOMAIN,
    LOGGER,
    MAX_RING_TIMEOUT,
    MIN_RING_TIMEOUT,
    SUBENTRY_ASSIST,
    SUBENTRY_INCOMING_CALL,
    SUBENTRY_INCOMING_SMS,
    SUBENTRY_RECIPIENT,
)
from .incoming_flow import IncomingCallSubentryFlow
from .models import ReachBy
from .runtime import ElksConfigEntry
from .sms_flow import IncomingSmsSubentryFlow
from .subentry_flow import FormSubentryFlow, SettingsError, single_select

_PASSWORD_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))


def _credentials_schema(
    username: str = "", base_url: str = DEFAULT_BASE_URL
) -> probatio.Schema:
    return probatio.Schema(
        {
            probatio.Required(CONF_USERNAME, default=username): str,
            probatio.Required(CONF_PASSWORD): _PASSWORD_SELECTOR,
            probatio.Required(CONF_ADVANCED): section(
                probatio.Schema(
                    {probatio.Required(CONF_BASE_URL, default=base_url): _URL_SELECTOR}
                ),
                {"collapsed": True},
            ),
        }
    )


async def _async_validate(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> tuple[Account | None, dict[str, str]]:
    """Check credentials with ``GET /me``; returns the account or form errors."""
    if not data[CONF_BASE_URL].startswith(("http://", "https://")):
        return None, {"base": "invalid_url"}
    try:
        client = ElksClient(
            async_get_clientsession(hass),
            data[CONF_USERNAME],
            data[CONF_PASSWORD],
            data[CONF_BASE_URL],
        )
        return await client.get_account(), {}
    except ElksAuthenticationError:
        return None, {"base": "invalid_auth"}
    except ElksError as err:
        LOGGER.debug("46elks not reachable: %s", err)
        return None, {"base": "cannot_connect"}
    except Exception:  # noqa: BLE001
        LOGGER.exception("Unexpected error checking 46elks credentials")
        return None, {"base": "unknown"}


async def _async_caller_ids(
    hass: HomeAssistant, data: Mapping[str, Any], account: Account | None
) -> list[str]:
    """Numbers the account may call from: active voice numbers and its own mobile."""
    client = ElksClient(
        async_get_clientsession(hass),
        data[CONF_USERNAME],
        data[CONF_PASSWORD],
        data[CONF_BASE_URL],
    )
    if account is None:
        account = await client.get_account()
    numbers = [
        number.number for number in await client.list_numbers() if number.can_call_from
    ]
    if account.mobilenumber and account.mobilenumber not in numbers:
        numbers.append(account.mobilenumber)
    return numbers


_RECIPIENT_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_NAME): str,
        probatio.Required(CONF_RECIPIENT_NUMBER): TextSelector(
            TextSelectorConfig(type=TextSelectorType.TEL)
        ),
        # Recipients added before SMS had no choice: they are called.
        probatio.Required(CONF_REACH_BY, default=ReachBy.CALL): single_select(
            ReachBy, CONF_REACH_BY, SelectSelectorMode.LIST
        ),
    }
)

_LOW_BALANCE_SELECTOR = NumberSelector(
    NumberSelectorConfig(min=0, max=100000, step=1, mode=NumberSelectorMode.BOX)
)

_RING_TIMEOUT_SELECTOR = NumberSelector(
    NumberSelectorConfig(
        min=MIN_RING_TIMEOUT,
        max=MAX_RING_TIMEOUT,
        step=1,
        unit_of_measurement="s",
        mode=NumberSelectorMode.BOX,
    )
)


class ElksConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a 46elks account."""

    VERSION = 1

    def __init__(self) -> None:
        """Start empty."""
        self._data: dict[str, Any] = {}
        self._account: Account | None = None
        self._caller_ids: list[str] = []

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ElksConfigEntry) -> ElksOptionsFlow:
        """Options: caller id, ring timeout, TTS for notify, low balance warning."""
        return ElksOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ElksConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Recipients, incoming calls and SMS on a number, Assist by phone."""
        return {
            SUBENTRY_RECIPIENT: RecipientSubentryFlow,
            SUBENTRY_INCOMING_CALL: IncomingCallSubentryFlow,
            SUBENTRY_INCOMING_SMS: IncomingSmsSubentryFlow,
            SUBENTRY_ASSIST: AssistSubentryFlow,
        }

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the API credentials."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _flatten(user_input)
            account, errors = await _async_validate(self.hass, data)
            if account is not None:
                await self.async_set_unique_id(account.id)
                self._abort_if_unique_id_configured()
                self._data, self._account = data, account
                return await self.async_step_caller_id()
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                _credentials_schema(), user_input
            ),
            errors=errors,
            description_placeholders={"api_url": "https://46elks.com/account"},
        )

    async def async_step_caller_id(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose the number calls come from."""
        assert self._account is not None
        if user_input is not None:
            return self.async_create_entry(
                title=self._account.displayname,
                data={**self._data, CONF_WEBHOOK_ID: webhook.async_generate_id()},
                options={
                    CONF_CALLER_ID: user_input[CONF_CALLER_ID],
                    CONF_RING_TIMEOUT: DEFAULT_RING_TIMEOUT,
                },
            )
        try:
            self._caller_ids = await _async_caller_ids(
                self.hass, self._data, self._account
            )
        except ElksError:
            return self.async_abort(reason="cannot_connect")
        if not self._caller_ids:
            return self.async_abort(reason="no_voice_numbers")
        return self.async_show_form(
            step_id="caller_id",
            data_schema=probatio.Schema(
                {
                    probatio.Required(
                        CONF_CALLER_ID, default=self._caller_ids[0]
                    ): single_select(self._caller_ids)
                }
            ),
            description_placeholders={"account": self._account.displayname},
        )

    async def _async_same_account_step(
        self,
        step_id: str,
        entry: ElksConfigEntry,
        data: dict[str, Any] | None,
        schema: probatio.Schema,
    ) -> ConfigFlowResult:
        """Store ``data`` in ``entry`` once 46elks accepts it for the same account.

        Reauth and reconfigure share this: another account aborts the flow,
        anything else shows the form again with the error.
        """
        errors: dict[str, str] = {}
        if data is not None:
            account, errors = await _async_validate(self.hass, data)
            if account is not None:
                await self.async_set_unique_id(account.id)
                self._abort_if_unique_id_mismatch(reason="wrong_account")
                return self.async_update_reload_and_abort(entry, data_updates=data)
        return self.async_show_form(
            step_id=step_id,
            data_schema=schema,
            errors=errors,
            description_placeholders={"account": entry.title},
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """46elks refused the stored credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for new credentials of the same account."""
        entry = self._get_reauth_entry()
        data = None
        if user_input is not None:
            data = {
                CONF_USERNAME: user_input[CONF_USERNAME],
                CONF_PASSWORD: user_input[CONF_PASSWORD],
                CONF_BASE_URL: entry.data[CONF_BASE_URL],
            }
        schema = probatio.Schema(
            {
                probatio.Required(
                    CONF_USERNAME, default=entry.data[CONF_USERNAME]
                ): str,
                probatio.Required(CONF_PASSWORD): _PASSWORD_SELECTOR,
            }
        )
        return await self._async_same_account_step(
            "reauth_confirm", entry, data, schema
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change credentials or API URL of the same account."""
        entry = self._get_reconfigure_entry()
        return await self._async_same_account_step(
            "reconfigure",
            entry,
            None if user_input is None else _flatten(user_input),
            _credentials_schema(entry.data[CONF_USERNAME], entry.data[CONF_BASE_URL]),
        )


class ElksOptionsFlow(OptionsFlow):
    """Default caller id and ring timeout; read at each call, so no reload."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the options."""
        if user_input is not None:
            return self.async_create_entry(data=_options(user_input))
        try:
            caller_ids = await _async_caller_ids(
                self.hass, self.config_entry.data, None
            )
        except ElksAuthenticationError:
            self.config_entry.async_start_reauth(self.hass)
            return self.async_abort(reason="reauth_required")
        except ElksError:
            return self.async_abort(reason="cannot_connect")
        current = self.config_entry.options.get(CONF_CALLER_ID)
        if current and current not in caller_ids:
            caller_ids.append(current)
        if not caller_ids:
            return self.async_abort(reason="no_voice_numbers")
        return self.async_show_form(
            step_id="init",
            data_schema=_options_schema(
                self.config_entry.options, current or caller_ids[0], caller_ids
            ),
        )


def _options(user_input: dict[str, Any]) -> dict[str, Any]:
    """Return the options as stored, from the options form."""
    data: dict[str, Any] = {
        CONF_CALLER_ID: user_input[CONF_CALLER_ID],
        CONF_RING_TIMEOUT: int(user_input[CONF_RING_TIMEOUT]),
        CONF_LOW_BALANCE: float(user_input.get(CONF_LOW_BALANCE) or 0),
        CONF_ONLY_46ELKS_SOURCES: bool(user_input.get(CONF_ONLY_46ELKS_SOURCES)),
    }
    for key in (CONF_TTS_ENGINE, CONF_LANGUAGE):
        if user_input.get(key):
            data[key] = user_input[key]
    return data


def _options_schema(
    options: Mapping[str, Any], caller_id: str, caller_ids: list[str]
) -> probatio.Schema:
    """Return the options form, filled in with the current options."""
    return probatio.Schema(
        {
            probatio.Required(CONF_CALLER_ID, default=caller_id): single_select(
                caller_ids
            ),
            probatio.Required(
                CONF_RING_TIMEOUT,
                default=options.get(CONF_RING_TIMEOUT, DEFAULT_RING_TIMEOUT),
            ): _RING_TIMEOUT_SELECTOR,
            probatio.Optional(
                CONF_TTS_ENGINE,
                description={"suggested_value": options.get(CONF_TTS_ENGINE)},
            ): EntitySelector(EntitySelectorConfig(domain="tts")),
            probatio.Optional(
                CONF_LANGUAGE,
                description={"suggested_value": options.get(CONF_LANGUAGE)},
            ): LanguageSelector(),
            probatio.Optional(
                CONF_LOW_BALANCE, default=options.get(CONF_LOW_BALANCE, 0)
            ): _LOW_BALANCE_SELECTOR,
            probatio.Optional(
                CONF_ONLY_46ELKS_SOURCES,
                default=options.get(CONF_ONLY_46ELKS_SOURCES, False),
            ): BooleanSelector(),
        }
    )


class RecipientSubentryFlow(FormSubentryFlow):
    """Add or change a person that a notify entity calls."""

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Name and number of a new recipient."""

        async def create(recipient: _Recipient) -> SubentryFlowResult:
            return self.async_create_entry(title=recipient.name, data=recipient.data)

        return await self._async_form(
            "user", _RECIPIENT_SCHEMA, user_input, _parse_recipient, create
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a recipient's name or number."""
        subentry = self._get_reconfigure_subentry()

        async def update(recipient: _Recipient) -> SubentryFlowResult:
            return self.async_update_and_abort(
                self._get_entry(),
                subentry,
                title=recipient.name,
                data=recipient.data,
            )

        return await self._async_form(
            "reconfigure",
            _RECIPIENT_SCHEMA,
            user_input,
            _parse_recipient,
            update,
            suggested={CONF_NAME: subentry.title, **subentry.data},
        )


@dataclass(frozen=True, slots=True)
class _Recipient:
    """A recipient form, checked: the subentry's title and data."""

    name: str
    data: dict[str, Any]


def _parse_recipient(user_input: Mapping[str, Any]) -> _Recipient:
    """Return the recipient of a form, or raise naming the problem."""
    try:
        number = normalize_number(user_input[CONF_RECIPIENT_NUMBER])
    except InvalidNumberError as err:
        raise SettingsError(CONF_RECIPIENT_NUMBER, "invalid_number") from err
    reach_by = ReachBy(user_input.get(CONF_REACH_BY, ReachBy.CALL))
    return _Recipient(
        user_input[CONF_NAME].strip(),
        {CONF_RECIPIENT_NUMBER: number, CONF_REACH_BY: reach_by.value},
    )


def _flatten(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Entry data from a credentials form: the advanced section folded in."""
    return {
        CONF_USERNAME: user_input[CONF_USERNAME].strip(),
        CONF_PASSWORD: user_input[CONF_PASSWORD],
        CONF_BASE_URL: user_input[CONF_ADVANCED][CONF_BASE_URL].strip().rstrip("/"),
    }
