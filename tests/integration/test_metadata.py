"""What HACS and hassfest check, checked offline: hacs.json, manifest, brand, services.yaml.

The rules mirror hassfest's for custom integrations (script/hassfest in Home
Assistant core: manifest.py, services.py, translations.py) and HACS's
integration validation (a LICENSE, hacs.json keys, brand images), so that a
change that either would reject fails here first.
"""

from __future__ import annotations

import json
from pathlib import Path
import struct
from typing import Any

from awesomeversion import AwesomeVersion
import pytest
import voluptuous as vol
import yaml

from homeassistant.const import CONF_SELECTOR
from homeassistant.helpers import config_validation as cv, selector, service

REPO = Path(__file__).parents[2]
COMPONENT = REPO / "custom_components" / "elks"
LANGUAGES = ("en", "sv")

# hacs.json keys HACS knows (hacs/integration's validate/manifest schema).
HACS_KEYS = {
    "name",
    "content_in_root",
    "zip_release",
    "filename",
    "hide_default_branch",
    "country",
    "homeassistant",
    "hacs",
    "persistent_directory",
    "render_readme",
}

# hassfest: services.yaml of a custom integration (services.py).
_FIELD = vol.Schema(
    {
        vol.Optional("example"): object,
        vol.Optional("default"): object,
        vol.Optional("required"): bool,
        vol.Optional("advanced"): bool,
        vol.Optional(CONF_SELECTOR): selector.validate_selector,
        vol.Optional("description"): str,
        vol.Optional("name"): str,
    }
)
_SECTION = vol.Schema(
    {
        vol.Optional("collapsed"): bool,
        vol.Required("fields"): vol.Schema({str: _FIELD}),
        vol.Optional("description"): str,
        vol.Optional("name"): str,
    }
)
_SERVICES = vol.Schema(
    {
        cv.slug: vol.Any(
            vol.Schema(
                {
                    vol.Optional("fields"): vol.Schema(
                        {str: vol.Any(_FIELD, _SECTION)}
                    ),
                    vol.Optional("description"): str,
                    vol.Optional("name"): str,
                }
            ),
            None,
        )
    }
)


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _services() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (COMPONENT / "services.yaml").read_text(encoding="utf-8")
    )
    return data


def _flat_fields(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return a service's fields, those inside sections included, in order."""
    fields: dict[str, dict[str, Any]] = {}
    for key, value in (spec.get("fields") or {}).items():
        if value and "fields" in value:
            for name, field in value["fields"].items():
                assert name not in fields, f"field {name} used twice"
                fields[name] = field
        else:
            assert key not in fields, f"field {key} used twice"
            fields[key] = value
    return fields


def _sections(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        key: value
        for key, value in (spec.get("fields") or {}).items()
        if value and "fields" in value
    }


def test_license_exists() -> None:
    """HACS requires a licence file."""
    assert (REPO / "LICENSE").read_text(encoding="utf-8").strip()


def test_hacs_json() -> None:
    """hacs.json has only keys HACS knows; its minimum release is the tested one."""
    hacs = _json(REPO / "hacs.json")
    assert hacs.get("name")
    assert set(hacs) <= HACS_KEYS, set(hacs) - HACS_KEYS
    pinned = {
        line.split("==")[0]: line.split("==")[1]
        for line in (REPO / "requirements_test.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert "pytest-homeassistant-custom-component" in pinned
    from homeassistant.const import __version__  # noqa: PLC0415

    assert AwesomeVersion(hacs["homeassistant"]) <= AwesomeVersion(__version__)


def test_manifest_as_hassfest_wants_it() -> None:
    """domain, name, then the other keys sorted; the keys a custom integration needs."""
    manifest = _json(COMPONENT / "manifest.json")
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert manifest["domain"] == COMPONENT.name
    for key in ("codeowners", "documentation", "issue_tracker", "version"):
        assert manifest.get(key), key
    assert AwesomeVersion(manifest["version"]).valid
    assert manifest["iot_class"] in {
        "assumed_state",
        "calculated",
        "cloud_polling",
        "cloud_push",
        "local_polling",
        "local_push",
    }
    assert manifest["integration_type"] in {
        "device",
        "entity",
        "hardware",
        "helper",
        "hub",
        "service",
        "system",
        "virtual",
    }
    assert manifest["config_flow"] is True
    assert (COMPONENT / "config_flow.py").is_file()


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("icon.png", 256),
        ("icon@2x.png", 512),
        ("dark_icon.png", 256),
        ("dark_icon@2x.png", 512),
    ],
)
def test_brand_images(name: str, size: int) -> None:
    """Square PNG icons of the sizes the brands rules ask for."""
    data = (COMPONENT / "brand" / name).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (size, size)


def test_services_yaml_as_hassfest_and_home_assistant_load_it() -> None:
    """The custom-integration schema of hassfest and Home Assistant's own accept it."""
    services = _services()
    _SERVICES(services)
    service._SERVICES_SCHEMA(services)  # noqa: SLF001


def test_services_yaml_fields_are_what_the_action_accepts() -> None:
    """Sections group the form only: the action takes the same flat fields."""
    from custom_components.elks.services import CALL_SCHEMA, CANCEL_SCHEMA  # noqa: PLC0415

    services = _services()
    for name, schema in (("call", CALL_SCHEMA), ("cancel", CANCEL_SCHEMA)):
        accepted = {str(key) for key in schema.schema}
        assert set(_flat_fields(services[name])) == accepted, name


@pytest.mark.parametrize("language", LANGUAGES)
def test_services_translated(language: str) -> None:
    """Every field and section has a name and a description starting with a capital."""
    strings = _json(COMPONENT / "translations" / f"{language}.json")
    services = _services()
    for name, spec in services.items():
        texts = strings["services"][name]
        assert texts["name"] and texts["description"]
        assert set(texts["fields"]) == set(_flat_fields(spec))
        for field, text in texts["fields"].items():
            assert text.get("name"), (name, field)
            description = text.get("description", "")
            assert description[:1].isupper() or description[:1].isdigit(), (
                name,
                field,
                description,
            )
        assert set(texts.get("sections", {})) == set(_sections(spec)), name
        for section, text in texts.get("sections", {}).items():
            assert text.get("name"), (name, section)


@pytest.mark.parametrize("language", LANGUAGES)
def test_select_options_are_translated(language: str) -> None:
    """Selects with words as options have a translation_key; each option a label."""
    strings = _json(COMPONENT / "translations" / f"{language}.json")
    checked = 0
    for spec in _services().values():
        for field, value in _flat_fields(spec).items():
            select = (value.get("selector") or {}).get("select")
            if select is None:
                continue
            options = [str(option) for option in select["options"]]
            if all(len(option) == 1 for option in options):
                continue  # keys of the keypad: shown as they are
            key = select.get("translation_key")
            assert key, f"{field}: options {options} shown raw"
            labels = strings["selector"][key]["options"]
            assert set(labels) == set(options), field
            assert all(label and label not in options for label in labels.values())
            checked += 1
    assert checked == 2
