"""Media-plane load bench: N concurrent RtpEndpoints in this process against bench/loadgen.py.

Each call receives 50 packets/s from the load generator (a second process, pinned to another CPU) and
sends a paced stream back (agent audio, so the voiced path with utterance bookkeeping is exercised).
Per N and pacing mode it prints CPU µs per packet (in + out), send lateness (actual send time minus
the tick deadline) p50/p99/max, the receiver's inter-arrival deviation p99/max (kernel timestamps in the
load generator) and loss.

Modes:
  shared   one MediaClock for all endpoints (what the app uses)
  percall  one MediaClock (one asyncio task) per endpoint, same deadline arithmetic
  naive    one task per endpoint doing ``sleep(0.02)`` after each packet: the baseline to beat

Usage: .venv/bin/python bench/media.py [--quick] [--ns 50,100,300,500] [--modes shared,percall,naive]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ari_app.media.clock import MediaClock  # noqa: E402
from ari_app.media.endpoint import PortAllocator, RtpEndpoint  # noqa: E402

HERE = Path(__file__).resolve().parent


class NaiveClock(MediaClock):
    """Baseline: ``await sleep(period)`` after each tick, as most open voice bots do.

    Lateness is still measured against ``origin + n * period``, so its drift shows.
    """

    async def _run(self) -> None:
        origin = self.time_fn()
        n = 0
        while True:
            n += 1
            await asyncio.sleep(self.period)
            self.tick(origin + n * self.period)


@dataclass
class Result:
    mode: str
    n: int
    cpu_us_per_pkt: float
    late_p50: float
    late_p99: float
    late_max: float
    dev_p99: float
    dev_max: float
    loss: float
    pkts: int
    heard: int


async def run_one(mode: str, n: int, warmup: float, duration: float, port_base: int) -> Result:
    alloc = PortAllocator("127.0.0.1", port_base, port_base + n + 63)
    lateness: list[float] = []
    shared = MediaClock() if mode == "shared" else None
    clocks: list[MediaClock] = []
    eps: list[RtpEndpoint] = []
    speech = bytes((0x20 + i) % 0x7F for i in range(160 * 50 * 60))  # one minute of "agent audio"
    for _ in range(n):
        clock = shared or (MediaClock() if mode == "percall" else NaiveClock())
        if clock not in clocks:
            clocks.append(clock)
        # the source check on, as on a call (issue 18 D3): the load generator's ports are its own, so
        # the host is hinted and each call latches on its first packet
        ep = RtpEndpoint(alloc, clock=clock, source_check="host")
        await ep.start()
        ep.set_remote("127.0.0.1", 9)
        ep.play_ulaw(speech)
        eps.append(ep)
    cfg = {"host": "127.0.0.1", "ports": [e.local_port for e in eps], "warmup": warmup,
           "duration": duration, "cpu": 1 if (os.cpu_count() or 1) > 1 else None}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "loadgen.py"), stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(cfg).encode())
    proc.stdin.close()
    await asyncio.sleep(warmup)
    for c in clocks:
        c.send_lateness = lateness
    lateness.clear()
    cpu0 = time.process_time()
    pk0 = sum(e.stats.packets_in + e.stats.packets_out for e in eps)
    out, _ = await proc.communicate()
    cpu = time.process_time() - cpu0
    pkts = sum(e.stats.packets_in + e.stats.packets_out for e in eps) - pk0
    for c in clocks:
        c.send_lateness = None
    for ep in eps:
        await ep.close()
    rx = json.loads(out)
    late = np.array(lateness) * 1000 if lateness else np.zeros(1)
    return Result(mode, n, cpu / max(pkts, 1) * 1e6, float(np.percentile(late, 50)),
                  float(np.percentile(late, 99)), float(late.max()), rx["dev_p99_ms"], rx["dev_max_ms"],
                  rx["loss"], pkts, rx["streams_heard"])


def machine() -> str:
    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPU, {model}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 10, 50 and short runs")
    ap.add_argument("--ns", default="50,100,300,500")
    ap.add_argument("--modes", default="shared,percall,naive")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--json", type=Path, help="also write results here")
    args = ap.parse_args()
    ns = [10, 50] if args.quick else [int(x) for x in args.ns.split(",")]
    if args.quick:
        args.warmup, args.duration = 1.0, 3.0
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})  # the media process gets one core; the load generator another
    print(f"# {time.strftime('%Y-%m-%d %H:%M %Z')} | {machine()} | media process pinned to 1 core")
    print(f"# warmup {args.warmup}s, measured {args.duration}s per row; 50 pkt/s in + 50 pkt/s out per call")
    hdr = (f"{'mode':8} {'N':>4} {'CPU us/pkt':>10} {'late p50':>9} {'late p99':>9} {'late max':>9} "
           f"{'rx dev p99':>10} {'rx dev max':>10} {'loss':>7}")
    print(hdr)
    results: list[Result] = []
    port_base = 20000
    for mode in args.modes.split(","):
        for n in ns:
            r = asyncio.run(run_one(mode, n, args.warmup, args.duration, port_base))
            port_base += n + 64
            results.append(r)
            print(f"{r.mode:8} {r.n:4d} {r.cpu_us_per_pkt:10.1f} {r.late_p50:9.2f} {r.late_p99:9.2f} "
                  f"{r.late_max:9.2f} {r.dev_p99:10.2f} {r.dev_max:10.2f} {r.loss:7.2%}", flush=True)
    by = {(r.mode, r.n): r for r in results}
    print("# ratios vs baseline (naive sleep(0.02) task per call) at the same N:")
    for n in ns:
        s, b = by.get(("shared", n)), by.get(("naive", n))
        p = by.get(("percall", n))
        if s and b:
            print(f"#  N={n}: CPU/pkt shared/naive = {s.cpu_us_per_pkt / b.cpu_us_per_pkt:.2f}, "
                  f"late p99 naive/shared = {b.late_p99 / max(s.late_p99, 1e-3):.0f}x"
                  + (f", CPU/pkt percall/shared = {p.cpu_us_per_pkt / s.cpu_us_per_pkt:.2f}" if p else ""))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1))


if __name__ == "__main__":
    main()
