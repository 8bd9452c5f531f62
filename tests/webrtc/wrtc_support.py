"""A real aiohttp server with the browser-call routes, a real SQLite file and an aiortc "browser".

The Python client here is only for the signalling and adapter tests; the end-to-end test drives
real headless Chromium (test_browser_call.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import numpy.typing as npt
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ari_app.settings import Settings, load_settings
from ari_app.webrtc.gateway import WebRtcGateway, add_webrtc_routes
from models.db import make_engine, session_factory
from models.migrate import upgrade
from models.store import CallStore

Int16Array = npt.NDArray[np.int16]


@dataclass
class Server:
    url: str
    gateway: WebRtcGateway
    store: CallStore
    settings: Settings
    sessions: Any

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/voice/webrtc"

    async def token(self, http: aiohttp.ClientSession) -> str:
        async with http.post(self.url + "/voice/call/token") as resp:
            assert resp.status == 200, await resp.text()
            return str((await resp.json())["token"])


@contextlib.asynccontextmanager
async def running_server(
    tmp_path: Path, conversation: Callable[[Any], Awaitable[None]], env: dict[str, str] | None = None,
    settings: Settings | None = None, **options: Any,
) -> AsyncIterator[Server]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'webrtc.db'}"
    await asyncio.to_thread(upgrade, url)
    if settings is None:
        settings = load_settings(None, env={"HOTEL_OPERATOR_DATABASE__URL": url, **(env or {})})
    engine = make_engine(url)
    sessions = session_factory(engine)
    store = CallStore(sessions)
    app = web.Application()
    gateway = add_webrtc_routes(app, settings, store, conversation, **options)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Server(f"http://127.0.0.1:{port}", gateway, store, settings, sessions)
    finally:
        await runner.cleanup()
        await engine.dispose()


class PcmTrack(MediaStreamTrack):
    """A microphone that says ``pcm`` (8 kHz), then silence, paced at 20 ms, sent at 48 kHz."""

    kind = "audio"

    def __init__(self, pcm: Int16Array | None = None, lead_s: float = 0.0) -> None:
        super().__init__()
        self._samples = np.zeros(0, np.int16) if pcm is None else np.repeat(pcm, 6).astype(np.int16)
        self._samples = np.concatenate([np.zeros(int(48000 * lead_s), np.int16), self._samples])
        self._pos = 0
        self._start: float | None = None
        self.speech_end_at: float | None = None  # monotonic time the last sample went out

    def say(self, pcm: Int16Array) -> None:
        self._samples = np.concatenate([self._samples[: self._pos], np.repeat(pcm, 6).astype(np.int16)])
        self.speech_end_at = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
            self._n = 0
        self._n += 1
        delay = self._start + self._n * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        chunk = self._samples[self._pos : self._pos + 960]
        if self._pos < len(self._samples) <= self._pos + 960:
            self.speech_end_at = time.monotonic()
        self._pos += 960
        if len(chunk) < 960:
            chunk = np.concatenate([chunk, np.zeros(960 - len(chunk), np.int16)])
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = (self._n - 1) * 960
        frame.time_base = fractions.Fraction(1, 48000)
        return frame


@dataclass
class Browser:
    """An aiortc peer that signals like the page does."""

    pc: RTCPeerConnection
    ws: aiohttp.ClientWebSocketResponse
    mic: PcmTrack
    messages: list[dict[str, Any]] = field(default_factory=list)
    heard: list[Int16Array] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def next(self, kind: str, timeout_s: float = 20.0) -> dict[str, Any]:
        seen = 0
        async with asyncio.timeout(timeout_s):
            while True:
                for msg in self.messages[seen:]:
                    if msg.get("type") == kind:
                        return msg
                seen = len(self.messages)
                await asyncio.sleep(0.02)

    def states(self) -> list[str]:
        return [m.get("state", "") for m in self.messages if m.get("type") == "state"]

    async def send(self, obj: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(obj))

    async def close(self) -> None:
        await self.pc.close()
        if not self.ws.closed:
            await self.ws.close()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _read_ws(b: Browser) -> None:
    async for msg in b.ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            b.messages.append(json.loads(msg.data))


async def _listen(b: Browser, track: MediaStreamTrack) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            if not isinstance(frame, av.AudioFrame):
                continue
            arr = frame.to_ndarray().reshape(-1)
            if len(frame.layout.channels) > 1:
                arr = arr.reshape(-1, len(frame.layout.channels))[:, 0]
            b.heard.append(arr.astype(np.int16))


async def call(server: Server, http: aiohttp.ClientSession, mic: PcmTrack, token: str | None = None) -> Browser:
    """Open a call the way the page does (full offer, then the socket) and wait for the answer."""
    if token is None:
        token = await server.token(http)
    pc = RTCPeerConnection()
    pc.addTrack(mic)
    ws = await http.ws_connect(server.ws_url + f"?token={token}")
    b = Browser(pc, ws, mic)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        b.tasks.append(asyncio.ensure_future(_listen(b, track)))

    b.tasks.append(asyncio.ensure_future(_read_ws(b)))
    await pc.setLocalDescription(await pc.createOffer())
    await b.send({"type": "offer", "sdp": pc.localDescription.sdp})
    answer = await b.next("answer")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    return b


async def until(predicate: Callable[[], Any], timeout_s: float = 20.0) -> None:
    """Wait for state that lives in the server, the database or the browser (polling is the point)."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def webrtc_tasks() -> list[asyncio.Task[Any]]:
    """Tasks of ours still alive (every task a browser call starts is named webrtc:...)."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("webrtc:") and not t.done()]
