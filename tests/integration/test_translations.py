"""Translations: complete in English and Swedish, and every key used exists."""

from __future__ import annotations

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
    assert english.keys() == swedish.keys()
    for key, text in english.items():
        assert set(re.findall(r"{\w+}", text)) == set(
            re.findall(r"{\w+}", swedish[key])
        ), key
        assert "[%key:" not in text


USED_KEYS = set(re.findall(r'translation_key="(\w+)"', SOURCES)) | set(
    re.findall(r'_invalid\(\s*"(\w+)"', SOURCES)
)


@pytest.mark.parametrize("key", sorted(USED_KEYS))
def test_exception_and_issue_keys_exist(key: str) -> None:
    """Every translation_key the code uses has a message."""
    english = _load("en")
    assert (
        key in english["exceptions"]
        or key in english["issues"]
        or key in english["entity"]["sensor"]
    )


def test_failure_codes_have_messages() -> None:
    """Each per-recipient failure code maps to an exception message."""
    english = _load("en")
    for code in re.findall(r'_Failure\(to, "(\w+)"', SOURCES):
        assert f"call_{code}" in english["exceptions"]


def test_service_fields_translated() -> None:
    """Every field in services.yaml has a name and description."""
    import yaml  # noqa: PLC0415

    services = yaml.safe_load((COMPONENT / "services.yaml").read_text())
    english = _load("en")["services"]
    for service, spec in services.items():
        assert set(spec["fields"]) == set(english[service]["fields"])
