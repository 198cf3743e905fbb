"""Config flow, reauth, reconfigure and options against the simulator."""

from __future__ import annotations

import ast
from pathlib import Path

import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.elks.const import (
    CONF_ADVANCED,
    CONF_BASE_URL,
    CONF_CALLER_ID,
    CONF_LANGUAGE,
    CONF_LOW_BALANCE,
    CONF_ONLY_46ELKS_SOURCES,
    CONF_RING_TIMEOUT,
    CONF_TTS_ENGINE,
    DOMAIN,
)
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME, CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import config_validation as cv

from .conftest import (
    CALLER_ID,
    INACTIVE_VOICE,
    MOBILE,
    PASSWORD,
    SMS_ONLY,
    USERNAME,
    Elks,
)


def user_input(
    base_url: str, username: str = USERNAME, password: str = PASSWORD
) -> dict[str, object]:
    """Return the user step's form as the frontend sends it."""
    return {
        CONF_USERNAME: username,
        CONF_PASSWORD: password,
        CONF_ADVANCED: {CONF_BASE_URL: base_url},
    }


async def test_user_flow(hass: HomeAssistant, elks: Elks) -> None:
    """Credentials, then a caller id among the account's voice numbers."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(elks.base_url + "/")
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "caller_id"
    options = result["data_schema"].schema[CONF_CALLER_ID].config["options"]
    # Active voice numbers and the account's mobile; not SMS-only or inactive ones.
    assert options == [CALLER_ID, MOBILE]
    assert SMS_ONLY not in options
    assert INACTIVE_VOICE not in options

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CALLER_ID: MOBILE}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Home"
    assert result["result"].unique_id == elks.account.id
    data = result["data"]
    assert data[CONF_USERNAME] == USERNAME
    assert data[CONF_PASSWORD] == PASSWORD
    assert data[CONF_BASE_URL] == elks.base_url
    assert len(data[CONF_WEBHOOK_ID]) >= 32
    assert result["options"] == {CONF_CALLER_ID: MOBILE, CONF_RING_TIMEOUT: 60}


@pytest.mark.parametrize(
    ("password", "base_url", "error"),
    [
        ("wrong", None, "invalid_auth"),
        (PASSWORD, "http://127.0.0.1:9/a1", "cannot_connect"),
        (PASSWORD, "ftp://127.0.0.1/a1", "invalid_url"),
        (PASSWORD, "http://[::1/a1", "unknown"),
    ],
)
async def test_user_flow_errors_then_recovers(
    hass: HomeAssistant, elks: Elks, password: str, base_url: str | None, error: str
) -> None:
    """Each failure is shown on the form, and the flow can go on."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(base_url or elks.base_url, password=password)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(elks.base_url)
    )
    assert result["step_id"] == "caller_id"


async def test_same_account_twice(
    hass: HomeAssistant, elks: Elks, config_entry: MockConfigEntry
) -> None:
    """The same 46elks account cannot be added twice."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(elks.base_url)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_account_without_voice_numbers(hass: HomeAssistant, elks: Elks) -> None:
    """An account with nothing to call from says so."""
    elks.sim.add_account(
        username="bare", password="bare-secret", displayname="Bare", mobilenumber=None
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(elks.base_url, "bare", "bare-secret")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_voice_numbers"


async def test_numbers_unreachable_after_login(hass: HomeAssistant, elks: Elks) -> None:
    """If 46elks fails between login and listing numbers, the flow says so."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    elks.sim.faults.fail_next(503, path="/a1/numbers")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(elks.base_url)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_reauth(
    hass: HomeAssistant, elks: Elks, config_entry: MockConfigEntry
) -> None:
    """A new password for the same account is stored and the entry reloaded."""
    elks.account.password = "rotated-password"
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
    assert flow["step_id"] == "reauth_confirm"

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: USERNAME, CONF_PASSWORD: "still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: USERNAME, CONF_PASSWORD: "rotated-password"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert config_entry.data[CONF_PASSWORD] == "rotated-password"
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED


async def test_reauth_with_other_account(
    hass: HomeAssistant, elks: Elks, config_entry: MockConfigEntry
) -> None:
    """Credentials of another account are refused, and nothing changes."""
    elks.sim.add_account(
        username="other",
        password="other-secret",
        displayname="Other",
        mobilenumber=MOBILE,
    )
    result = await config_entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: "other", CONF_PASSWORD: "other-secret"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert config_entry.data[CONF_USERNAME] == USERNAME


async def test_reconfigure(
    hass: HomeAssistant, elks: Elks, config_entry: MockConfigEntry
) -> None:
    """Reconfigure checks the new settings and keeps the same account."""
    elks.sim.add_account(
        username="other",
        password="other-secret",
        displayname="Other",
        mobilenumber=MOBILE,
    )
    result = await config_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input("http://127.0.0.1:9/a1")
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(elks.base_url, "other", "other-secret")
    )
    assert result["reason"] == "wrong_account"

    result = await config_entry.start_reconfigure_flow(hass)
    elks.account.password = "new-password"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(elks.base_url + "/", password="new-password")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert config_entry.data[CONF_PASSWORD] == "new-password"
    assert config_entry.data[CONF_BASE_URL] == elks.base_url


async def test_options(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Options offer the account's caller ids and store the ring timeout."""
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    options = result["data_schema"].schema[CONF_CALLER_ID].config["options"]
    assert options == [CALLER_ID, MOBILE]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CALLER_ID: MOBILE, CONF_RING_TIMEOUT: 25.0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded_entry.options == {
        CONF_CALLER_ID: MOBILE,
        CONF_RING_TIMEOUT: 25,
        CONF_LOW_BALANCE: 0.0,
        CONF_ONLY_46ELKS_SOURCES: False,
    }


async def test_options_store_tts_engine_and_language(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A TTS engine and language for the notify entities are stored when given."""
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_CALLER_ID: CALLER_ID,
            CONF_RING_TIMEOUT: 30,
            CONF_TTS_ENGINE: "tts.speech",
            CONF_LANGUAGE: "sv",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded_entry.options[CONF_TTS_ENGINE] == "tts.speech"
    assert loaded_entry.options[CONF_LANGUAGE] == "sv"


async def test_options_keep_a_caller_id_the_account_no_longer_has(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """A stored caller ID that is gone from the account stays offered (and chosen)."""
    gone = "+46766869999"
    hass.config_entries.async_update_entry(
        loaded_entry, options={**loaded_entry.options, CONF_CALLER_ID: gone}
    )
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    options = result["data_schema"].schema[CONF_CALLER_ID].config["options"]
    assert options == [CALLER_ID, MOBILE, gone]


async def test_options_when_the_account_has_nothing_to_call_from(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """No voice number, no mobile number and none stored: the options flow says so."""
    hass.config_entries.async_update_entry(
        loaded_entry,
        options={k: v for k, v in loaded_entry.options.items() if k != CONF_CALLER_ID},
    )
    elks.account.mobilenumber = None
    for number_id, number in list(elks.sim.numbers.items()):
        if number.account_id == elks.account.id:
            del elks.sim.numbers[number_id]
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_voice_numbers"


async def test_options_form_as_the_frontend_gets_it(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Each option is its own field with its own default, and no stray message."""
    hass.config_entries.async_update_entry(
        loaded_entry,
        options={
            **loaded_entry.options,
            CONF_LOW_BALANCE: 25.0,
            CONF_ONLY_46ELKS_SOURCES: True,
        },
    )
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    schema = result["data_schema"]
    # Serialised as Home Assistant's flow views send it to the frontend.
    fields = probatio.to_field_list(schema, custom_serializer=cv.custom_serializer)
    assert [
        (field["name"], field["required"], field.get("default")) for field in fields
    ] == [
        (CONF_CALLER_ID, True, CALLER_ID),
        (CONF_RING_TIMEOUT, True, 60),
        ("tts_engine", False, None),
        ("language", False, None),
        (CONF_LOW_BALANCE, False, 25.0),
        (CONF_ONLY_46ELKS_SOURCES, False, True),
    ]
    # A key's msg replaces the validation error: none of ours sets one.
    assert {str(key): key.msg for key in schema.schema} == dict.fromkeys(
        map(str, schema.schema)
    )


def test_schema_markers_get_one_positional_argument() -> None:
    """Optional(A, B, ...) passes B as the error message, not as a second key."""
    source = Path(__file__).parents[2] / "custom_components/elks/config_flow.py"
    misuses = [
        f"line {node.lineno}"
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"Optional", "Required"}
        and len(node.args) > 1
    ]
    assert misuses == []


async def test_options_when_46elks_unreachable(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """The options flow says so when it cannot list the numbers."""
    elks.sim.faults.fail_next(502, path="/a1/me")
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_options_with_rejected_credentials(
    hass: HomeAssistant, elks: Elks, loaded_entry: MockConfigEntry
) -> None:
    """Rotated credentials: the options flow says so and reauth starts."""
    elks.account.password = "rotated"
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_required"
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
