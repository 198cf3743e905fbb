"""A caller on a 46elks websocket number: the call-audio WebSocket, 46elks' side.

When a websocket number is called, 46elks connects to its ``voice_start``
(``ws://``/``wss://``), sends ``hello`` and then the caller's audio as
base64 ``audio`` messages of 20 ms, and plays what comes back. This client
does the same over loopback: it dials a number of the simulator (following
a ``{"connect": "<websocket number>"}`` action to the websocket number),
speaks PCM in real 20 ms frames (sped up by ``time_scale``), records every
message it gets, and can hang up (``bye``) or drop the connection
mid-sentence. Playback ends when it answers the server's ``sync`` with
``sync`` (46elks' own confirmation of played audio is a guess), unless
``hold_playback`` keeps it "playing" so that a test can talk over it.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterable
import json
from typing import Any

import aiohttp

from .models import Number

FRAME_BYTES = 640  # 20 ms of pcm_16000
FRAME_SECONDS = 0.02


def websocket_url(numbers: Iterable[Number], number: str) -> str:
    """Return the WebSocket URL a call to ``number`` ends up at.

    ``voice_start`` is either the URL itself or ``{"connect": "<number>"}``
    leading to a websocket number of the same simulator.
    """
    by_number = {n.number: n for n in numbers}
    seen: set[str] = set()
    while number not in seen:
        seen.add(number)
        start = by_number[number].voice_start or ""
        if start.startswith(("ws://", "wss://")):
            return start
        action = json.loads(start)
        number = action["connect"]
    raise ValueError("voice_start connects in a circle")


class WebSocketCaller:
    """One call over the call-audio WebSocket, seen from 46elks."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        caller: str,
        to: str,
        callid: str = "c0123456789abcdef0123456789abcdef",
        time_scale: float = 0.0,
    ) -> None:
        """Prepare a call from ``caller`` to ``to``; ``connect`` dials it."""
        self._session = session
        self._url = url
        # None: the test sends its own first message (``send_raw``).
        self.hello: dict[str, str] | None = {
            "t": "hello",
            "callid": callid,
            "from": caller,
            "to": to,
        }
        self.time_scale = time_scale
        self.hold_playback = False
        self.received: list[dict[str, Any]] = []
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._arrived = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self._status: int | None = None

    @property
    def status(self) -> int | None:
        """HTTP status of a refused connection (404, 403, ...), else None."""
        return self._status

    async def connect(self) -> bool:
        """Open the WebSocket and say ``hello``; False when it was refused."""
        try:
            self._ws = await self._session.ws_connect(self._url, autoping=True)
        except aiohttp.WSServerHandshakeError as err:
            self._status = err.status
            self.closed.set()
            return False
        if self.hello is not None:
            await self._ws.send_json(self.hello)
        self._reader = asyncio.create_task(self._read())
        return True

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                data = json.loads(msg.data)
                if data.get("t") == "sync" and not self.hold_playback:
                    await self._ws.send_json({"t": "sync"})
                async with self._arrived:
                    self.received.append(data)
                    self._arrived.notify_all()
        finally:
            self.closed.set()
            async with self._arrived:
                self._arrived.notify_all()

    def types(self) -> list[str]:
        """Return the ``t`` of every message received, in order."""
        return [m["t"] for m in self.received]

    def audio(self, start: int = 0) -> bytes:
        """Return the audio received from message ``start`` on, decoded."""
        return b"".join(
            base64.b64decode(m["data"])
            for m in self.received[start:]
            if m["t"] == "audio"
        )

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 300.0) -> int:
        """Wait until ``count`` messages of type ``kind`` arrived; index of the last.

        Raises ``ConnectionError`` when the socket closes first; ``timeout``
        only guards against a hang, it orders nothing.
        """
        async with asyncio.timeout(timeout), self._arrived:
            while True:
                found = [i for i, m in enumerate(self.received) if m["t"] == kind]
                if len(found) >= count:
                    return found[count - 1]
                if self.closed.is_set():
                    raise ConnectionError(f"closed before {count} {kind!r}")
                await self._arrived.wait()

    async def say(self, pcm: bytes, *, stop_after: int | None = None) -> None:
        """Send ``pcm_16000`` audio in 20 ms frames, paced by ``time_scale``.

        ``stop_after`` sends only that many frames (a sentence cut off). Stops
        quietly when the server ended the call.
        """
        assert self._ws is not None
        frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
        for frame in frames[:stop_after]:
            data = base64.b64encode(frame).decode()
            try:
                await self._ws.send_json({"t": "audio", "data": data})
            except aiohttp.ClientConnectionResetError:
                return  # the other side ended the call
            await asyncio.sleep(FRAME_SECONDS * self.time_scale)

    async def silence(self, seconds: float) -> None:
        """Send ``seconds`` of silence."""
        await self.say(bytes(int(seconds / FRAME_SECONDS) * FRAME_BYTES))

    async def send_raw(self, text: str) -> None:
        """Send any text (a test of the server's checks)."""
        assert self._ws is not None
        await self._ws.send_str(text)

    async def hang_up(self, reason: str = "hangup") -> None:
        """Say ``bye`` like 46elks when the caller hangs up, and close."""
        assert self._ws is not None
        if not self._ws.closed:
            await self._ws.send_json({"t": "bye", "reason": reason})
        await self.drop()

    async def drop(self) -> None:
        """Close the connection without a word (the network broke)."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader
        self.closed.set()
