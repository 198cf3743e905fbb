"""The integration as a user meets it in Home Assistant's frontend, in Chromium.

Each test starts its own Home Assistant (see conftest.py) and leaves
screenshots of each step in ``.artifacts/browser/<test>/``. Texts are compared
with translations/en.json, so that a label shown as a raw key (a missing or
misnamed translation) fails.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
import json
from pathlib import Path
import re
import time
from typing import Any

from playwright.sync_api import Locator, Page, expect
import pytest

from elks_simulator import DEMO_PASSWORD, DEMO_USERNAME

from .conftest import CALLEE, UI_TIMEOUT_MS, LiveHass, shot

# Only guards against hangs: a busy machine takes minutes for a start alone.
pytestmark = pytest.mark.timeout(900)

EN: dict[str, Any] = json.loads(
    (
        Path(__file__).parents[2]
        / "custom_components"
        / "elks"
        / "translations"
        / "en.json"
    ).read_text(encoding="utf-8")
)
# What the frontend shows when a translation is missing.
RAW = re.compile(r"component\.elks\.|\bui\.panel\.|\[%key:|\{\w+\}")


def _text(locator: Locator) -> str:
    """Return what a user reads in ``locator`` (through shadow roots)."""
    return locator.aria_snapshot()


def _assert_readable(locator: Locator, *raw_names: str) -> str:
    """Fail on raw translation keys, or on field names shown instead of labels."""
    text = _text(locator)
    assert not RAW.search(text), text
    for name in raw_names:
        raw = rf'(?m)(?:- text: |- \w+ "|- \w+: ){re.escape(name)}\*?(?:"|:?$)'
        assert not re.search(raw, text), (
            name,
            text,
        )
    return text


def _read_when_shown(locator: Locator, labels: list[str], *raw_names: str) -> str:
    """Wait until ``locator`` shows every one of ``labels``; return its text.

    A step's title shows before its fields are rendered: the text is read
    once the labels asserted on are there, not when a first element is.
    The text is checked with :func:`_assert_readable` too.
    """
    for _ in range(UI_TIMEOUT_MS // 100):
        if all(label in _text(locator) for label in labels):
            break
        locator.page.wait_for_timeout(100)
    text = _assert_readable(locator, *raw_names)
    missing = [label for label in labels if label not in text]
    assert not missing, (missing, text)
    return text


def _wait_until[T](get: Callable[[], T], what: str) -> T:
    """Return ``get()`` once truthy; fail after ``UI_TIMEOUT_MS`` (a hang guard)."""
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while not (value := get()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


def _flow_dialog(page: Page) -> Locator:
    return page.locator("dialog-data-entry-flow")


def _finish(page: Page, dialog: Locator) -> None:
    """Close a flow dialog after its last step: click Finish, or see it close.

    Depending on the flow and the release, the frontend shows a success step
    with a Finish button or closes the dialog itself.
    """
    finish = dialog.get_by_role("button", name="Finish")
    open_dialog = dialog.get_by_role("dialog")
    for _ in range(UI_TIMEOUT_MS // 100):
        if finish.is_visible():
            finish.click()
            break
        if open_dialog.count() == 0:
            break
        page.wait_for_timeout(100)
    expect(open_dialog).to_have_count(0)


def _entry_id(live_hass: LiveHass) -> str:
    entries = live_hass.run(
        lambda: live_hass.api.get(
            "/api/config/config_entries/entry?domain=elks", "entries"
        )
    )
    assert [e["state"] for e in entries] == ["loaded"], entries
    return str(entries[0]["entry_id"])


def test_add_account_options_and_recipient(page: Page, live_hass: LiveHass) -> None:
    """Config flow (translated labels, Advanced collapsed, bad password), options, a recipient."""
    name = "config_flow"
    user = EN["config"]["step"]["user"]
    advanced = user["sections"]["advanced"]

    page.goto(f"{live_hass.url}/config/integrations/dashboard/add?domain=elks")
    page.get_by_role("button", name="OK").click()
    dialog = _flow_dialog(page)
    dialog.get_by_text(user["title"]).wait_for()
    _read_when_shown(
        dialog,
        [
            user["data"]["username"],
            user["data"]["password"],
            user["data_description"]["username"],
            advanced["name"],
        ],
        "username",
        "password",
        "advanced",
        "base_url",
    )
    shot(page, name, "1-user-step")
    base_url = dialog.locator("input[name=base_url]")
    assert not base_url.is_visible(), "the Advanced section starts collapsed"

    dialog.locator("input[name=username]").fill(DEMO_USERNAME)
    dialog.locator("input[name=password]").fill("not-the-password")
    dialog.get_by_text(advanced["name"], exact=True).click()
    expect(base_url).to_be_visible()
    _read_when_shown(dialog, [advanced["data"]["base_url"]])
    base_url.fill(live_hass.stack.sim_base_url)
    dialog.get_by_role("button", name="Submit").click()
    dialog.get_by_text(EN["config"]["error"]["invalid_auth"]).wait_for()
    shot(page, name, "2-invalid-password")

    dialog.locator("input[name=password]").fill(DEMO_PASSWORD)
    dialog.get_by_role("button", name="Submit").click()
    caller = EN["config"]["step"]["caller_id"]
    dialog.get_by_text(caller["title"], exact=True).wait_for()
    _read_when_shown(dialog, [caller["data"]["caller_id"]], "caller_id")
    shot(page, name, "3-caller-id")
    dialog.get_by_role("button", name="Submit").click()
    _finish(page, dialog)
    entry_id = _entry_id(live_hass)

    # Options: change the ring timeout; it is there when the dialog opens again.
    options = EN["options"]["step"]["init"]
    page.goto(f"{live_hass.url}/config/integrations/integration/elks")
    page.get_by_role("button", name="Configure").click()
    dialog.get_by_text(options["title"]).wait_for()
    _read_when_shown(
        dialog,
        list(options["data"].values()),
        "caller_id",
        "ring_timeout",
        "low_balance",
    )
    shot(page, name, "4-options")
    ring = dialog.get_by_role("spinbutton", name=options["data"]["ring_timeout"])
    ring.fill("45")
    dialog.get_by_role("button", name="Submit").click()
    _finish(page, dialog)
    page.get_by_role("button", name="Configure").click()
    dialog.get_by_text(options["title"]).wait_for()
    expect(
        dialog.get_by_role("spinbutton", name=options["data"]["ring_timeout"])
    ).to_have_value("45")
    page.keyboard.press("Escape")
    expect(dialog.get_by_role("dialog")).to_have_count(0)

    # A recipient: a bad number gets the translated error, then a notify entity.
    recipient = EN["config_subentries"]["recipient"]
    page.get_by_role("button", name=recipient["initiate_flow"]["user"]).click()
    dialog.get_by_text(recipient["step"]["user"]["title"]).first.wait_for()
    fields = recipient["step"]["user"]["data"]
    _read_when_shown(dialog, [fields["name"], fields["number"]], "name", "number")
    dialog.get_by_role("textbox", name=recipient["step"]["user"]["data"]["name"]).fill(
        "Anna"
    )
    number = dialog.get_by_role(
        "textbox", name=recipient["step"]["user"]["data"]["number"]
    )
    number.fill("0701")
    dialog.get_by_role("button", name="Submit").click()
    dialog.get_by_text(recipient["error"]["invalid_number"]).wait_for()
    shot(page, name, "5-recipient-bad-number")
    number.fill("+46700000102")
    dialog.get_by_role("button", name="Submit").click()
    _finish(page, dialog)
    page.get_by_text("Anna").first.wait_for()
    shot(page, name, "6-recipient-added")
    # The subentry shows before the entry's reload has added its entity.
    notify = _wait_until(
        lambda: [e for e in live_hass.entity_ids(entry_id) if e.startswith("notify.")],
        "the recipient's notify entity",
    )
    assert len(notify) == 1, live_hass.entity_ids(entry_id)
    assert live_hass.state(notify[0])["attributes"]["friendly_name"].endswith("Anna")


def _field_row(form: Locator, label: str) -> Locator:
    """Return the row of the action form that holds the field ``label``."""
    return form.locator("ha-settings-row").filter(
        has=form.page.get_by_text(label, exact=True)
    )


def test_call_form_and_last_call_on_the_device_page(
    page: Page, live_hass: LiveHass
) -> None:
    """The elks.call form reads well; a call made there shows on the device page."""
    name = "call_form"
    entry_id = live_hass.add_elks()
    sensor = next(e for e in live_hass.entity_ids(entry_id) if e.endswith("_last_call"))
    device_id = live_hass.ws(
        {"type": "config/entity_registry/get", "entity_id": sensor}
    )["device_id"]
    last_call = EN["entity"]["sensor"]["last_call"]

    page.goto(f"{live_hass.url}/config/devices/device/{device_id}")
    page.get_by_text(last_call["name"]).first.wait_for()
    shot(page, name, "1-device-before")

    texts = EN["services"]["call"]
    page.goto(f"{live_hass.url}/config/tools/action")
    page.get_by_text("Action", exact=True).first.click()
    # Typed into the picker's own search box: typed elsewhere, letters are
    # the frontend's keyboard shortcuts.
    picker = page.get_by_role("dialog", name="Select option")
    picker.get_by_placeholder("Search").fill("elks.call")
    page.get_by_text("elks.call", exact=True).first.click()
    expect(picker).to_have_count(0)
    form = page.locator("ha-service-control")
    fields = texts["fields"]
    form.get_by_text(fields["repeat"]["name"], exact=True).wait_for()
    text = _read_when_shown(
        form,
        [fields[key]["name"] for key in ("to", "message", "play", "mode", "rounds")]
        + [fields["require_ack"]["name"]]
        + [section["name"] for section in texts["sections"].values()],
        "lead_in",
        "require_ack",
        "tts_engine",
    )
    shot(page, name, "2-form")
    form.get_by_text(texts["sections"]["advanced"]["name"]).scroll_into_view_if_needed()
    shot(page, name, "2b-form-sections")
    # Who to call, what they hear, how to reach them.
    order = [
        text.index(fields[key]["name"])
        for key in ("to", "message", "play", "mode", "rounds", "require_ack")
    ]
    assert order == sorted(order), text
    for section in texts["sections"].values():
        assert section["name"] in text
    # Rarely used fields wait in collapsed sections.
    for key in ("timeout", "connect", "tts_engine", "pin"):
        assert not form.get_by_text(fields[key]["name"], exact=True).is_visible(), key
    # Options in words, not raw values.
    for key in ("lead_in", "mode"):
        for value, label in EN["selector"][key]["options"].items():
            expect(form.get_by_role("radio", name=label, exact=True)).to_have_count(1)
            expect(form.get_by_role("radio", name=value, exact=True)).to_have_count(0)

    to = _field_row(form, fields["to"]["name"])
    to.get_by_role("button", name="Add").click()
    to.get_by_role("textbox").first.fill(CALLEE)
    play = _field_row(form, fields["play"]["name"])
    play.locator("ha-checkbox").click()
    play.get_by_role("textbox").fill("sound/beep")
    shot(page, name, "3-form-filled")
    before = len(live_hass.stack.sim.calls)
    started = datetime.now(UTC).isoformat()
    page.get_by_role("button", name="Perform action").click()
    live_hass.run(lambda: _wait_calls(live_hass, before + 1), timeout=330)
    # The Activity card shows what the recorder has: the page is opened once
    # the entry is there, so that a slow or missing logbook entry fails here,
    # named, and not as a line the page never shows.
    _wait_until(
        lambda: any(
            "was answered" in str(entry.get("message"))
            for entry in live_hass.ws(
                {
                    "type": "logbook/get_events",
                    "start_time": started,
                    "device_ids": [device_id],
                }
            )
        ),
        "the call's logbook entry in the recorder",
    )

    page.goto(f"{live_hass.url}/config/devices/device/{device_id}")
    page.get_by_text(last_call["state"]["success"], exact=True).first.wait_for()
    # The logbook entry of the call is in the device's Activity card.
    page.get_by_text(re.compile(rf"call to \{CALLEE} was answered")).first.wait_for()
    shot(page, name, "4-device-after")
    assert live_hass.state(sensor)["state"] == "success"


async def _wait_calls(live_hass: LiveHass, count: int) -> None:
    """Wait until the simulator has ``count`` calls, all of them finished."""
    import asyncio  # noqa: PLC0415

    # Only guards against hangs.
    async with asyncio.timeout(300):
        while len(live_hass.stack.sim.calls) < count:
            await asyncio.sleep(0.1)
        for call in list(live_hass.stack.sim.calls.values()):
            await call.finished.wait()


def _subentry_ids(live_hass: LiveHass, entry_id: str, kind: str) -> list[str]:
    entries = live_hass.ws(
        {"type": "config_entries/subentries/list", "entry_id": entry_id}
    )
    return [e["subentry_id"] for e in entries if e["subentry_type"] == kind]


def _open_subentry_flow(page: Page, live_hass: LiveHass, label: str) -> Locator:
    page.goto(f"{live_hass.url}/config/integrations/integration/elks")
    page.get_by_role("button", name=label).click()
    return _flow_dialog(page)


def test_one_number_for_calls_and_sms(page: Page, live_hass: LiveHass) -> None:
    """Incoming calls, then Incoming SMS on the same number: every text translated."""
    name = "number_flows"
    seed = live_hass.stack.seed
    # The number's calls go elsewhere now: the flow asks, showing the host only.
    seed.voice_number.voice_start = "https://old.example.com/secret-path"
    entry_id = live_hass.add_elks()
    calls = EN["config_subentries"]["incoming_call"]
    sms = EN["config_subentries"]["incoming_sms"]

    dialog = _open_subentry_flow(page, live_hass, calls["initiate_flow"]["user"])
    dialog.get_by_text(calls["step"]["user"]["description"]).wait_for()
    shot(page, name, "1-calls-number")
    text = _assert_readable(dialog, "number_id")
    assert calls["step"]["user"]["data_description"]["number_id"] in text
    assert seed.voice_number.number in text
    dialog.get_by_role("button", name="Submit").click()
    title = calls["step"]["take_over"]["title"].format(number=seed.voice_number.number)
    dialog.get_by_text(title).wait_for()
    shot(page, name, "2-calls-take-over")
    text = _assert_readable(dialog)
    assert "old.example.com" in text and "secret-path" not in text, text
    dialog.get_by_role("button", name="Submit").click()
    settings = calls["step"]["settings"]
    dialog.get_by_text(settings["data"]["allow_anyone"]).first.wait_for()
    shot(page, name, "3-calls-settings")
    text = _assert_readable(dialog, *settings["data"])
    for label in settings["data"].values():
        assert label in text, (label, text)
    dialog.get_by_role("button", name="Submit").click()
    dialog.get_by_text(calls["error"]["nobody_allowed"]).wait_for()
    # Clicks the switch beside the label: newer frontends lay the switch
    # over the label's row, which the plain click takes for a blocker.
    dialog.get_by_text(settings["data"]["allow_anyone"]).first.click(force=True)
    expect(dialog.get_by_role("switch").first).to_be_checked()
    dialog.get_by_role("button", name="Submit").click()
    _finish(page, dialog)
    assert len(_subentry_ids(live_hass, entry_id, "incoming_call")) == 1

    dialog = _open_subentry_flow(page, live_hass, sms["initiate_flow"]["user"])
    user = sms["step"]["user"]
    dialog.get_by_text(user["data_description"]["number_id"]).wait_for()
    shot(page, name, "4-sms-number")
    text = _assert_readable(dialog, "number_id", "allowed_senders")
    # The voice number takes SMS too, besides its calls.
    assert seed.voice_number.number in text, text
    allowed = f"Add {user['data']['allowed_senders']}"
    dialog.get_by_role("button", name=allowed).click()
    dialog.get_by_role("textbox", name=user["data"]["allowed_senders"]).fill("0701")
    dialog.get_by_role("button", name="Submit").click()
    dialog.get_by_text(sms["error"]["invalid_allowed_senders"]).wait_for()
    shot(page, name, "5-sms-bad-sender")
    dialog.get_by_role("textbox", name=user["data"]["allowed_senders"]).fill(CALLEE)
    dialog.get_by_role("button", name="Submit").click()
    _finish(page, dialog)
    assert len(_subentry_ids(live_hass, entry_id, "incoming_sms")) == 1
    page.get_by_text(sms["entry_type"], exact=True).first.wait_for()
    shot(page, name, "6-integration-page")
