"""Translations: complete in English and Swedish, and every key used exists."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
import re
from typing import Any

import pytest

COMPONENT = Path(__file__).parents[2] / "custom_components" / "elks"
SOURCES = "\n".join(p.read_text() for p in COMPONENT.glob("*.py"))


def _load(language: str) -> dict[str, Any]:
    return json.loads((COMPONENT / "translations" / f"{language}.json").read_text())


def _leaves(tree: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(tree, dict):
        leaves: dict[str, str] = {}
        for key, value in tree.items():
            leaves |= _leaves(value, f"{prefix}.{key}" if prefix else key)
        return leaves
    return {prefix: tree}


def test_swedish_matches_english() -> None:
    """Swedish has exactly the English keys and the same placeholders."""
    english, swedish = _leaves(_load("en")), _leaves(_load("sv"))
    assert english, "no English texts found"
    assert english.keys() == swedish.keys()
    for key, text in english.items():
        assert set(re.findall(r"{\w+}", text)) == set(
            re.findall(r"{\w+}", swedish[key])
        ), key
        assert "[%key:" not in text


def _found(pattern: str) -> list[str]:
    """Every match of ``pattern`` in the sources, which must match something."""
    found = re.findall(pattern, SOURCES)
    assert found, f"{pattern!r} matches nothing: the check would check nothing"
    return found


USED_KEYS = set(re.findall(r'translation_key="(\w+)"', SOURCES)) | set(
    re.findall(r'\binvalid\(\s*"(\w+)"', SOURCES)
)


def test_key_patterns_find_every_use() -> None:
    """The patterns below find each literal use; a renamed helper fails here."""
    assert len(_found(r'translation_key="(\w+)"')) == SOURCES.count('translation_key="')
    # Every call of invalid (not its definition) passes a literal key.
    assert len(_found(r'\binvalid\(\s*"(\w+)"')) == (
        len(re.findall(r"\binvalid\(", SOURCES)) - 1
    )


@pytest.mark.parametrize("key", sorted(USED_KEYS))
def test_exception_and_issue_keys_exist(key: str) -> None:
    """Every translation_key the code uses has a message."""
    english = _load("en")
    assert (
        key in english["exceptions"]
        or key in english["issues"]
        or key in english["entity"]["sensor"]
        or key in english["entity"]["event"]
        or key in english["selector"]
    )


def test_issue_keys_exist() -> None:
    """Every repair issue the integration raises has a text."""
    from custom_components.elks import const  # noqa: PLC0415

    issues = {value for name, value in vars(const).items() if name.startswith("ISSUE_")}
    assert issues
    assert issues <= _load("en")["issues"].keys()


def test_failure_codes_have_messages() -> None:
    """Each per-recipient failure code maps to an exception message."""
    from custom_components.elks import api  # noqa: PLC0415
    from custom_components.elks.models import FailureCode, PlacementFailure  # noqa: PLC0415

    exceptions = _load("en")["exceptions"]
    # Every code a failure can carry.
    for code in FailureCode:
        assert f"call_{code}" in exceptions, code
    # And the code of each API error, whichever way from_error builds it.
    samples: list[api.ElksError] = [
        api.ElksError("x"),
        api.ElksAuthenticationError("x"),
        api.ElksConnectionError("x"),
        api.ElksCallOutcomeUnknownError("x"),
        api.ElksRateLimitedError(None),
        api.ElksRequestError(400, "x"),
        api.ElksResponseError("x"),
    ]

    def subclasses(cls: type[api.ElksError]) -> set[type[api.ElksError]]:
        return {cls}.union(*(subclasses(sub) for sub in cls.__subclasses__()))

    assert {type(err) for err in samples} == subclasses(api.ElksError)
    for err in samples:
        assert (
            f"call_{PlacementFailure.from_error('+46700000001', err).code}"
            in exceptions
        )


def test_config_flow_reasons_and_errors_exist() -> None:
    """Every abort reason and form error of the flows has a text."""
    source = (COMPONENT / "config_flow.py").read_text()
    english = _load("en")
    aborts = english["config"]["abort"].keys() | english["options"]["abort"].keys()
    for reason in re.findall(r'reason="(\w+)"', source):
        assert reason in aborts, reason
    errors = english["config"]["error"].keys()
    for error in re.findall(r'\{"base": "(\w+)"\}', source):
        assert error in errors, error
    subentry_errors = english["config_subentries"]["recipient"]["error"]
    recipient_errors = re.findall(
        r'SettingsError\(\s*CONF_RECIPIENT_NUMBER, "(\w+)"\)', source
    )
    for error in recipient_errors:
        assert error in subentry_errors, error
    assert re.findall(r'reason="(\w+)"', source)
    assert re.findall(r'\{"base": "(\w+)"\}', source)
    assert recipient_errors


def test_service_fields_translated() -> None:
    """Every field in services.yaml has a name and description."""
    import yaml  # noqa: PLC0415

    services = yaml.safe_load((COMPONENT / "services.yaml").read_text())
    assert services
    english = _load("en")["services"]
    for service, spec in services.items():
        # Fields inside sections (collapsed groups in the form) count too.
        fields = set()
        for key, value in spec["fields"].items():
            fields |= set(value["fields"]) if value and "fields" in value else {key}
        assert fields == set(english[service]["fields"])
        for field, text in english[service]["fields"].items():
            assert text.get("name") and text.get("description"), (service, field)


def test_entity_attributes_have_names() -> None:
    """Every attribute of the last call sensor and the Call event entity reads in words.

    Attribute values with a fixed set of words (direction, state, outcome,
    result) are translated too.
    """
    from custom_components.elks import models, sensor  # noqa: PLC0415

    for language in ("en", "sv"):
        entity = _load(language)["entity"]
        sensor_names = entity["sensor"]["last_call"]["state_attributes"]
        assert set(sensor.LAST_CALL.attributes) <= sensor_names.keys()
        assert set(sensor_names["direction"]["state"]) == {"outgoing", "incoming"}
        event_names = entity["event"]["call"]["state_attributes"]
        # What elks_call_ended, elks_keypress and elks_escalation_finished carry.
        keys = {"config_entry_id", "device_id", "call_id", "acknowledged", "outcome"}
        keys |= {"to", "from", "direction", "state", "created", "start"}
        keys |= {"duration", "cost", "answered"}
        keys |= {"digits", "label", "escalation_id", "recipients", "rounds"}
        keys |= {"require_ack", "started", "finished", "result", "answered_by"}
        keys |= {"attempts"}
        assert keys <= event_names.keys(), keys - event_names.keys()
        outcomes = {str(o) for o in models.CallOutcome}
        assert outcomes <= event_names["outcome"]["state"].keys()


# The subentry flows of the number features, by subentry type.
NUMBER_FLOWS = {
    "incoming_call": ("incoming_flow.py", "incoming_settings.py"),
    "incoming_sms": ("sms_flow.py",),
    "assist": ("assist_flow.py", "assist_settings.py"),
}


@pytest.mark.parametrize("kind", sorted(NUMBER_FLOWS))
def test_number_flows_have_every_text(kind: str) -> None:
    """Each step, field, error and abort of a number flow reads in words, in English and Swedish.

    Home Assistant aborts a subentry flow with ``already_configured`` when a
    unique id is taken (by a subentry of any kind), and with
    ``reconfigure_successful`` after a reconfigure step: those need texts too.
    """
    from custom_components.elks import const, subentry_flow  # noqa: PLC0415
    from custom_components.elks.config_flow import ElksConfigFlow  # noqa: PLC0415

    flow = ElksConfigFlow.async_get_supported_subentry_types(None)[kind]
    # The flow's own files, and the shared steps it inherits.
    source = "\n".join(
        [
            *((COMPONENT / name).read_text() for name in NUMBER_FLOWS[kind]),
            *(
                inspect.getsource(base)
                for base in flow.__mro__
                if base.__module__ == subentry_flow.__name__
            ),
        ]
    )
    steps = re.findall(r'(?:step_id=|_async_form\(\s*)"(\w+)"', source)
    reasons = set(re.findall(r'reason(?:=|\s=\s)"(\w+)"', source))
    if "unique_id=" in source:
        reasons.add("already_configured")
    if "async_update_and_abort" in source:
        reasons.add("reconfigure_successful")
    errors = set(re.findall(r':\s*"(\w+)"\}', source))
    errors |= set(re.findall(r'errors\[[^]]+\] = "(\w+)"', source))
    errors |= set(re.findall(r'SettingsError\(\s*[\w"]+, "(\w+)"\)', source))
    fields = {
        getattr(const, name)
        for name in re.findall(
            r"probatio\.(?:Required|Optional)\(\s*(CONF_\w+)", source
        )
    }
    assert steps and reasons and errors and fields, (steps, reasons, errors, fields)
    for language in ("en", "sv"):
        texts = _load(language)["config_subentries"][kind]
        assert texts["initiate_flow"]["user"] and texts["entry_type"]
        shown: set[str] = set()
        for step in steps:
            assert texts["step"][step]["title"], (language, step)
            data = texts["step"][step].get("data", {})
            shown |= data.keys()
            # Every field explains itself under its label.
            assert (
                data.keys() <= texts["step"][step].get("data_description", {}).keys()
            ), (
                language,
                step,
            )
        assert fields <= shown, (language, fields - shown)
        assert reasons <= texts["abort"].keys(), (
            language,
            reasons - texts["abort"].keys(),
        )
        assert errors - {"base"} <= texts.get("error", {}).keys() | {"base"}, (
            language,
            errors,
        )
