"""Helpers of the ARI tests (importable as ``arikit``; conftest puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from ari_app.ari.backoff import Backoff
from ari_app.ari.client import AriClient
from ari_app.calls.call import CallOptions, Conversation
from ari_app.calls.manager import CallManager
from ari_app.calls.media import EndpointFactory, rtp_endpoint_factory
from ari_app.session import CallSession
from ari_app.settings import AsteriskServer, AsteriskSettings, MediaSettings, Settings
from ari_app.standin import AsteriskStandin
from models.store import CallStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk"
SCENARIOS = ("basic", "dtmf", "playback-hangup", "ari-hangup", "race422-dtmf")
# RTP ports below the kernel's ephemeral range, so the stand-in's port-0 sockets never take ours
_port_blocks = itertools.count(random.Random().randrange(0, 28))


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rest_records(scenario: str) -> list[dict[str, Any]]:
    return load_jsonl(FIXTURES / f"{scenario}-rest.jsonl")


def event_records(scenario: str) -> list[dict[str, Any]]:
    return [r["event"] for r in load_jsonl(FIXTURES / f"{scenario}-events.jsonl")]


async def eventually(predicate: Callable[[], bool], within_s: float = 5.0) -> None:
    """Wait (event loop turns, no fixed sleeps in assertions) until ``predicate()`` holds."""
    async with asyncio.timeout(within_s):
        while not predicate():  # noqa: ASYNC110 - polls arbitrary state across stand-in, manager and DB
            await asyncio.sleep(0.005)


def next_media_settings() -> MediaSettings:
    base = 27000 + 200 * (next(_port_blocks) % 28)  # 27000-32599
    return MediaSettings(rtp_host="127.0.0.1", port_min=base, port_max=base + 199)


def make_settings(st: AsteriskStandin, media: MediaSettings, **asterisk: Any) -> Settings:
    return Settings(
        asterisk=AsteriskSettings(
            ari_url=st.base_url, ari_user="hotel", ari_password=SecretStr("hotel-secret"), **asterisk
        ),
        media=media,
    )


def fast_client(server: AsteriskServer, seed: int = 7) -> AriClient:
    """A client whose reconnect backoff is short and reproducible (initial 50 ms, cap 0.5 s)."""
    return AriClient(
        server.ari_url,
        server.ari_user,
        server.ari_password.get_secret_value(),
        server.app_name,
        server_name=server.name,
        backoff=Backoff(initial_s=0.05, cap_s=0.5, rng=random.Random(seed)),
    )


async def wait_forever(session: CallSession) -> None:
    """A conversation that keeps the line open until the call ends."""
    await asyncio.Event().wait()


def echo_conversation(received: dict[str, int]) -> Conversation:
    """Reads the caller's audio and sends it straight back (RTP both ways), counting frames."""

    async def talk(session: CallSession) -> None:
        received.setdefault(session.info.channel_id, 0)
        while True:
            frame = await session.media.read_frame()
            received[session.info.channel_id] += 1
            session.media.play(frame)

    return talk


@asynccontextmanager
async def running_manager(
    settings: Settings,
    store: CallStore,
    conversation: Conversation = wait_forever,
    *,
    endpoint_factory: EndpointFactory | None = None,
    options: CallOptions | None = None,
    client: AriClient | None = None,
    server: AsteriskServer | None = None,
    drain_s: float = 5.0,
) -> AsyncIterator[CallManager]:
    server = server or settings.asterisk.servers()[0]
    manager = CallManager(
        settings,
        server,
        store,
        conversation,
        endpoint_factory or rtp_endpoint_factory(settings.media),
        client=client or fast_client(server),
        options=options or CallOptions(media_stasis_timeout_s=2.0, teardown_timeout_s=2.0),
    )
    task = asyncio.get_running_loop().create_task(manager.run(), name="test:manager")
    try:
        async with asyncio.timeout(5):
            await manager.reconciled.wait()
        yield manager
    finally:
        await manager.drain(drain_s)
        await task
        await manager.client.close()


def our_tasks() -> list[asyncio.Task[Any]]:
    """Tasks of ours still alive: calls, managers, ARI helpers, the media clock (it stops with the
    last open RTP endpoint)."""
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and t.get_name().startswith(("call:", "ari:", "test:manager", "media-clock"))
    ]


async def call_of(manager: CallManager, channel_id: str) -> Any:
    await eventually(lambda: channel_id in manager.calls)
    return manager.calls[channel_id]


Waiter = Callable[[], Awaitable[None]]
