"""Speech latency benchmark: caller's true end of speech → first RTP packet of our answer.

Callers are flite voices (slt, rms, awb, kal — not the operator's Piper voice), with the pauses real
callers make inside a request ("I'd like a room for … two adults, please."). They send μ-law RTP
over loopback to the media plane's RtpEndpoint; a SpeechLoop (real webrtcvad, Whisper tiny.en,
Piper) answers through a real brain: ``embedded`` (the hotel dialog on a seeded SQLite hotel) or
``llm`` (LlmBrain through the `openai` client to a local chat-completions stub that streams a fixed
reply at once). The caller timestamps the packet carrying the last speech sample of the utterance and
the first voiced packet after it; a voiced packet of ours *inside* the caller's pause is a turn cut
too early. Each configuration runs with the turn-end rule and with today's fixed 600 ms hangover
(no early end) in the same run, for the ratio.

    .venv/bin/python bench/latency.py [--utterances 10] [--modes embedded,llm] [--calls 1,4]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from aiohttp import web  # noqa: E402
from chatstub import LocalChatServer, chunk, stream_chunks  # noqa: E402
from flitevoice import VOICES, speak, with_pause  # noqa: E402

from ari_app.brain.context import CallContext  # noqa: E402
from ari_app.brain.embedded import EmbeddedBrain  # noqa: E402
from ari_app.brain.events import Say  # noqa: E402
from ari_app.brain.llm import LlmBrain  # noqa: E402
from ari_app.media import PortAllocator, RtpEndpoint  # noqa: E402
from ari_app.media.g711 import ulaw_encode  # noqa: E402
from ari_app.media.rtp import build_rtp_header, parse_rtp  # noqa: E402
from ari_app.session import CallInfo  # noqa: E402
from ari_app.settings import BrainSettings, Settings, SpeechSettings  # noqa: E402
from ari_app.speech import SpeechEngines, SpeechLoop, TurnResult  # noqa: E402
from ari_app.speech.commit import CommitGate, GatedRegistry  # noqa: E402

Int16Array = npt.NDArray[np.int16]

# (parts, pause inside the utterance in seconds): pauses at open points and after preambles
UTTERANCES: list[tuple[list[str], float]] = [
    (["I'd like a room for", "two adults, please."], 0.55),
    (["What time is check-out?"], 0.0),
    (["We arrive on the", "fifth of March."], 0.65),
    (["Is breakfast included?"], 0.0),
    (["My name is", "Sarah Johnson."], 0.7),
    (["Do you have parking for guests?"], 0.0),
    (["Great.", "I'd like to book a room for Friday."], 0.58),
    (["How much is a single room in October?"], 0.0),
    (["I need a twin room", "for three nights."], 0.45),
    (["Please put me through to the front desk."], 0.0),
]
LLM_REPLY = "Certainly. I can help with that right away."


def render(i: int) -> tuple[Int16Array, list[tuple[int, int]]]:
    """The utterance audio and its voiced spans (start, end samples) from the flite renderings."""
    parts, pause = UTTERANCES[i % len(UTTERANCES)]
    voice = VOICES[i % len(VOICES)]
    pcms = []
    for text in parts:
        pcm = speak(text, voice)
        loud = np.nonzero(np.abs(pcm.astype(np.int32)) > 300)[0]
        pcms.append(pcm[int(loud[0]) : int(loud[-1]) + 1] if loud.size else pcm)
    spans, pos = [], 0
    for k, pcm in enumerate(pcms):
        if k:
            pos += int(8000 * pause)
        spans.append((pos, pos + len(pcm)))
        pos += len(pcm)
    return with_pause(pcms, pause), spans


class ChatStub(LocalChatServer):
    """POST /v1/chat/completions: the fixed reply, streamed at once."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.requests += 1
        return await stream_chunks(request, [chunk({"role": "assistant", "content": LLM_REPLY}), chunk({}, "stop")])


def brain_respond(brain: Any, ctx: CallContext) -> tuple[Callable[[str], AsyncIterator[str]], Callable[[], None]]:
    """The conversation's respond/withdraw pair: the dialog state is snapshotted per turn and put
    back when the loop withdraws an early-ended turn."""
    snap: list[tuple[Any, list[Any], list[Any]]] = []

    async def respond(text: str) -> AsyncIterator[str]:
        snap[:] = [(copy.deepcopy(ctx.state), list(ctx.turns), copy.deepcopy(ctx.llm_messages))]
        async for ev in brain.respond(ctx, text, "speech"):
            if isinstance(ev, Say):
                yield ev.text

    def withdraw() -> None:
        if snap:
            ctx.state, turns, msgs = snap.pop()
            ctx.turns[:] = turns
            ctx.llm_messages[:] = msgs

    return respond, withdraw


@dataclass
class Session:
    media: RtpEndpoint
    info: CallInfo
    store: None = None
    control: None = None
    settings: Settings = field(default_factory=Settings)
    dtmf: asyncio.Queue[str] = field(default_factory=asyncio.Queue)


class CallerProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.voiced: list[float] = []
        self.last_voiced = 0.0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        now = time.monotonic()
        pkt = parse_rtp(data)
        if any(b not in (0xFF, 0x7F) for b in pkt.payload):
            self.last_voiced = now
            self.voiced.append(now)


@dataclass
class CallStats:
    e2e: list[float] = field(default_factory=list)
    cut_early: int = 0
    utterances: int = 0


async def caller(ep: RtpEndpoint, clips: list[tuple[Int16Array, list[tuple[int, int]]]], stats: CallStats) -> None:
    """Sends each utterance paced at 20 ms from a monotonic origin, then silence until answered."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(CallerProtocol, remote_addr=("127.0.0.1", ep.local_port))
    ep.set_remote("127.0.0.1", transport.get_extra_info("sockname")[1])  # what Asterisk tells us
    seq, ts, ssrc = random.getrandbits(16), random.getrandbits(32), random.getrandbits(32)
    origin = time.monotonic()
    n = 0
    silence = np.zeros(160, dtype=np.int16)

    async def send(frame: Int16Array) -> float:
        nonlocal seq, ts, n
        n += 1
        delay = origin + n * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        transport.sendto(build_rtp_header(False, 0, seq, ts, ssrc) + ulaw_encode(frame))
        seq, ts = (seq + 1) & 0xFFFF, (ts + 160) & 0xFFFFFFFF
        return time.monotonic()

    try:
        for _ in range(50):  # the line before the first request
            await send(silence)
        for pcm, spans in clips:
            frames = np.zeros(-(-len(pcm) // 160) * 160, dtype=np.int16)
            frames[: len(pcm)] = pcm
            first_end = spans[0][1]
            t_first_end = t_end = 0.0
            last = (spans[-1][1] - 1) // 160
            for i, frame in enumerate(frames.reshape(-1, 160)):
                t = await send(frame)
                if i == (first_end - 1) // 160:
                    t_first_end = t
                if i == last:
                    t_end = t
            stats.utterances += 1
            if len(spans) > 1 and any(t_first_end < v < t_end - 0.02 for v in proto.voiced):
                stats.cut_early += 1  # we spoke inside the caller's pause
            deadline = time.monotonic() + 10
            while not any(v > t_end for v in proto.voiced) and time.monotonic() < deadline:
                await send(silence)
            answered = [v for v in proto.voiced if v > t_end]
            if answered:
                stats.e2e.append((answered[0] - t_end) * 1000)
            while time.monotonic() - proto.last_voiced < 0.4:  # let the answer finish (no barge-in)
                await send(silence)
            for _ in range(25):
                await send(silence)
    finally:
        transport.close()


async def one_call(engines: SpeechEngines, alloc: PortAllocator, clips: list[tuple[Int16Array, list[tuple[int, int]]]],
                   mode: str, rule: bool, call_no: int, sessions: Any, stub: ChatStub) -> tuple[CallStats, list[TurnResult], int]:
    settings = Settings(brain=BrainSettings(mode="llm", openai_base_url=stub.url)) if mode == "llm" else Settings()
    ctx = CallContext.create(sessions=sessions, settings=settings, session_id=f"bench-{call_no}")
    gate = CommitGate()
    ctx.registry = GatedRegistry(ctx.registry, gate)  # type: ignore[assignment]
    brain: Any = LlmBrain(settings.brain) if mode == "llm" else EmbeddedBrain()
    async for _ev in brain.greet(ctx):
        pass
    respond, withdraw = brain_respond(brain, ctx)
    k = (call_no - 1) % len(clips)  # concurrent callers are at different points of their requests
    clips = clips[k:] + clips[:k]
    async with RtpEndpoint(alloc) as ep:
        session = Session(ep, CallInfo(f"bench-{call_no}", call_no, f"chan-{call_no}"))
        sl = SpeechLoop(session, engines, respond, record=False, turn_end_rule=rule,  # type: ignore[arg-type]
                        on_withdraw=withdraw, commit_gate=gate)
        stats = CallStats()
        async with asyncio.TaskGroup() as tg:
            run = tg.create_task(sl.run())
            await caller(ep, clips, stats)
            sl.stop()
            await run
        if os.environ.get("BENCH_DEBUG"):
            for t in sl.turns:
                print(t.caller_text, {k: round(v) for k, v in t.timings.items()})
        return stats, sl.turns, len(sl.continuations)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


def row(label: str, stats: list[CallStats], turns: list[TurnResult], continuations: int) -> str:
    e2e = [x for st in stats for x in st.e2e]
    utts = sum(st.utterances for st in stats)
    cut = sum(st.cut_early for st in stats)

    def med(key: str) -> float:
        vals = [t.timings.get(key, 0.0) for t in turns]
        return statistics.median(vals) if vals else float("nan")

    def share(key: str) -> str:
        return f"{sum(1 for t in turns if t.timings.get(key)) / max(1, len(turns)):.0%}"

    return (
        f"| {label} | {len(e2e)}/{utts} | {med('endpoint_ms'):.0f} | {med('stt_ms'):.0f} | {med('brain_ms'):.0f} | "
        f"{med('tts_first_audio_ms'):.0f} | {pct(e2e, 50):.0f} | {pct(e2e, 95):.0f} | "
        f"{cut / max(1, utts):.0%} ({cut}) | {continuations} | {share('stt_speculative')} | {share('early_end')} |"
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--utterances", type=int, default=10, help="per call")
    ap.add_argument("--modes", default="embedded,llm")
    ap.add_argument("--calls", default="1,4")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a SpeechSettings field, e.g. --set whisper_window_s=30")
    args = ap.parse_args()
    if os.environ.get("BENCH_DEBUG"):
        logging.basicConfig(format="%(relativeCreated)8.0f %(message)s")
        logging.getLogger("ari_app.speech.loop").setLevel(logging.DEBUG)
    overrides: dict[str, object] = {}
    for item in args.set:
        name, _, value = item.partition("=")
        overrides[name] = value
    load_before = f"{os.getloadavg()[0]:.2f}"
    settings = SpeechSettings(prompt_cache_dir="/tmp/hotel-operator-bench-prompts", **overrides)  # type: ignore[arg-type]
    engines = SpeechEngines.load(settings, hotel_name="Harbour View Hotel", progress=print)
    await engines.warm()
    clips = [render(i) for i in range(args.utterances)]

    from models import Base
    from models.db import make_engine, session_factory
    from models.seed import seed_demo_hotel

    tmp = tempfile.mkdtemp(prefix="bench-latency-")
    db = make_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
    async with db.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = session_factory(db)
    await seed_demo_hotel(sessions)
    stub = ChatStub()
    await stub.start()
    alloc = PortAllocator("127.0.0.1", 43000, 43999)
    lines = [
        "| run | answered/utterances | endpoint | STT after EOT | brain | TTS first audio | p50 e2e | p95 e2e "
        "| cut too early | withdrawn | speculative used | early end | sentences replayed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    p50: dict[str, float] = {}
    try:
        for mode in args.modes.split(","):
            for calls in [int(c) for c in args.calls.split(",")]:
                for rule in (True, False):
                    label = f"{mode}, {calls} call{'s' if calls > 1 else ''}, " + ("turn-end rule" if rule else "fixed 600 ms")
                    print(f"running {label} ...", flush=True)
                    if engines.sentences is not None:  # each configuration starts with no sentence said
                        engines.sentences.clear()
                        engines.sentences.hits = engines.sentences.misses = 0
                    results = await asyncio.gather(
                        *[one_call(engines, alloc, clips, mode, rule, c + 1, sessions, stub) for c in range(calls)]
                    )
                    stats = [r[0] for r in results]
                    turns = [t for r in results for t in r[1]]
                    cached = engines.sentences
                    reused = f"{cached.hits / max(1, cached.hits + cached.misses):.0%}" if cached else "off"
                    lines.append(row(label, stats, turns, sum(r[2] for r in results)) + f" {reused} |")
                    e2e = [x for st in stats for x in st.e2e]
                    p50[label] = pct(e2e, 50)
                    p50[label + " p95"] = pct(e2e, 95)
                    print(lines[-1], flush=True)
    finally:
        await stub.stop()
        await db.dispose()
        await engines.aclose()
    ratios = []
    for label in list(p50):
        if label.endswith("turn-end rule"):
            base = label.replace("turn-end rule", "fixed 600 ms")
            if base in p50:
                ratios.append(
                    f"{label.rsplit(',', 1)[0]}: p50 {p50[label] / p50[base]:.2f}x, "
                    f"p95 {p50[label + ' p95'] / p50[base + ' p95']:.2f}x of the fixed 600 ms hangover"
                )
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    machine = f"{platform.machine()} {os.cpu_count()} CPU(s), {platform.processor() or platform.platform()}"
    print(f"\n{stamp} on {machine}; load before {load_before}, after {os.getloadavg()[0]:.2f}; "
          f"vad_end_ms={settings.vad_end_ms}, vad_early_end_ms={settings.vad_early_end_ms}, "
          f"vad_open_end_ms={settings.vad_open_end_ms}, vad_pause_ms={settings.vad_pause_ms}, "
          f"beam={settings.whisper_beam_size}, window={settings.whisper_window_s}s, workers={settings.workers}, "
          f"overrides={overrides}; stage columns are medians in ms; e2e = caller's true end of speech to the "
          f"first voiced answer packet; cut too early = we spoke inside the caller's pause; sentences replayed = "
          f"reply sentences (or first clauses) served from the in-memory sentence cache, emptied before each run")
    print("\n".join(lines))
    print("\nRatio (turn-end rule / fixed 600 ms, same run):\n  " + "\n  ".join(ratios))


if __name__ == "__main__":
    asyncio.run(main())
