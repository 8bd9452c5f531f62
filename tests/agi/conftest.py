"""A scripted Asterisk for FastAGI tests: it connects to our server over real TCP, sends the recorded
``agi_*`` block, answers each command from a script and reports what our server sent and whether
the server closed the socket itself."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from testsupport import FIXTURES

from agi.server import FastAgiServer, Route

RECORD_TXT = FIXTURES / "asterisk" / "fastagi-session.txt"
_LINE = re.compile(r"^\s*[0-9.]+ (<<|>>|--) ?(.*)$")


@dataclass
class Recorded:
    env_lines: list[str]
    exchanges: list[tuple[str, list[str]]]  # (command we must send, Asterisk's reply lines)
    trailing: list[str]


def load_record(path: Path = RECORD_TXT) -> Recorded:
    env: list[str] = []
    exchanges: list[tuple[str, list[str]]] = []
    trailing: list[str] = []
    in_env = True
    for raw in path.read_text(encoding="utf-8").splitlines():
        m = _LINE.match(raw)
        if m is None:
            continue
        direction, text = m.groups()
        if direction == "--":
            continue
        if in_env:
            if direction == "<<" and text == "":
                in_env = False
            elif direction == "<<":
                env.append(text)
            continue
        if direction == ">>":
            exchanges.append((text, []))
        elif text == "HANGUP":  # Asterisk's own hang-up notice is never a reply
            trailing.append(text)
        else:
            exchanges[-1][1].append(text)
    return Recorded(env, exchanges, trailing)


@dataclass
class Session:
    commands: list[str] = field(default_factory=list)
    closed_by_server: bool = False
    leftover: bytes = b""


async def play_asterisk(
    port: int,
    env_lines: list[str],
    replies: Callable[[str], list[str]] | list[list[str]],
    trailing: list[str] | None = None,
    *,
    max_commands: int = 50,
    timeout_s: float = 5.0,
) -> Session:
    """Be Asterisk: send the block, answer commands, send ``trailing`` after the last one, then wait for EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    session = Session()
    try:
        writer.write("".join(f"{line}\n" for line in env_lines).encode() + b"\n")
        await writer.drain()
        scripted = list(replies) if isinstance(replies, list) else None
        async with asyncio.timeout(timeout_s):
            while len(session.commands) < max_commands:
                if scripted is not None and not scripted:
                    break
                line = await reader.readline()
                if not line:
                    session.closed_by_server = True
                    return session
                command = line.decode().rstrip("\n")
                session.commands.append(command)
                answer = scripted.pop(0) if scripted is not None else replies(command)  # type: ignore[operator]
                writer.write("".join(f"{r}\n" for r in answer).encode())
                await writer.drain()
            for extra in trailing or []:
                writer.write(f"{extra}\n".encode())
            await writer.drain()
            session.leftover = await reader.read()  # returns b"" only when the server closes
            session.closed_by_server = True
    except TimeoutError:
        session.closed_by_server = False
    finally:
        writer.close()
    return session


@pytest.fixture
def record() -> Recorded:
    return load_record()


@pytest.fixture
def serve() -> Callable[..., AsyncIterator[FastAgiServer]]:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def _serve(routes: Mapping[str, Route], **kwargs: float) -> AsyncIterator[FastAgiServer]:
        server = FastAgiServer(routes, host="127.0.0.1", port=0, **kwargs)  # type: ignore[arg-type]
        await server.start()
        try:
            yield server
        finally:
            await server.stop()

    return _serve  # type: ignore[return-value]


@pytest.fixture
def asterisk() -> Callable[..., object]:
    """``await asterisk(port, env_lines, replies, trailing)`` → :class:`Session`."""
    return play_asterisk


AGI_MENU = {
    "entry": "main",
    "defaults": {
        "timeout": {"prompt": {"sound": "no-input"}},
        "invalid": {"prompt": {"sound": "invalid"}},
    },
    "menus": {
        "main": {
            "prompt": {"text": "Hello", "sound": "hello-world"},
            "direct_dial": {"first_digits": "4", "min_digits": 3, "max_digits": 4, "interdigit_timeout_s": 6},
            "options": [
                {"digit": 1, "action": "agent"},
                {"digit": 2, "action": "transfer", "department": "front desk"},
            ],
        }
    },
}


@pytest.fixture
def agi_tree() -> object:
    from ari_app.ivr import parse_menu_data

    return parse_menu_data(AGI_MENU, departments={"front desk": "100"}, transfer_context="from-internal")


@pytest.fixture
def ivr_routes(agi_tree: object, sqlite_sessions: object) -> dict[str, Route]:
    from agi.routes import make_routes

    return make_routes(tree=lambda: agi_tree, sessions=sqlite_sessions)  # type: ignore[arg-type,return-value]
