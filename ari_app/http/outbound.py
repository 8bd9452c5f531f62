"""Outbound calls requested over the API, and the do-not-call list that can refuse them.

The request answers at once (202) and the dialling runs in a task the app owns: an originate
waits up to the ring timeout, which no HTTP client should have to. Every state change is a
``call_events`` row; once the guest answers, the events carry the call's session id, so the whole
history (queued, dialing, answered) shows on the session.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from ari_app.http.context import CTX, WHO, ApiContext
from ari_app.http.schema import parse_body, route
from models import CallEvent, DoNotCall, OutboundCall, OutboundStatus

log = logging.getLogger("ari_app.http.outbound")

E164 = r"^\+[1-9][0-9]{6,14}$"
TASKS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("outbound_tasks", set)
LOCKS: web.AppKey[dict[str, asyncio.Lock]] = web.AppKey("outbound_locks", dict)


class OutboundBody(BaseModel):
    number: str = Field(..., pattern=E164, description="E.164, e.g. +15551230100")
    purpose: Literal["reminder", "callback", "custom"]
    language: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    message: str = Field(default="", max_length=500, description="what to say (required for purpose custom)")

    @model_validator(mode="after")
    def _custom_needs_message(self) -> OutboundBody:
        if self.purpose == "custom" and not self.message.strip():
            raise ValueError("purpose custom needs a message")
        return self


class OutboundOut(BaseModel):
    id: str
    number: str
    purpose: str
    language: str
    status: str
    session_id: str | None
    error: str
    created_at: datetime
    events: list[dict[str, Any]] = []


class DncBody(BaseModel):
    number: str = Field(..., pattern=E164)
    note: str = Field(default="", max_length=255)


class DncEntry(BaseModel):
    number: str
    note: str
    created_at: datetime


class DncList(BaseModel):
    numbers: list[DncEntry]


def _out(row: OutboundCall, events: list[CallEvent] | None = None) -> dict[str, Any]:
    return {
        "id": row.request_id, "number": row.number, "purpose": row.purpose, "language": row.language,
        "status": row.status, "session_id": row.session_id, "error": row.error,
        "created_at": row.created_at.isoformat(),
        "events": [{"kind": e.kind, "at": e.at.isoformat(), "detail": e.detail} for e in events or []],
    }


async def _event(ctx: ApiContext, row_id: int, kind: str, status: str, **detail: Any) -> None:
    now = datetime.now(UTC)
    async with ctx.sessions.begin() as db:
        values: dict[str, Any] = {"status": status, "updated_at": now}
        sid = detail.get("session_id")
        if sid:
            values["session_id"] = sid
            # the earlier events (queued, dialing) belong to this call too
            await db.execute(update(CallEvent).where(CallEvent.outbound_id == row_id).values(session_id=sid))
        if detail.get("error"):
            values["error"] = str(detail["error"])[:255]
        await db.execute(update(OutboundCall).where(OutboundCall.id == row_id).values(**values))
        db.add(CallEvent(outbound_id=row_id, session_id=sid, kind=kind, detail=detail, at=now))


async def _dial(ctx: ApiContext, row_id: int, number: str, variables: dict[str, str]) -> None:
    assert ctx.place_call is not None
    try:
        await _event(ctx, row_id, "dialing", OutboundStatus.DIALING)
        result = await ctx.place_call(number, variables)
    except asyncio.CancelledError:
        await asyncio.shield(_event(ctx, row_id, "failed", OutboundStatus.FAILED, error="service stopping"))
        raise
    except Exception as exc:  # the ARI error is what staff need to read on the session
        log.warning("outbound call %s failed: %s", row_id, exc)
        await _event(ctx, row_id, "failed", OutboundStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return
    if result.answered:
        await _event(ctx, row_id, "answered", OutboundStatus.ANSWERED, session_id=result.session_id)
    elif result.error:
        await _event(ctx, row_id, "failed", OutboundStatus.FAILED, error=result.error, cause=result.cause)
    else:
        await _event(ctx, row_id, "no_answer", OutboundStatus.NO_ANSWER, cause=result.cause)


@route("Place an outbound call through the configured trunk (answers at once; follow the id)",
       tags=("outbound",), body=OutboundBody, response=OutboundOut, response_status=202,
       errors=(401, 403, 422, 429, 503))
async def place_outbound(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    body = await parse_body(request, OutboundBody)
    if ctx.place_call is None:
        raise web.HTTPServiceUnavailable(text="this service places no calls (no Asterisk connection)")
    now = datetime.now(UTC)
    # check-then-insert under a per-number lock: two requests at once can't both pass the limit
    # (in this process; across instances the limit can be exceeded by at most one per instance)
    async with request.app[LOCKS].setdefault(body.number, asyncio.Lock()), ctx.sessions.begin() as db:
        if await db.scalar(select(DoNotCall.id).where(DoNotCall.number == body.number)) is not None:
            raise web.HTTPForbidden(text=f"{body.number} is on the do-not-call list")
        limit = ctx.outbound_per_number_per_hour
        if limit:
            recent = await db.scalar(
                select(func.count()).select_from(OutboundCall).where(
                    OutboundCall.number == body.number, OutboundCall.created_at > now - timedelta(hours=1)
                )
            )
            if (recent or 0) >= limit:
                raise web.HTTPTooManyRequests(
                    text=f"{body.number} was called {recent} time(s) in the last hour (limit {limit})",
                    headers={"Retry-After": "3600"},
                )
        row = OutboundCall(
            request_id=uuid.uuid4().hex, number=body.number, purpose=body.purpose, language=body.language,
            message=body.message, requested_by=str(request.get(WHO, "")), created_at=now, updated_at=now,
        )
        db.add(row)
        await db.flush()
        db.add(CallEvent(outbound_id=row.id, kind="queued", at=now,
                         detail={"purpose": body.purpose, "by": row.requested_by}))
        out = _out(row)
        row_id = row.id
    variables = {"HOTEL_OUTBOUND_ID": out["id"], "HOTEL_OUTBOUND_PURPOSE": body.purpose,
                 "HOTEL_OUTBOUND_LANGUAGE": body.language}
    task = asyncio.get_running_loop().create_task(_dial(ctx, row_id, body.number, variables),
                                                  name=f"outbound:{out['id'][:8]}")
    tasks = request.app[TASKS]
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return web.json_response(out, status=202, headers={"Location": f"/voice/calls/outbound/{out['id']}"})


@route("An outbound request and its state changes", tags=("outbound",), response=OutboundOut, errors=(401, 404))
async def get_outbound(request: web.Request) -> web.Response:
    rid = request.match_info["request_id"]
    async with request.app[CTX].sessions() as db:
        row = await db.scalar(select(OutboundCall).where(OutboundCall.request_id == rid))
        if row is None:
            raise web.HTTPNotFound(text=f"no outbound request {rid}")
        events = list((await db.execute(
            select(CallEvent).where(CallEvent.outbound_id == row.id).order_by(CallEvent.at, CallEvent.id)
        )).scalars())
    return web.json_response(_out(row, events))


@route("The do-not-call list", tags=("outbound",), response=DncList)
async def list_dnc(request: web.Request) -> web.Response:
    async with request.app[CTX].sessions() as db:
        rows = (await db.execute(select(DoNotCall).order_by(DoNotCall.number))).scalars()
        return web.json_response({"numbers": [
            {"number": r.number, "note": r.note, "created_at": r.created_at.isoformat()} for r in rows
        ]})


@route("Add a number to the do-not-call list", tags=("outbound",), body=DncBody, response=DncEntry,
       response_status=201, errors=(401, 409, 422))
async def add_dnc(request: web.Request) -> web.Response:
    body = await parse_body(request, DncBody)
    row = DoNotCall(number=body.number, note=body.note)
    try:
        async with request.app[CTX].sessions.begin() as db:
            db.add(row)
    except IntegrityError:
        raise web.HTTPConflict(text=f"{body.number} is already on the do-not-call list") from None
    return web.json_response({"number": row.number, "note": row.note, "created_at": row.created_at.isoformat()},
                             status=201)


@route("Take a number off the do-not-call list", tags=("outbound",), response_status=204, errors=(401, 404))
async def remove_dnc(request: web.Request) -> web.Response:
    number = request.match_info["number"]
    async with request.app[CTX].sessions.begin() as db:
        result = await db.execute(delete(DoNotCall).where(DoNotCall.number == number))
    if not getattr(result, "rowcount", 0):
        raise web.HTTPNotFound(text=f"{number} is not on the do-not-call list")
    return web.Response(status=204)


async def _cancel_tasks(app: web.Application) -> None:
    running: list[asyncio.Task[None]] = [*app[TASKS]]
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


def install(app: web.Application) -> None:
    tasks: set[asyncio.Task[None]] = set()
    app[TASKS] = tasks
    locks: dict[str, asyncio.Lock] = {}
    app[LOCKS] = locks
    app.on_cleanup.append(_cancel_tasks)
    app.router.add_post("/voice/calls/outbound", place_outbound)
    app.router.add_get("/voice/calls/outbound/{request_id}", get_outbound)
    app.router.add_get("/voice/do-not-call", list_dnc)
    app.router.add_post("/voice/do-not-call", add_dnc)
    app.router.add_delete("/voice/do-not-call/{number}", remove_dnc)
