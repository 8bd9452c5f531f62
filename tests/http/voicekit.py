"""Helpers shared by the voice API tests: a served app, seeded calls, raw HTTP over a socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.http import ApiContext, build_app
from ari_app.metrics import Metrics
from models import ConversationTurn, ToolRun, VoiceCall


def context(sessions: async_sessionmaker[AsyncSession], **kw: Any) -> ApiContext:
    kw.setdefault("tokens", [])
    return ApiContext(sessions=sessions, metrics=Metrics(), **kw)


@asynccontextmanager
async def served(ctx: ApiContext, host: str = "127.0.0.1") -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    client = TestClient(TestServer(build_app(ctx), host=host))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def add_call(
    sessions: async_sessionmaker[AsyncSession],
    sid: str,
    *,
    started: datetime,
    status: str = "completed",
    duration_s: float | None = 60.0,
    caller: str = "+15550001111",
    name: str = "",
    turns: Sequence[tuple[str, str, int | None, dict[str, Any]]] = (),
    tools: Sequence[tuple[str, bool, float]] = (),
    **values: Any,
) -> int:
    from datetime import timedelta

    async with sessions.begin() as db:
        call = VoiceCall(
            session_id=sid, channel_id=f"ch-{sid}", caller_id=caller, caller_name=name, status=status,
            started_at=started, duration_s=duration_s,
            ended_at=None if status == "active" else started + timedelta(seconds=duration_s or 0), **values,
        )
        db.add(call)
        await db.flush()
        for n, (role, text, latency, timings) in enumerate(turns, 1):
            db.add(ConversationTurn(call_id=call.id, turn_number=n, role=role, content=text, latency_ms=latency,
                                    timings=timings, created_at=started + timedelta(seconds=n)))
        for tool, ok, took_ms in tools:
            db.add(ToolRun(call_id=call.id, tool_name=tool, ok=ok, latency_ms=took_ms, created_at=started))
        return call.id


async def raw_request(port: int, data: bytes) -> bytes:
    """Bytes to the server as they are (no client library tidying the header), the answer back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()
        await writer.wait_closed()
