"""Tests of the command line interface (run as a subprocess)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
import signal
import sys

import aiohttp

from .conftest import basic

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


async def _run(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "elks_simulator",
        *args,
        cwd=REPO,
        env=_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _read_url(proc: asyncio.subprocess.Process) -> tuple[str, list[str]]:
    assert proc.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(
        300
    ):  # a bound against a hang; startup is slow when busy
        while True:
            raw = await proc.stdout.readline()
            assert raw, "simulator exited early: " + "".join(lines)
            line = raw.decode().strip()
            lines.append(line)
            if line.startswith("ELKS_SIMULATOR_URL="):
                return line.split("=", 1)[1], lines


async def test_cli_help() -> None:
    """--help prints usage and exits 0."""
    proc = await _run("--help")
    stdout, _ = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0
    text = stdout.decode()
    for option in ("--host", "--port", "--time-scale", "--no-seed"):
        assert option in text


async def test_cli_serves_demo_and_stops() -> None:
    """The CLI seeds the demo account, serves real HTTP and stops on SIGTERM."""
    proc = await _run("--host", "127.0.0.1", "--port", "0", "--time-scale", "0.001")
    try:
        url, lines = await _read_url(proc)
        assert url.startswith("http://127.0.0.1:") and url.endswith("/a1")
        text = "\n".join(lines)
        assert "demo-secret" in text
        assert "+46766860001" in text
        assert "+46700000106" in text
        async with aiohttp.ClientSession() as session:
            headers = basic("demo", "demo-secret")
            async with session.get(f"{url}/me", headers=headers) as resp:
                assert resp.status == 200
                assert (await resp.json())["mobilenumber"] == "+46700000000"
            async with session.post(
                f"{url}/calls",
                headers=headers,
                data={
                    "from": "+46766860001",
                    "to": "+46700000102",
                    "voice_start": json.dumps({"play": "sound/beep"}),
                },
            ) as resp:
                assert resp.status == 200
                call_id = (await resp.json())["id"]
            root = url.removesuffix("/a1")
            async with session.get(
                f"{root}/sim/calls/{call_id}/wait", params={"timeout": "60"}
            ) as resp:
                assert resp.status == 200
                assert (await resp.json())["state"] == "busy"
        proc.send_signal(signal.SIGTERM)
        stdout, _ = await asyncio.wait_for(proc.communicate(), 300)
        assert proc.returncode == 0
        assert "stopped" in stdout.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_cli_no_seed() -> None:
    """--no-seed starts without the demo account; SIGINT stops it."""
    proc = await _run("--port", "0", "--no-seed")
    try:
        url, lines = await _read_url(proc)
        assert not any("demo-secret" in line for line in lines)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}/me", headers=basic("demo", "demo-secret")) as resp,
        ):
            assert resp.status == 401
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 300)
        assert proc.returncode == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
