"""Fixtures of the media tests: recorded RTP, loopback peers standing in for Asterisk, port ranges."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ari_app.media.endpoint import PortAllocator
from ari_app.media.rtp import RtpPacket, parse_rtp

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk"
# below the kernel's ephemeral range (32768+), so peers bound to port 0 never take our ports
_ports = itertools.count(random.Random().randrange(12000, 26000, 64), 64)


@pytest.fixture
def records_dir() -> Path:
    return FIXTURES


def load_headers(scenario: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{scenario}-rtp-headers.json").read_text())
    return data


@pytest.fixture
def headers_of() -> Callable[[str], dict[str, Any]]:
    return load_headers


@pytest.fixture
def allocator() -> PortAllocator:
    """A fresh 32-port range per test so parallel or repeated runs do not collide."""
    base = next(_ports)
    return PortAllocator("127.0.0.1", base, base + 31)


class Peer:
    """A plain UDP socket playing Asterisk's side of the externalMedia leg."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.addr: tuple[str, int] = self.sock.getsockname()

    def send(self, data: bytes, dest: tuple[str, int]) -> None:
        self.sock.sendto(data, dest)

    def drain(self) -> list[RtpPacket]:
        """Every packet waiting in the socket, parsed."""
        out: list[RtpPacket] = []
        while True:
            try:
                data, _ = self.sock.recvfrom(4096)
            except BlockingIOError:
                return out
            out.append(parse_rtp(data))

    async def receive(self, count: int, within: float = 5.0) -> list[RtpPacket]:
        """Wait until ``count`` packets came (they are sent synchronously at each tick, so this is quick)."""
        got: list[RtpPacket] = []
        end = time.monotonic() + within
        while len(got) < count:
            got += self.drain()
            if time.monotonic() > end:
                raise AssertionError(f"peer got {len(got)} of {count} packets")
            await asyncio.sleep(0.0005)
        return got

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def peer_factory() -> Iterator[Callable[[], Peer]]:
    peers: list[Peer] = []

    def make() -> Peer:
        p = Peer()
        peers.append(p)
        return p

    yield make
    for p in peers:
        p.close()


async def wait_until(cond: Callable[[], bool], within: float = 5.0) -> None:
    """Poll a condition fed by the event loop (datagram delivery); fails loudly instead of hanging."""
    end = time.monotonic() + within
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.0005)


@pytest.fixture
def until() -> Callable[..., Any]:
    return wait_until


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Exceptions that reached the event loop's handler (e.g. raised inside datagram_received)."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    old = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    yield errors
    loop.set_exception_handler(old)
