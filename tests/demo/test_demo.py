"""scripts/demo keeps working: a real Home Assistant places a call.

Runs the demo driver as scripts/demo does, minus the chroot (these tests run
inside the environment already): the 46elks simulator, a ``hass`` process of
this interpreter, onboarding, the config flow, ``elks.call`` and the hangup
webhook, all over HTTP.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parents[2]
DRIVER = REPO / "scripts" / "demo_driver.py"
DEMO_TIMEOUT = 240


def _missing_demo_requirements() -> list[str]:
    """Return the lines of requirements_demo.txt whose package is not installed."""
    missing = []
    for raw in (REPO / "requirements_demo.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name = re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0]
        try:
            version(name)
        except PackageNotFoundError:
            missing.append(line)
    return missing


def _run_demo(*args: str) -> tuple[int, str]:
    """Run the demo driver; return its exit code and output.

    On a timeout it is asked to stop (it stops Home Assistant and the
    simulator), then killed with its process group.
    """
    process = subprocess.Popen(
        [sys.executable, str(DRIVER), "demo", *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=DEMO_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        pytest.fail(f"scripts/demo took longer than {DEMO_TIMEOUT} s:\n{output}")
    return process.returncode, output


pytestmark = [
    pytest.mark.timeout(DEMO_TIMEOUT + 60),
    pytest.mark.usefixtures("socket_enabled"),
]


def test_demo_places_a_call_that_ends_in_success() -> None:
    """The demo exits 0 and tells the call's id, states and timings."""
    if missing := _missing_demo_requirements():
        pytest.skip(
            "Home Assistant's start requirements are not installed "
            f"(scripts/setup installs requirements_demo.txt): {', '.join(missing)}"
        )
    code, output = _run_demo()

    assert code == 0, output
    match = re.search(r"call id (c[0-9a-f]+), placed from \+46766860001", output)
    assert match is not None, output
    call_id = match.group(1)
    assert re.search(r"sensor\.\w+_last_call: \w+ -> ongoing -> success", output), (
        output
    )
    assert f'"call_id": "{call_id}"' in output
    assert f"Call {call_id} ended: success." in output
    assert "hangup webhook POST -> sensor update (websocket)" in output
    # requirements_demo.txt covers what Home Assistant loads at start.
    assert "Home Assistant installed no packages at start." in output
    config_dir = _config_dir(output)
    assert not config_dir.exists(), "a successful demo removes its config dir"
    assert not _processes_using(config_dir)


def test_demo_assist_talks_one_turn_and_the_light_goes_on() -> None:
    """``--assist``: the transcript of one turn and the light's change, by phone."""
    if missing := _missing_demo_requirements():
        pytest.skip(f"Home Assistant's start requirements are not installed: {missing}")
    code, output = _run_demo("--assist")

    assert code == 0, output
    assert "voice_start = ws://127.0.0.1:" in output
    assert output.count("/api/elks/assist/<secret>") == 1, output
    assert 'caller says (1.8 s of audio): "turn on the kitchen light"' in output
    assert 'Assist answers: "Turned on the light"' in output
    assert "light.kitchen_light: off -> on (by user '46elks phone')" in output
    assert not _processes_using(_config_dir(output))


def test_demo_incoming_call_rings_to_trigger() -> None:
    """``--incoming``: a caller on the allow-list is rejected unanswered; the event fires."""
    if missing := _missing_demo_requirements():
        pytest.skip(f"Home Assistant's start requirements are not installed: {missing}")
    code, output = _run_demo("--incoming")

    assert code == 0, output
    assert "+46766860001 now sends its calls to Home Assistant" in output
    assert 'answered: False; actions: [{"hangup": "reject"}]' in output
    assert '"action": "reject", "allowed": true' in output
    assert "rang, was rejected without answering, and fired the event." in output
    config_dir = _config_dir(output)
    assert not config_dir.exists(), "a successful demo removes its config dir"
    assert not _processes_using(config_dir)


def test_demo_failure_is_one_line_and_stops_everything() -> None:
    """A refused action fails the demo with a clear line; nothing keeps running."""
    if missing := _missing_demo_requirements():
        pytest.skip(f"Home Assistant's start requirements are not installed: {missing}")
    code, output = _run_demo("--to", "12")

    assert code == 1, output
    assert "demo FAILED: elks.call: HTTP 400:" in output
    assert "is not a phone number in international format" in output
    config_dir = _config_dir(output)
    try:
        assert not _processes_using(config_dir)
        assert (config_dir / "home-assistant.log").is_file()
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)


def _config_dir(output: str) -> Path:
    match = re.search(r"\(config (\S+/\.demo/config-\d+)\)", output)
    assert match is not None, output
    return Path(match.group(1))


def _processes_using(config_dir: Path) -> list[str]:
    """Return the command lines of running processes that name ``config_dir``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(config_dir) in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found
