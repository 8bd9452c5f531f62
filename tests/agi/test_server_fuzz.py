"""Random bytes at the FastAGI port: each connection is closed by the server and it keeps serving."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agi.server import AgiChannel, FastAgiServer


async def _answer_only(ch: AgiChannel) -> None:
    await ch.answer()


class ThreadedServer:
    """The server on its own loop in a thread, so hypothesis can drive it with blocking sockets."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = FastAgiServer({"ivr": _answer_only}, port=0, idle_timeout_s=0.2, max_line=512, max_env_lines=40)
        self.thread = threading.Thread(target=self.loop.run_forever, name="agi-fuzz-server", daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(5)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def threaded() -> Iterator[ThreadedServer]:
    with ThreadedServer() as srv:
        yield srv


def closed_by_server(port: int, data: bytes) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        try:
            sock.sendall(data)
        except OSError:
            return True  # already closed on us mid-send
        try:
            while sock.recv(4096):
                pass  # the server may answer a stray valid block; read until it closes
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return True


def valid_session(port: int) -> list[str]:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(b"agi_network: yes\nagi_network_script: ivr\n\n")
        f = sock.makefile("rwb")
        command = f.readline().decode().strip()
        f.write(b"200 result=0\n")
        f.flush()
        assert f.read() == b""
        return [command]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=2000), st.text(max_size=300).map(str.encode)))
def test_given_random_bytes_when_sent_to_fastagi_then_connection_closed_by_server(threaded: Any, data: bytes) -> None:
    assert closed_by_server(threaded.server.bound_port, data)


def test_given_the_fuzzing_above_when_a_real_call_comes_then_still_served(threaded: Any) -> None:
    port = threaded.server.bound_port
    assert closed_by_server(port, b"\xff\xfe garbage\n\n")
    assert closed_by_server(port, b"agi_x: " + b"y" * 2000)  # line limit
    assert closed_by_server(port, b"".join(b"agi_k%d: v\n" % i for i in range(100)))  # env line limit
    assert valid_session(port) == ["ANSWER"]
    assert threaded.server.stats.protocol_errors >= 3
    assert threaded.server.stats.active == 0
