"""Helpers of the recording tests: a call session over a real RTP endpoint driven by a manual clock."""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.media.clock import MediaClock
from ari_app.media.endpoint import PortAllocator, RtpEndpoint
from ari_app.media.rtp import RtpPacket, build_rtp
from ari_app.session import CallInfo
from ari_app.settings import Settings
from models.store import CallStore

_ports = itertools.count(random.Random().randrange(26100, 31000, 64), 64)


def read_wav(path: Path) -> tuple[wave._wave_params, npt.NDArray[np.int16]]:
    with wave.open(str(path), "rb") as w:
        params = w.getparams()
        data = np.frombuffer(w.readframes(params.nframes), dtype="<i2").reshape(-1, 2)
    return params, data


@dataclass
class FakeSession:
    """A :class:`ari_app.session.CallSession` whose media is a real endpoint (the part recorded)."""

    info: CallInfo
    media: RtpEndpoint
    store: CallStore
    settings: Settings = field(default_factory=Settings)
    dtmf: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    control: object = None


@dataclass
class Line:
    """The endpoint, the peer standing for Asterisk, and the clock that makes time advance."""

    session: FakeSession
    clock: MediaClock
    peer: socket.socket
    seq: int = 0
    wall0: float = 1_780_000_000.0

    def wall(self) -> float:
        """Seconds of call time on a fixed epoch: the recorder writes frame 0 at tick 1."""
        return self.wall0 + max(0, self.clock.tick_index - 1) * 0.020

    async def tick(self, caller: bytes) -> None:
        """One 20 ms step: one caller frame sent and arrived, then the clock ticks."""
        ep = self.session.media
        want = ep.stats.packets_in + 1
        self.peer.sendto(build_rtp(RtpPacket(0, self.seq & 0xFFFF, 160 * self.seq, 77, caller)),
                         ("127.0.0.1", ep.local_port))
        self.seq += 1
        end = time.monotonic() + 5
        while ep.stats.packets_in < want:
            assert time.monotonic() < end, "caller packet never arrived"
            await asyncio.sleep(0.0002)
        self.clock.tick()
        while True:  # the peer's socket buffer must not fill up with our packets
            try:
                self.peer.recv(2048)
            except BlockingIOError:
                break


@pytest.fixture
async def line(sqlite_sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Line]:
    base = next(_ports)
    store = CallStore(sqlite_sessions)
    row = await store.open_call(session_id="sess-rec-1", channel_id="chan-1")
    clock = MediaClock(manual=True)
    ep = RtpEndpoint(PortAllocator("127.0.0.1", base, base + 31), clock=clock, rng=random.Random(7))
    await ep.start()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    ep.set_remote(*peer.getsockname())
    session = FakeSession(CallInfo("sess-rec-1", row, "chan-1"), ep, store)
    yield Line(session, clock, peer)
    await ep.close()
    peer.close()
