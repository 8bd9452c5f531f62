"""Sessions: the calls, live and past, with everything that happened on them.

``/voice/sessions`` is the one code path; ``/api/calls`` and ``/api/calls/{id}`` (the first API)
answer through the same functions, so the two can't drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_app.http.context import CTX, WHO, ApiContext, LiveCall
from ari_app.http.schema import parse_body, parse_query, route
from models import CallEvent, ConversationTurn, Reservation, ToolRun, VoiceCall


class SessionQuery(BaseModel):
    live: bool = Field(default=True, description="only calls in progress (false: recent calls of any status)")
    status: str | None = Field(default=None, max_length=16, description="completed, transferred, failed, ...")
    q: str | None = Field(default=None, max_length=64, description="caller number, name or confirmation code")
    limit: int = Field(default=50, ge=1, le=500)


class SessionSummary(BaseModel):
    session_id: str
    server: str
    channel_id: str
    caller_id: str
    caller_name: str
    called_number: str
    direction: str
    status: str
    state: str | None = Field(default=None, description="live state: connecting, active, on_hold, in_menu, transferring")
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    end_reason: str
    tools_executed: list[str]
    reservation_id: int | None
    sentiment: float | None
    sentiment_label: str | None
    recording_url: str | None


class SessionList(BaseModel):
    sessions: list[SessionSummary]


class Turn(BaseModel):
    n: int
    role: str
    content: str
    at: datetime
    latency_ms: int | None
    timings: dict[str, Any]
    interrupted: bool
    input_mode: str


class ToolRunOut(BaseModel):
    tool: str
    ok: bool
    latency_ms: float
    arguments: dict[str, Any]
    result: str
    error: str
    at: datetime


class EventOut(BaseModel):
    kind: str
    at: datetime
    detail: dict[str, Any]


class ReservationOut(BaseModel):
    confirmation_code: str
    guest_name: str
    status: str
    check_in: str
    check_out: str
    total: str
    currency: str


class SessionDetail(SessionSummary):
    turns: list[Turn]
    tool_runs: list[ToolRunOut]
    events: list[EventOut]
    reservation: ReservationOut | None


class EndBody(BaseModel):
    reason: str = Field(default="staff", min_length=1, max_length=40, pattern=r"^[A-Za-z0-9 _.:-]+$")


class EndResult(BaseModel):
    session_id: str
    ending: bool
    reason: str


def _recording_url(c: VoiceCall) -> str | None:
    return f"/voice/recordings/{c.session_id}" if c.recording_path else None


def summary(c: VoiceCall, live: dict[str, LiveCall]) -> dict[str, Any]:
    state = live[c.session_id].state if c.session_id in live else ("active" if c.status == "active" else None)
    return {
        "session_id": c.session_id,
        "server": c.asterisk_server,
        "channel_id": c.channel_id,
        "caller_id": c.caller_id,
        "caller_name": c.caller_name,
        "called_number": c.called_number,
        "direction": c.direction,
        "status": c.status,
        "state": state,
        "started_at": c.started_at.isoformat(),
        "ended_at": c.ended_at.isoformat() if c.ended_at else None,
        "duration_s": c.duration_s,
        "end_reason": c.end_reason,
        "tools_executed": list(c.tools_executed or []),
        "reservation_id": c.reservation_id,
        "sentiment": c.sentiment,
        "sentiment_label": c.sentiment_label,
        "recording_url": _recording_url(c),
    }


def search_clause(q: str) -> Any:
    """Caller number (digits anywhere), caller or guest name, or a booking's confirmation code."""
    text = q.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    like = f"%{text.lower()}%"
    by_booking = select(Reservation.call_session_id).where(
        or_(func.upper(Reservation.confirmation_code) == text.upper().replace(" ", ""),
            func.lower(Reservation.guest_name).like(like)),
        Reservation.call_session_id.is_not(None),
    )
    booked = select(Reservation.id).where(func.upper(Reservation.confirmation_code) == text.upper().replace(" ", ""))
    clauses = [
        func.lower(VoiceCall.caller_name).like(like),
        VoiceCall.session_id.in_(by_booking),
        VoiceCall.reservation_id.in_(booked),
    ]
    if len(digits) >= 3:
        bare: Any = VoiceCall.caller_id
        for sep in (" ", "-", "(", ")", "+", "."):  # trunks write the same number in many ways
            bare = func.replace(bare, sep, "")
        clauses.append(bare.like(f"%{digits}%"))
    return or_(*clauses)


def sessions_query(params: SessionQuery, live: dict[str, LiveCall]) -> Select[Any]:
    q = select(VoiceCall).order_by(VoiceCall.id.desc()).limit(params.limit)
    if params.live:
        q = q.where(or_(VoiceCall.status == "active", VoiceCall.session_id.in_(list(live))))
    if params.status:
        q = q.where(VoiceCall.status == params.status)
    if params.q:
        q = q.where(search_clause(params.q))
    return q


def live_map(ctx: ApiContext) -> dict[str, LiveCall]:
    try:
        return {c.session_id: c for c in ctx.live_calls()}
    except Exception:  # the managers' view is a bonus; the database still answers
        return {}


async def list_sessions(ctx: ApiContext, params: SessionQuery) -> list[dict[str, Any]]:
    live = live_map(ctx)
    async with ctx.sessions() as db:
        calls = (await db.execute(sessions_query(params, live))).scalars().all()
    rows = [summary(c, live) for c in calls]
    rows.sort(key=lambda r: r["status"] != "active")  # live first, each group newest first
    return rows


async def find_call(db: AsyncSession, session_id: str) -> VoiceCall:
    call = (await db.execute(select(VoiceCall).where(VoiceCall.session_id == session_id))).scalar_one_or_none()
    if call is None:
        raise web.HTTPNotFound(text=f"no session {session_id}")
    return call


async def session_detail(ctx: ApiContext, session_id: str) -> dict[str, Any]:
    live = live_map(ctx)
    async with ctx.sessions() as db:
        call = await find_call(db, session_id)
        turns = (await db.execute(
            select(ConversationTurn)
            .where(ConversationTurn.call_id == call.id, ConversationTurn.withdrawn.is_(False))
            .order_by(ConversationTurn.turn_number)
        )).scalars().all()
        tools = (await db.execute(select(ToolRun).where(ToolRun.call_id == call.id).order_by(ToolRun.id))).scalars()
        events = (await db.execute(
            select(CallEvent).where(CallEvent.session_id == session_id).order_by(CallEvent.at, CallEvent.id)
        )).scalars()
        res_q = select(Reservation).where(
            or_(Reservation.id == call.reservation_id, Reservation.call_session_id == session_id)
        ).order_by(Reservation.id.desc()).limit(1)
        reservation = (await db.execute(res_q)).scalar_one_or_none()
    return summary(call, live) | {
        "turns": [
            {"n": t.turn_number, "role": t.role, "content": t.content, "at": t.created_at.isoformat(),
             "latency_ms": t.latency_ms, "timings": t.timings or {}, "interrupted": t.interrupted,
             "input_mode": t.input_mode}
            for t in turns
        ],
        "tool_runs": [
            {"tool": r.tool_name, "ok": r.ok, "latency_ms": r.latency_ms, "arguments": r.arguments,
             "result": r.result_summary, "error": r.error, "at": r.created_at.isoformat()}
            for r in tools
        ],
        "events": [{"kind": e.kind, "at": e.at.isoformat(), "detail": e.detail} for e in events],
        "reservation": None if reservation is None else {
            "confirmation_code": reservation.confirmation_code, "guest_name": reservation.guest_name,
            "status": reservation.status, "check_in": reservation.check_in.isoformat(),
            "check_out": reservation.check_out.isoformat(), "total": str(reservation.total),
            "currency": reservation.currency,
        },
    }


@route("Calls in progress (or recent calls with live=false), with their live state",
       tags=("sessions",), query=SessionQuery, response=SessionList)
async def get_sessions(request: web.Request) -> web.Response:
    params = parse_query(request, SessionQuery)
    return web.json_response({"sessions": await list_sessions(request.app[CTX], params)})


@route("One call: turns, tools run, latency per turn, sentiment, events and recording link",
       tags=("sessions",), response=SessionDetail, errors=(401, 404))
async def get_session(request: web.Request) -> web.Response:
    return web.json_response(await session_detail(request.app[CTX], request.match_info["session_id"]))


@route("Hang a live call up over ARI; the call row is closed with the reason",
       tags=("sessions",), body=EndBody, response=EndResult, response_status=202, errors=(401, 404, 409, 422))
async def end_session(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    sid = request.match_info["session_id"]
    body = await parse_body(request, EndBody) if request.can_read_body else EndBody()
    async with ctx.sessions() as db:
        call = await find_call(db, sid)
    reason = f"ended_by_staff: {body.reason}"[:64]
    ended = ctx.end_call is not None and await ctx.end_call(sid, reason)
    if not ended:
        raise web.HTTPConflict(text=f"session {sid} is not live on this instance (status {call.status})")
    async with ctx.sessions.begin() as db:
        db.add(CallEvent(session_id=sid, kind="end_requested", detail={"reason": reason, "by": request.get(WHO, "")}))
    return web.json_response({"session_id": sid, "ending": True, "reason": reason}, status=202)


class LegacyCallsQuery(BaseModel):
    status: str | None = Field(default=None, max_length=16)
    limit: int = Field(default=50, ge=1, le=500)


@route("Recent calls (the first API; same data as /voice/sessions?live=false)", tags=("legacy",),
       query=LegacyCallsQuery)
async def legacy_calls(request: web.Request) -> web.Response:
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        raise web.HTTPBadRequest(text="limit must be a whole number") from None
    params = SessionQuery(live=False, status=request.query.get("status") or None, limit=max(1, min(500, limit)))
    return web.json_response(await list_sessions(request.app[CTX], params))


@route("One call (the first API; same as /voice/sessions/{session_id})", tags=("legacy",), errors=(401, 404))
async def legacy_call(request: web.Request) -> web.Response:
    return web.json_response(await session_detail(request.app[CTX], request.match_info["session_id"]))


def install(app: web.Application) -> None:
    app.router.add_get("/voice/sessions", get_sessions)
    app.router.add_get("/voice/sessions/{session_id}", get_session)
    app.router.add_post("/voice/sessions/{session_id}/end", end_session)
    app.router.add_get("/api/calls", legacy_calls)
    app.router.add_get("/api/calls/{session_id}", legacy_call)
