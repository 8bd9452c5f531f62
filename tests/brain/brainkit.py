"""Helpers for brain tests: talk to a brain, open a call, compute expected totals from the database,
and a local server that speaks the OpenAI chat-completions streaming wire protocol."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web
from chatstub import LocalChatServer, chunk, stream_chunks
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.brain import Action, Brain, CallContext, Say, ToolCalled
from ari_app.settings import Settings
from models.hotel import RateOverride, Reservation, ReservationNight, Room, RoomType
from models.store import CallStore

# Friday 20 November 2026, 10:00 in New York: every dialog date is relative to this.
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
TODAY = date(2026, 11, 20)
CALLER = "+15551230134"


@dataclass
class Reply:
    events: list[Any] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(e.text for e in self.events if isinstance(e, Say))

    @property
    def says(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, Say)]

    @property
    def tools(self) -> list[ToolCalled]:
        return [e for e in self.events if isinstance(e, ToolCalled)]

    @property
    def actions(self) -> list[Action]:
        return [e for e in self.events if isinstance(e, Action)]


async def say(brain: Brain, ctx: CallContext, text: str, mode: str = "speech") -> Reply:
    reply = Reply()
    async for ev in brain.respond(ctx, text, mode):  # type: ignore[arg-type]
        reply.events.append(ev)
    return reply


async def greet(brain: Brain, ctx: CallContext) -> Reply:
    reply = Reply()
    async for ev in brain.greet(ctx):
        reply.events.append(ev)
    return reply


async def new_call(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    caller: str = CALLER,
    session_id: str = "call-1",
    now: datetime = NOW,
) -> CallContext:
    store = CallStore(sessions)
    call_id = await store.open_call(session_id=session_id, channel_id=f"chan-{session_id}", caller_id=caller)
    return CallContext.create(
        sessions=sessions,
        settings=settings,
        store=store,
        caller_number=caller,
        call_id=call_id,
        session_id=session_id,
        clock=lambda: now,
    )


async def reservations(sessions: async_sessionmaker[AsyncSession]) -> list[Reservation]:
    async with sessions() as db:
        return list((await db.execute(select(Reservation).order_by(Reservation.id))).scalars())


async def count(sessions: async_sessionmaker[AsyncSession], model: Any) -> int:
    async with sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def expected_total(
    sessions: async_sessionmaker[AsyncSession], type_code: str, ci: date, co: date
) -> Decimal:
    """What the stay should cost, computed from the rate tables independently of the tools."""
    async with sessions() as db:
        rt = (await db.execute(select(RoomType).where(RoomType.code == type_code))).scalar_one()
        overrides = {
            o.night: Decimal(o.rate)
            for o in (
                await db.execute(select(RateOverride).where(RateOverride.room_type_id == rt.id))
            ).scalars()
        }
    total = Decimal("0")
    night = ci
    while night < co:
        total += overrides.get(night, Decimal(rt.base_rate))
        night += timedelta(days=1)
    return total


async def nights_of(
    sessions: async_sessionmaker[AsyncSession], reservation_id: int
) -> list[tuple[int, date]]:
    """The booking's (room, night) rows, in night order: what actually holds the rooms."""
    async with sessions() as db:
        rows = await db.execute(
            select(ReservationNight.room_id, ReservationNight.night)
            .where(ReservationNight.reservation_id == reservation_id)
            .order_by(ReservationNight.night)
        )
        return [(r[0], r[1]) for r in rows]


def span(room_id: int, ci: date, co: date) -> list[tuple[int, date]]:
    return [(room_id, ci + timedelta(days=i)) for i in range((co - ci).days)]


async def room_type_of_room(sessions: async_sessionmaker[AsyncSession], room_id: int) -> str:
    async with sessions() as db:
        row = (
            await db.execute(
                select(RoomType.code).join(Room, Room.room_type_id == RoomType.id).where(Room.id == room_id)
            )
        ).scalar_one()
        return str(row)


async def type_code(sessions: async_sessionmaker[AsyncSession], type_id: int) -> str:
    async with sessions() as db:
        rt = await db.get(RoomType, type_id)
        assert rt is not None
        return rt.code


# ----------------------------------------------------------------------------- fake chat endpoint


_chunk = chunk


def text_reply(text: str, piece: int = 7) -> list[dict[str, Any]]:
    """A streamed assistant message, cut into small content deltas like a real server."""
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [_chunk({"content": text[i : i + piece]}) for i in range(0, len(text), piece)]
    chunks.append(_chunk({}, "stop"))
    return chunks


def tool_reply(name: str, arguments: str, call_id: str = "call_1", piece: int = 9) -> list[dict[str, Any]]:
    """A streamed tool call: id and name first, then the JSON arguments in fragments."""
    first = {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    chunks = [_chunk({"role": "assistant", "content": None, "tool_calls": [first]})]
    for i in range(0, len(arguments), piece):
        chunks.append(
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[i : i + piece]}}]})
        )
    chunks.append(_chunk({}, "tool_calls"))
    return chunks


class FakeChatServer(LocalChatServer):
    """POST /v1/chat/completions answers from a script; ``"hang"`` never answers until released."""

    def __init__(self) -> None:
        super().__init__()
        self.script: list[list[dict[str, Any]] | str] = []
        self.requests: list[dict[str, Any]] = []
        self.release = asyncio.Event()

    async def stop(self) -> None:
        self.release.set()
        await super().stop()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        item = self.script.pop(0) if self.script else text_reply("Okay.")
        if item == "hang":
            await self.release.wait()
            return web.Response(status=503)
        if item == "error":
            return web.json_response({"error": {"message": "overloaded", "type": "server_error"}}, status=500)
        assert isinstance(item, list)
        return await stream_chunks(request, item)
