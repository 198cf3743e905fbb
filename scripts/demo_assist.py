"""scripts/demo --assist: one Assist turn by phone through a real Home Assistant.

Adds Assist (a pipeline with the demo's stand-in speech engines from
scripts/demo_voice and Assist's own conversation agent), exposes the
kitchen light, adds "Assist by phone" through the subentry flow over HTTP,
and then calls the websocket number with the simulator's WebSocket caller:
it says "turn on the kitchen light" (a recorded clip in 20 ms frames) and
hears the answer. Prints the transcript and the light's state change.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import time
from typing import Any
import wave

from elks_simulator.websocket import WebSocketCaller, websocket_url

REPO = Path(__file__).resolve().parent.parent
VOICE_COMPONENT = REPO / "scripts" / "demo_voice" / "elks_demo_voice"
CLIP = REPO / "tests" / "assist" / "audio" / "kitchen_on.wav"
WEBSOCKET_NUMBER = "+46766861000"
CALLER = "+46701111111"
LIGHT = "light.kitchen_light"


def assist_yaml() -> list[str]:
    """Return the configuration.yaml lines that add Assist and the stand-ins."""
    return [
        "assist_pipeline:",
        "conversation:",
        "stt:",
        "  - platform: elks_demo_voice",
        "tts:",
        "  - platform: elks_demo_voice",
        "light:",
        "  - platform: elks_demo_voice",
    ]


def link_voice_component(custom: Path) -> None:
    """Link the stand-in speech engines and lights into ``custom_components``."""
    link = custom / "elks_demo_voice"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(VOICE_COMPONENT, target_is_directory=True)


async def _create_pipeline(ws: Any) -> str:
    pipeline = await ws.command(
        {
            "type": "assist_pipeline/pipeline/create",
            "conversation_engine": "conversation.home_assistant",
            "conversation_language": "en",
            "language": "en",
            "name": "Phone",
            "stt_engine": "elks_demo_voice",
            "stt_language": "en",
            "tts_engine": "elks_demo_voice",
            "tts_language": "en",
            "tts_voice": None,
            "wake_word_entity": None,
            "wake_word_id": None,
        }
    )
    await ws.command(
        {
            "type": "homeassistant/expose_entity",
            "assistants": ["conversation"],
            "entity_ids": [LIGHT],
            "should_expose": True,
        }
    )
    return str(pipeline["id"])


async def _add_subentry(
    api: Any, entry_id: str, pipeline_id: str, number_id: str
) -> None:
    what = "Assist by phone flow"
    step = await api.post(
        "/api/config/config_entries/subentries/flow",
        {"handler": [entry_id, "assist"], "show_advanced_options": False},
        what,
    )
    step = await api.post(
        f"/api/config/config_entries/subentries/flow/{step['flow_id']}",
        {
            "pipeline": pipeline_id,
            "websocket_number": number_id,
            "dial_in_number": "none",
            "callers": [CALLER],
        },
        what,
    )
    if step.get("type") != "create_entry":
        raise RuntimeError(f"{what}: {step}")


async def _wait_voice_start(number: Any) -> str:
    """Wait until Home Assistant pointed the number at its WebSocket."""
    async with asyncio.timeout(30):
        while not (number.voice_start or "").startswith(("ws://", "wss://")):
            await asyncio.sleep(0.05)
    return str(number.voice_start)


async def _transcript(ws: Any, pipeline_id: str) -> tuple[str, str]:
    """Return what speech-to-text heard and what Assist answered (debug runs)."""
    runs = await ws.command(
        {"type": "assist_pipeline/pipeline_debug/list", "pipeline_id": pipeline_id}
    )
    heard = answer = "?"
    for run in runs["pipeline_runs"]:
        events = await ws.command(
            {
                "type": "assist_pipeline/pipeline_debug/get",
                "pipeline_id": pipeline_id,
                "pipeline_run_id": run["pipeline_run_id"],
            }
        )
        for event in events["events"]:
            data = event.get("data") or {}
            if event["type"] == "stt-end":
                heard = data["stt_output"]["text"]
            elif event["type"] == "intent-end":
                speech = data["intent_output"]["response"]["speech"]
                answer = speech.get("plain", {}).get("speech", "?")
        # Speech-to-text and the answer are two runs of the same turn.
        if "?" not in (heard, answer):
            break
    return heard, answer


async def run_assist_turn(
    stack: Any, api: Any, ws: Any, entry_id: str, time_scale: float
) -> bool:
    """Talk one turn to Assist by phone; print what happened."""
    pipeline_id = await _create_pipeline(ws)
    number = stack.sim.add_number(
        stack.seed.account, WEBSOCKET_NUMBER, capabilities=("voice",)
    )
    await _add_subentry(api, entry_id, pipeline_id, number.id)
    voice_start = await _wait_voice_start(number)
    shown = voice_start.rsplit("/", 1)[0] + "/<secret>"
    print(f"Assist by phone set up: {WEBSOCKET_NUMBER} voice_start = {shown}")
    await ws.command({"type": "subscribe_events", "event_type": "state_changed"})
    with wave.open(str(CLIP), "rb") as clip:
        speech = clip.readframes(clip.getnframes())
    url = websocket_url(stack.sim.numbers.values(), WEBSOCKET_NUMBER)
    caller = WebSocketCaller(
        api.session, url, caller=CALLER, to=WEBSOCKET_NUMBER, time_scale=time_scale
    )
    print(f"{CALLER} calls {WEBSOCKET_NUMBER}; 46elks opens the WebSocket:")
    started = time.perf_counter()
    if not await caller.connect():
        raise RuntimeError(f"WebSocket refused: HTTP {caller.status}")
    greeted = await caller.wait_for("sync")
    formats = [m["format"] for m in caller.received if "format" in m]
    print(f"  Home Assistant: {', '.join(caller.types()[:2])} {formats}; greeting")
    await caller.say(speech)
    await caller.silence(1.5)
    said = time.perf_counter()
    await caller.wait_for("sync", 2)
    answered = time.perf_counter()
    seconds = len(caller.audio(greeted)) / 32000
    heard, answer = await _transcript(ws, pipeline_id)
    print(f'  caller says ({len(speech) / 32000:.1f} s of audio): "{heard}"')
    print(f'  Assist answers: "{answer}" ({seconds:.1f} s of audio back)')
    await caller.hang_up()
    changed = await _light_change(ws)
    print(f"  {LIGHT}: {changed}")
    print(
        f"Turn took {(answered - said) * 1000:.0f} ms from the caller's last frame "
        f"to the whole answer; call {(time.perf_counter() - started):.1f} s in all."
    )
    return changed.startswith("off -> on")


async def _light_change(ws: Any) -> str:
    """Return the kitchen light's change and who made it, from the event bus."""
    async with asyncio.timeout(10):
        while True:
            _, event = await ws.events.get()
            data = event["data"]
            if event["event_type"] != "state_changed" or data["entity_id"] != LIGHT:
                continue
            user_id = event["context"].get("user_id")
            users = await ws.command({"type": "config/auth/list"})
            name = next((u["name"] for u in users if u["id"] == user_id), user_id)
            old, new = data["old_state"]["state"], data["new_state"]["state"]
            return f"{old} -> {new} (by user {name!r})"
