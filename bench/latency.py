"""Speech latency benchmark: caller's true end of speech → first RTP packet of our answer.

A simulated caller sends Piper-rendered hotel requests as μ-law RTP over loopback to the media plane's
RtpEndpoint; a SpeechLoop (real webrtcvad, Whisper tiny.en, Piper) answers through a fake brain. The
caller timestamps the packet that carries the last speech sample and the first non-silent packet that
comes back. Runs 1 and 4 concurrent calls, plus a baseline in the same run (no speculative STT, whole
reply synthesised before playing) for the ratio.

    .venv/bin/python bench/latency.py [--utterances 20] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ari_app.media import PortAllocator, RtpEndpoint  # noqa: E402
from ari_app.media.g711 import ulaw_encode  # noqa: E402
from ari_app.media.rtp import build_rtp_header, parse_rtp  # noqa: E402
from ari_app.session import CallInfo  # noqa: E402
from ari_app.settings import Settings, SpeechSettings  # noqa: E402
from ari_app.speech import SpeechEngines, SpeechLoop, TurnResult  # noqa: E402
from ari_app.speech.tts import SentenceTts  # noqa: E402

Int16Array = npt.NDArray[np.int16]

REQUESTS = [
    "I'd like to book a double room for two guests.",
    "Do you have a suite available on July twelfth?",
    "What time is check-out?",
    "Is breakfast included?",
    "I need a twin room for three nights.",
    "Can I check in early tomorrow?",
    "Do you have parking for guests?",
    "My name is Sarah Johnson.",
    "How much is a single room in October?",
    "Please put me through to the front desk.",
]
REPLY = ["Certainly. ", "I can help with that right away."]


async def brain(text: str) -> AsyncIterator[str]:
    for part in REPLY:
        yield part


class WholeReplyTts(SentenceTts):
    """Baseline: waits for the whole reply text and synthesises it in one piece."""

    def __init__(self, inner: SentenceTts) -> None:
        self.inner = inner
        self.name = f"whole({inner.name})"

    @property
    def voice_id(self) -> str:
        return self.inner.voice_id

    async def synthesize(self, text: str) -> Int16Array:
        return await self.inner.synthesize(text)

    async def speak_sentences(self, text_stream: AsyncIterator[str]):  # type: ignore[no-untyped-def]
        text = "".join([c async for c in text_stream])
        yield text, await self.inner.synthesize(text)


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
        self.first_answer: float | None = None
        self.armed = False
        self.last_voiced = 0.0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        now = time.monotonic()
        pkt = parse_rtp(data)
        if any(b not in (0xFF, 0x7F) for b in pkt.payload):
            self.last_voiced = now
            if self.armed and self.first_answer is None:
                self.first_answer = now


async def caller(port: int, clips: list[tuple[Int16Array, int]], results: list[float]) -> None:
    """Sends each clip paced at 20 ms from a monotonic origin, then silence until answered."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(CallerProtocol, remote_addr=("127.0.0.1", port))
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
        for _ in range(25):
            await send(silence)
        for pcm, end_sample in clips:
            frames = np.zeros(-(-len(pcm) // 160) * 160, dtype=np.int16)
            frames[: len(pcm)] = pcm
            proto.first_answer, proto.armed = None, False
            true_end = 0.0
            for i, frame in enumerate(frames.reshape(-1, 160)):
                t = await send(frame)
                if i == end_sample // 160:
                    true_end, proto.armed = t, True
            deadline = time.monotonic() + 10
            while proto.first_answer is None and time.monotonic() < deadline:
                await send(silence)
            if proto.first_answer is not None:
                results.append((proto.first_answer - true_end) * 1000)
            # let the answer finish (no barge-in), then a short gap before the next request
            while time.monotonic() - proto.last_voiced < 0.3:
                await send(silence)
            for _ in range(10):
                await send(silence)
    finally:
        transport.close()


async def one_call(engines: SpeechEngines, alloc: PortAllocator, clips: list[tuple[Int16Array, int]],
                   baseline: bool, call_no: int) -> tuple[list[float], list[TurnResult]]:
    async with RtpEndpoint(alloc, source_check="any") as ep:  # the bench caller is no Asterisk
        session = Session(ep, CallInfo(f"bench-{call_no}", call_no, f"chan-{call_no}"))
        sl = SpeechLoop(session, engines, brain, record=False, speculative=not baseline)  # type: ignore[arg-type]
        if baseline:
            sl.tts = WholeReplyTts(sl.tts)  # type: ignore[arg-type]
        e2e: list[float] = []
        async with asyncio.TaskGroup() as tg:
            run = tg.create_task(sl.run())
            await caller(ep.local_port, clips, e2e)
            sl.stop()
            await run
        if os.environ.get("BENCH_DEBUG"):
            for t in sl.turns:
                print({k: round(v) for k, v in t.timings.items()})
        return e2e, sl.turns


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


def row(label: str, e2e: list[float], turns: list[TurnResult]) -> str:
    def med(key: str) -> float:
        vals = [t.timings.get(key, 0.0) for t in turns]
        return statistics.median(vals) if vals else float("nan")

    def share(key: str) -> str:
        return f"{sum(1 for t in turns if t.timings.get(key)) / max(1, len(turns)):.0%}"

    return (
        f"| {label} | {len(e2e)} | {med('endpoint_ms'):.0f} | {med('stt_ms'):.0f} | {med('brain_ms'):.0f} | "
        f"{med('tts_first_audio_ms'):.0f} | {med('send_ms'):.0f} | {pct(e2e, 50):.0f} | {pct(e2e, 95):.0f} | "
        f"{share('stt_speculative')} | {share('early_end')} | {share('one_moment')} |"
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--utterances", type=int, default=20)
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--vad-end-ms", type=int, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a SpeechSettings field, e.g. --set whisper_window_s=30")
    args = ap.parse_args()
    overrides: dict[str, object] = {} if args.vad_end_ms is None else {"vad_end_ms": args.vad_end_ms}
    for item in args.set:
        name, _, value = item.partition("=")
        overrides[name] = value
    load_before = f"{os.getloadavg()[0]:.2f}"
    settings = SpeechSettings(prompt_cache_dir="/tmp/hotel-operator-bench-prompts", **overrides)  # type: ignore[arg-type]
    engines = SpeechEngines.load(settings, hotel_name="Harbour View Hotel", progress=print)
    await engines.warm()
    tts = engines.voice_for("en")
    clips: list[tuple[Int16Array, int]] = []
    for i in range(args.utterances):
        pcm = await tts.synthesize(REQUESTS[i % len(REQUESTS)])
        loud = np.nonzero(np.abs(pcm.astype(np.int32)) > 300)[0]
        end = int(loud[-1]) + 1 if loud.size else len(pcm)
        clips.append((np.concatenate([np.zeros(4000, np.int16), pcm[:end], np.zeros(80, np.int16)]), 4000 + end))
    alloc = PortAllocator("127.0.0.1", 43000, 43999)
    lines = [
        "| run | n | endpoint | STT after EOT | brain | TTS first audio | send | p50 e2e | p95 e2e "
        "| speculative used | early end | one moment |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary: dict[str, list[float]] = {}
    for label, calls, baseline in [("1 call", 1, False), ("4 calls", 4, False), ("1 call, baseline", 1, True)]:
        if baseline and args.skip_baseline:
            continue
        print(f"running {label} ...", flush=True)
        results = await asyncio.gather(
            *[one_call(engines, alloc, clips, baseline, c + 1) for c in range(calls)]
        )
        e2e = [x for r in results for x in r[0]]
        turns = [t for r in results for t in r[1]]
        summary[label] = e2e
        lines.append(row(label, e2e, turns))
        print(lines[-1], flush=True)
    await engines.aclose()
    ratio = ""
    if "1 call, baseline" in summary:
        ratio = (
            f"\nBaseline/streamed p50 ratio (1 call): "
            f"{pct(summary['1 call, baseline'], 50) / pct(summary['1 call'], 50):.2f}x"
        )
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    machine = f"{platform.machine()} {os.cpu_count()} CPU(s), {platform.processor() or platform.platform()}"
    print(f"\n{stamp} on {machine}; load before {load_before}, after {os.getloadavg()[0]:.2f}; "
          f"vad_end_ms={settings.vad_end_ms}, vad_pause_ms={settings.vad_pause_ms}, "
          f"vad_early_end_ms={settings.vad_early_end_ms}, beam={settings.whisper_beam_size}, "
          f"window={settings.whisper_window_s}s, cpu_threads={settings.whisper_cpu_threads}, "
          f"workers={settings.workers}, overrides={overrides}; stage columns are medians in ms, e2e = caller's true end of speech "
          f"to first answer RTP packet")
    print("\n".join(lines) + ratio)


if __name__ == "__main__":
    asyncio.run(main())
