"""A fake Asterisk AMI server that answers from ``records/ami-session.txt``."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from testsupport import FIXTURES

sys.path.insert(0, str(Path(__file__).parent))  # for amikit

from ari_app.ami import AmiMessage, AmiParser, serialize

RECORD_TXT = FIXTURES / "asterisk" / "ami-session.txt"
_LINE = re.compile(r"^\s*[0-9.]+ (<<|>>|--) ?(.*)$")


@dataclass
class AmiRecord:
    banner: str
    segments: list[tuple[AmiMessage, list[AmiMessage]]]  # (our action, what Asterisk sent until the next one)


def load_ami_record() -> AmiRecord:
    banner = ""
    segments: list[tuple[AmiMessage, list[AmiMessage]]] = []
    sent: list[tuple[str, str]] = []
    got: list[tuple[str, str]] = []
    for raw in RECORD_TXT.read_text(encoding="utf-8").splitlines():
        m = _LINE.match(raw)
        if m is None or m.group(1) == "--":
            continue
        direction, text = m.groups()
        if direction == "<<" and not banner:
            banner = text
            continue
        if direction == ">>":
            if text:
                key, _, value = text.partition(": ")
                sent.append((key, value))
            elif sent:
                segments.append((AmiMessage(tuple(sent)), []))
                sent = []
        elif text:
            key, _, value = text.partition(":")
            got.append((key, value[1:] if value.startswith(" ") else value))
        elif got:
            segments[-1][1].append(AmiMessage(tuple(got)))
            got = []
    return AmiRecord(banner, segments)


def with_action_id(msg: AmiMessage, action_id: str) -> AmiMessage:
    return AmiMessage(tuple((k, action_id if k == "ActionID" else v) for k, v in msg.fields))


def empty_list(action_id: str, complete: str) -> list[AmiMessage]:
    return [
        AmiMessage.of({"Response": "Success", "ActionID": action_id, "EventList": "start", "Message": "follows"}),
        AmiMessage.of({"Event": complete, "ActionID": action_id, "EventList": "Complete", "ListItems": "0"}),
    ]


Responder = Callable[[AmiMessage], list[AmiMessage]]


@dataclass
class FakeAmi:
    """Per action name, a queue of canned answers (ActionID rewritten); anything else: empty list."""

    banner: str
    answers: dict[str, list[list[AmiMessage]]] = field(default_factory=dict)
    received: list[AmiMessage] = field(default_factory=list)
    close_after_login: int = 0  # drop this many connections right after their login answer
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    connections: int = 0
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def actions(self, name: str) -> list[AmiMessage]:
        return [m for m in self.received if m.get("Action") == name]

    async def push(self, messages: list[AmiMessage]) -> None:
        """Unsolicited events to every open connection, as Asterisk sends them."""
        for w in self.writers:
            if not w.is_closing():
                w.write(b"".join(serialize(m) for m in messages))
                await w.drain()

    def _answer(self, action: AmiMessage) -> list[AmiMessage]:
        name = action.get("Action")
        aid = action.action_id
        queue = self.answers.get(name)
        if queue:
            return [with_action_id(m, aid) if m.action_id else m for m in queue.pop(0)]
        if name == "Ping":
            return [AmiMessage.of({"Response": "Success", "ActionID": aid, "Ping": "Pong"})]
        if name == "Logoff":
            return [AmiMessage.of({"Response": "Goodbye", "ActionID": aid, "Message": "Thanks for all the fish."})]
        complete = {"CoreShowChannels": "CoreShowChannelsComplete", "PJSIPShowRegistrationsOutbound": "OutboundRegistrationDetailComplete", "PJSIPShowContacts": "ContactListComplete", "PJSIPShowEndpoints": "EndpointListComplete"}
        if name in complete:
            return empty_list(aid, complete[name])
        return [AmiMessage.of({"Response": "Error", "ActionID": aid, "Message": "Invalid/unknown command"})]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        writer.write(f"{self.banner}\r\n".encode())
        parser = AmiParser(expect_banner=False)
        try:
            while chunk := await reader.read(4096):
                for action in parser.feed(chunk):
                    self.received.append(action)
                    writer.write(b"".join(serialize(m) for m in self._answer(action)))
                    await writer.drain()
                    if action.get("Action") == "Logoff":
                        return
                    if action.get("Action") == "Login" and self.close_after_login > 0:
                        self.close_after_login -= 1
                        return
        finally:
            writer.close()


@pytest.fixture
def ami_record() -> AmiRecord:
    return load_ami_record()


@pytest.fixture
async def fake_ami(ami_record: AmiRecord) -> AsyncIterator[FakeAmi]:
    fake = FakeAmi(ami_record.banner)
    fake.server = await asyncio.start_server(fake._handle, "127.0.0.1", 0)
    yield fake
    fake.server.close()
    for w in fake.writers:
        w.close()
    await fake.server.wait_closed()


async def until(cond: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    """Wait for a condition the code under test reaches by itself (never asserts how long it took)."""
    async with asyncio.timeout(timeout_s):
        while not cond():  # noqa: ASYNC110 - the condition is state of the code under test, no event to wait on
            await asyncio.sleep(0.005)
    assert cond(), what


@pytest.fixture
def wait_until() -> Callable[..., object]:
    return until
