"""Browser-call latency: the browser's end of speech → first agent audio out at the server.

Same callers (flite renderings), same speech loop (webrtcvad, Whisper tiny.en, Piper) and same
embedded hotel brain as ``bench/latency.py``, whose functions are imported, not copied. The WebRTC
figure is measured over a real aiortc peer connection on loopback (Opus both ways, ICE, DTLS-SRTP):
the "browser" end is an aiortc peer sending the utterance paced at 20 ms; the time it hands over the
frame with the last speech sample is the end of speech, and the server's first voiced 20 ms frame
after it (``WebRtcMedia.on_first_voiced``) is the answer. The RTP figure is latency.py's own
``one_call`` in the same run (caller's last speech packet → first voiced RTP packet back).

    .venv/bin/python bench/webrtc.py [--utterances 6] [--calls 1,4]
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import soxr
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import latency as rtp_bench  # noqa: E402

from ari_app.brain.context import CallContext  # noqa: E402
from ari_app.brain.embedded import EmbeddedBrain  # noqa: E402
from ari_app.media import PortAllocator  # noqa: E402
from ari_app.session import CallInfo  # noqa: E402
from ari_app.settings import Settings, SpeechSettings  # noqa: E402
from ari_app.speech import SpeechEngines, SpeechLoop, TurnResult  # noqa: E402
from ari_app.speech.commit import CommitGate, GatedRegistry  # noqa: E402
from ari_app.webrtc.media import WebRtcMedia  # noqa: E402

Clip = tuple[Any, list[tuple[int, int]]]


class BrowserMic(MediaStreamTrack):
    """The browser's microphone: silence, or the loaded utterance, at 48 kHz, paced at 20 ms."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._samples = np.zeros(0, np.int16)
        self._end = 0
        self._pos = 0
        self._n = 0
        self._origin: float | None = None
        self.speech_ended: asyncio.Future[float] | None = None

    def say(self, pcm8: Any, end_sample: int) -> asyncio.Future[float]:
        audio = soxr.resample(pcm8.astype(np.float32) / 32768.0, 8000, 48000)
        self._samples = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
        self._end, self._pos = end_sample * 6, 0
        self.speech_ended = asyncio.get_running_loop().create_future()
        return self.speech_ended

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._origin is None:
            self._origin = time.monotonic()
        self._n += 1
        delay = self._origin + self._n * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        chunk = self._samples[self._pos : self._pos + 960]
        self._pos += 960
        fut = self.speech_ended
        if fut is not None and not fut.done() and self._pos >= self._end:
            fut.set_result(time.monotonic())  # this frame carries the last speech sample
        if len(chunk) < 960:
            chunk = np.concatenate([chunk, np.zeros(960 - len(chunk), np.int16)])
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = (self._n - 1) * 960
        frame.time_base = fractions.Fraction(1, 48000)
        return frame


async def connect(media: WebRtcMedia, mic: BrowserMic) -> tuple[RTCPeerConnection, RTCPeerConnection]:
    browser, server = RTCPeerConnection(), RTCPeerConnection()
    browser.addTrack(mic)
    pumps: list[asyncio.Task[None]] = []

    @server.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        pumps.append(asyncio.ensure_future(media.pump(track)))

    @browser.on("track")
    def on_browser_track(track: MediaStreamTrack) -> None:
        async def drain() -> None:
            try:
                while True:
                    await track.recv()
            except MediaStreamError:
                return

        pumps.append(asyncio.ensure_future(drain()))

    await browser.setLocalDescription(await browser.createOffer())
    await server.setRemoteDescription(browser.localDescription)
    server.addTrack(media.track)
    await server.setLocalDescription(await server.createAnswer())
    await browser.setRemoteDescription(server.localDescription)
    server._bench_pumps = pumps  # type: ignore[attr-defined]
    return browser, server


async def webrtc_call(engines: SpeechEngines, clips: list[Clip], call_no: int, sessions: Any) -> tuple[list[float], list[TurnResult]]:
    settings = Settings()
    ctx = CallContext.create(sessions=sessions, settings=settings, session_id=f"bench-webrtc-{call_no}")
    gate = CommitGate()
    ctx.registry = GatedRegistry(ctx.registry, gate)  # type: ignore[assignment]
    brain = EmbeddedBrain()
    async for _ev in brain.greet(ctx):
        pass
    respond, withdraw = rtp_bench.brain_respond(brain, ctx)
    media = WebRtcMedia()
    voiced: list[float] = []
    media.on_first_voiced.append(voiced.append)
    mic = BrowserMic()
    browser, server = await connect(media, mic)
    await media.start()
    session = rtp_bench.Session(media, CallInfo(f"bench-webrtc-{call_no}", call_no, f"webrtc-{call_no}"))  # type: ignore[arg-type]
    loop = SpeechLoop(session, engines, respond, record=False, on_withdraw=withdraw, commit_gate=gate)  # type: ignore[arg-type]
    e2e: list[float] = []
    async with asyncio.TaskGroup() as tg:
        run = tg.create_task(loop.run())
        await asyncio.sleep(1.0)  # ICE and DTLS settle, like the line before the first request
        for pcm, spans in clips:
            t_end = await mic.say(pcm, spans[-1][1])
            deadline = time.monotonic() + 10
            while not any(v > t_end for v in voiced) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            answered = [v for v in voiced if v > t_end]
            if answered:
                e2e.append((answered[0] - t_end) * 1000)
            while media.is_playing:  # noqa: ASYNC110 - let the answer finish (no barge-in)
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.5)
        loop.stop()
        await run
    await media.close()
    await browser.close()
    await server.close()
    for task in server._bench_pumps:  # type: ignore[attr-defined]
        task.cancel()
    return e2e, loop.turns


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--utterances", type=int, default=6, help="per call")
    ap.add_argument("--calls", default="1,4")
    args = ap.parse_args()
    load_before = f"{os.getloadavg()[0]:.2f}"
    speech = SpeechSettings(prompt_cache_dir="/tmp/hotel-operator-bench-prompts")
    engines = SpeechEngines.load(speech, hotel_name="Harbour View Hotel", progress=print)
    await engines.warm()
    clips = [rtp_bench.render(i) for i in range(args.utterances)]

    from models import Base
    from models.db import make_engine, session_factory
    from models.seed import seed_demo_hotel

    tmp = tempfile.mkdtemp(prefix="bench-webrtc-")
    db = make_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
    async with db.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = session_factory(db)
    await seed_demo_hotel(sessions)
    stub = rtp_bench.ChatStub()
    await stub.start()
    alloc = PortAllocator("127.0.0.1", 43000, 43999)
    lines = ["| calls | transport | answered | p50 e2e ms | p95 e2e ms |", "|---|---|---|---|---|"]
    p50: dict[tuple[int, str], float] = {}
    try:
        for calls in [int(c) for c in args.calls.split(",")]:
            print(f"running {calls} RTP call(s) ...", flush=True)
            rtp = await asyncio.gather(*[
                rtp_bench.one_call(engines, alloc, clips, "embedded", True, c + 1, sessions, stub) for c in range(calls)
            ])
            rtp_e2e = [x for r in rtp for x in r[0].e2e]
            print(f"running {calls} WebRTC call(s) ...", flush=True)
            wrtc = await asyncio.gather(*[webrtc_call(engines, clips, 100 + c, sessions) for c in range(calls)])
            wrtc_e2e = [x for r in wrtc for x in r[0]]
            n = calls * len(clips)
            for name, vals in (("RTP (phone)", rtp_e2e), ("WebRTC (browser)", wrtc_e2e)):
                p50[(calls, name)] = rtp_bench.pct(vals, 50)
                lines.append(f"| {calls} | {name} | {len(vals)}/{n} | {rtp_bench.pct(vals, 50):.0f} | "
                             f"{rtp_bench.pct(vals, 95):.0f} |")
                print(lines[-1], flush=True)
    finally:
        await stub.stop()
        await db.dispose()
        await engines.aclose()
    machine = f"{platform.machine()} {os.cpu_count()} CPU(s)"
    print(f"\n{time.strftime('%Y-%m-%d %H:%M')} on {machine}; load before {load_before}, after "
          f"{os.getloadavg()[0]:.2f}; e2e = browser's (or phone caller's) end of speech to first agent audio")
    print("\n".join(lines))
    for calls in sorted({c for c, _ in p50}):
        ratio = p50[(calls, "WebRTC (browser)")] / p50[(calls, "RTP (phone)")]
        print(f"WebRTC/RTP p50 ratio, {calls} call(s): {ratio:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
