"""RTP load generator for bench/media.py, run as a second process.

Plays Asterisk's side of N externalMedia legs: one UDP socket per call sending a 160-byte PCMU packet
every 20 ms (deadline-paced), and receiving what the endpoints send back. Arrival times come from the
kernel (SO_TIMESTAMPNS), so this process's own scheduling delays do not pollute the measured
inter-arrival deviation of the endpoints' streams.

Input (stdin, JSON): {"host": str, "ports": [int], "warmup": s, "duration": s, "cpu": int | null}
Output (stdout, JSON): receive statistics over the measurement window.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import struct
import sys
import time

import numpy as np

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
PERIOD = 0.020
_HDR = struct.Struct("!BBHII")


def main() -> None:
    cfg = json.loads(sys.stdin.read())
    if cfg.get("cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cfg["cpu"]})
    host, ports = cfg["host"], cfg["ports"]
    warmup, duration = float(cfg["warmup"]), float(cfg["duration"])
    n = len(ports)
    socks: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    for i, port in enumerate(ports):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((host, 0))
        s.connect((host, port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        socks.append(s)
    payload = b"\xff" * 160
    last_arrival = [0.0] * n
    first_seq: list[int | None] = [None] * n
    last_seq = [0] * n
    received = [0] * n
    deviations: list[float] = []
    send_late: list[float] = []
    ancsize = socket.CMSG_SPACE(16)
    origin = time.monotonic()
    t_measure = origin + warmup
    t_end = t_measure + duration
    k = 0
    seq0 = 1000
    measuring = False
    while True:
        k += 1
        deadline = origin + k * PERIOD
        if deadline > t_end:
            break
        # receive until this tick's deadline
        while True:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                break
            for key, _ in sel.select(timeout):
                i = key.data
                s = socks[i]
                while True:
                    try:
                        data, anc, _f, _a = s.recvmsg(2048, ancsize)
                    except BlockingIOError:
                        break
                    arrival = 0.0
                    for level, typ, cdata in anc:
                        if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                            sec, nsec = struct.unpack("qq", cdata[:16])
                            arrival = sec + nsec * 1e-9
                    if len(data) < 12:
                        continue
                    seq = _HDR.unpack_from(data)[2]
                    if measuring:
                        if first_seq[i] is None:
                            first_seq[i] = seq
                        elif last_arrival[i]:
                            deviations.append(abs(arrival - last_arrival[i] - PERIOD))
                        last_seq[i] = seq
                        received[i] += 1
                    last_arrival[i] = arrival
        now = time.monotonic()
        if not measuring and now >= t_measure:
            measuring = True
        ts = (k * 160) & 0xFFFFFFFF
        seq = (seq0 + k) & 0xFFFF
        pkt = _HDR.pack(0x80, 0, seq, ts, 0x1234) + payload
        for s in socks:
            try:
                s.send(pkt)
            except OSError:
                pass
        if measuring:
            send_late.append(time.monotonic() - deadline)
    expected = 0
    got = 0
    for i in range(n):
        fs = first_seq[i]
        if fs is None:
            continue
        expected += ((last_seq[i] - fs) & 0xFFFF) + 1
        got += received[i]
    dev = np.array(deviations) * 1000 if deviations else np.zeros(1)
    late = np.array(send_late) * 1000 if send_late else np.zeros(1)
    json.dump(
        {
            "streams_heard": sum(1 for f in first_seq if f is not None),
            "received": got,
            "expected": expected,
            "loss": (expected - got) / expected if expected else 1.0,
            "dev_p50_ms": float(np.percentile(dev, 50)),
            "dev_p99_ms": float(np.percentile(dev, 99)),
            "dev_max_ms": float(dev.max()),
            "loadgen_send_late_p99_ms": float(np.percentile(late, 99)),
        },
        sys.stdout,
    )
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
