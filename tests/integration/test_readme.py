"""The README's YAML examples are valid Home Assistant configuration.

Every ```yaml block must parse. Automations go through Home Assistant's own
automation validation, bare actions through script validation, and the data
of every ``elks.call``/``elks.cancel``/``elks.send_sms`` (wherever it is nested) through the
integration's real schemas, number rules and call-plan checks. The checks
run before anything is dialled, so a README example that passes them is
refused by nobody but 46elks.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import re
from typing import Any

import probatio
import pytest
import yaml  # type: ignore[import-untyped]

from custom_components.elks.api import normalize_number, validate_sender
from custom_components.elks.services import (
    CALL_SCHEMA,
    CANCEL_SCHEMA,
    SEND_SMS_SCHEMA,
    call_plan,
    call_request,
)
from homeassistant.components.automation.config import async_validate_config_item
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.script import async_validate_actions_config

README = Path(__file__).parents[2] / "README.md"
TRANSLATIONS = Path(__file__).parents[2] / "custom_components/elks/translations/en.json"
_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.DOTALL | re.MULTILINE)

# What a template in an action's data stands for once Home Assistant has
# rendered it. A template in any other field fails the test: add a value.
TEMPLATE_STAND_INS: dict[str, Any] = {
    "to": "+46700000000",
    "from": "+46700000000",
    "connect": "+46700000000",
    "message": "A rendered message",
    "escalation_id": "5b0f3f0c2f4a4e4c9a3b1d2e3f4a5b6c",
    "config_entry_id": "01JABCDEFGHJKMNPQRSTVWXYZ0",
}


def _blocks() -> list[tuple[int, str]]:
    """Return (line number, text) of every yaml block in the README."""
    text = README.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 2, match.group(1))
        for match in _BLOCK.finditer(text)
    ]


BLOCKS = _blocks()


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _elks_actions(node: Any) -> Iterator[dict[str, Any]]:
    """Yield every dict with an ``action: elks.*`` key, however deep."""
    if isinstance(node, dict):
        if str(node.get("action", "")).startswith("elks."):
            yield node
        for value in node.values():
            yield from _elks_actions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _elks_actions(item)


def _rendered(data: dict[str, Any]) -> dict[str, Any]:
    """Return ``data`` with templates replaced by what they stand for."""

    def stand_in(field: str, value: Any) -> Any:
        if _is_template(value):
            if field not in TEMPLATE_STAND_INS:
                pytest.fail(f"no stand-in for the template in field {field!r}")
            return TEMPLATE_STAND_INS[field]
        if isinstance(value, list):
            return [stand_in(field, item) for item in value]
        if isinstance(value, dict):
            return {key: stand_in(field, item) for key, item in value.items()}
        return value

    return {field: stand_in(field, value) for field, value in data.items()}


def _check_elks_action(action: dict[str, Any]) -> None:
    """Validate one elks action's data the way the action itself does."""
    data = _rendered(action.get("data") or {})
    if action["action"] == "elks.cancel":
        CANCEL_SCHEMA(data)
        return
    if action["action"] == "elks.send_sms":
        validated = SEND_SMS_SCHEMA(data)
        for number in validated["to"]:
            normalize_number(number)
        if "from" in validated:
            validate_sender(validated["from"])
        return
    assert action["action"] == "elks.call", f"unknown action {action['action']}"
    validated = CALL_SCHEMA(data)
    for number in validated["to"]:
        normalize_number(number)
    if "from" in validated:
        normalize_number(validated["from"])
    # One of play/message/connect/actions, combinations, menu, connect numbers.
    call_plan(validated)
    # The SMS of escalations too (a caller ID stands in for the options).
    call_request(validated, {"caller_id": "+46700000000"})


def _automations(document: Any) -> list[dict[str, Any]]:
    items = document if isinstance(document, list) else [document]
    return [
        item
        for item in items
        if isinstance(item, dict) and ("triggers" in item or "trigger" in item)
    ]


def _is_actions(document: Any) -> bool:
    items = document if isinstance(document, list) else [document]
    return bool(items) and all(
        isinstance(item, dict) and "action" in item for item in items
    )


def test_readme_has_examples() -> None:
    """The README has examples, so that the checks below check something."""
    documents = [yaml.safe_load(text) for _, text in BLOCKS]
    calls = [a for d in documents for a in _elks_actions(d)]
    assert sum(1 for a in calls if a["action"] == "elks.call") >= 5
    assert any(a["action"] == "elks.cancel" for a in calls)
    assert sum(1 for a in calls if a["action"] == "elks.send_sms") >= 3
    assert sum(len(_automations(d)) for d in documents) >= 6


@pytest.mark.parametrize(
    "text", [text for _, text in BLOCKS], ids=[f"line {line}" for line, _ in BLOCKS]
)
async def test_yaml_example(hass: HomeAssistant, text: str) -> None:
    """A README example parses, validates, and its elks actions would be accepted."""
    document = yaml.safe_load(text)
    automations = _automations(document)
    for automation in automations:
        assert await async_validate_config_item(hass, "readme", automation)
    if not automations and _is_actions(document):
        await async_validate_actions_config(hass, cv.SCRIPT_SCHEMA(document))
    for action in _elks_actions(document):
        _check_elks_action(action)


def test_every_call_field_is_documented() -> None:
    """Each field of elks.call and elks.cancel appears in the README."""
    text = README.read_text(encoding="utf-8")
    for schema in (CALL_SCHEMA, CANCEL_SCHEMA, SEND_SMS_SCHEMA):
        for key in schema.schema:
            assert f"| `{key}` |" in text, f"field {key} missing from the README"


def test_every_action_error_is_explained() -> None:
    """Each translated action error has a troubleshooting entry in the README."""
    text = " ".join(README.read_text(encoding="utf-8").split())
    exceptions = json.loads(TRANSLATIONS.read_text(encoding="utf-8"))["exceptions"]
    for key, value in exceptions.items():
        fragments = re.split(r"\{[a-z_]+\}", value["message"])
        # The README may shorten long messages: their start must be there.
        start = max(fragments, key=len).strip(" .:;\"'(")[:60]
        assert start in text, f"error {key} ({start!r}) missing from the README"


def test_checks_catch_a_wrong_field() -> None:
    """The checks above fail for data the integration refuses."""
    with pytest.raises(probatio.Invalid):
        _check_elks_action(
            {"action": "elks.call", "data": {"to": "+46700000000", "sound": "x"}}
        )
    with pytest.raises(probatio.Invalid):
        _check_elks_action({"action": "elks.cancel", "data": {"id": "x"}})
    with pytest.raises(probatio.Invalid):
        _check_elks_action(
            {"action": "elks.send_sms", "data": {"to": "+46700000000", "text": "x"}}
        )
    with pytest.raises(ValueError, match="not a valid SMS sender"):
        _check_elks_action(
            {
                "action": "elks.send_sms",
                "data": {"to": "+46700000000", "message": "x", "from": "Larm-central"},
            }
        )
    with pytest.raises(ServiceValidationError, match="sms_needs_sequential"):
        _check_elks_action(
            {
                "action": "elks.call",
                "data": {"to": "+46700000000", "play": "sound/beep", "sms_first": True},
            }
        )
    with pytest.raises(ServiceValidationError, match="pin_needs_menu"):
        _check_elks_action(
            {
                "action": "elks.call",
                "data": {"to": "+46700000000", "play": "sound/beep", "pin": "1234"},
            }
        )
    # An unquoted +46… is read by YAML as a number without the plus.
    unquoted = yaml.safe_load(
        "action: elks.call\ndata:\n  to: +46700000000\n  play: sound/beep\n"
    )
    with pytest.raises(ValueError, match="international format"):
        _check_elks_action(unquoted)
