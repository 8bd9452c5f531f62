"""The seed's success metrics for a time window, computed in SQL on SQLite and PostgreSQL alike.

Percentiles use the nearest-rank method with window functions (``row_number() over``), which both
databases have; PostgreSQL's ``percentile_cont`` would give interpolated values SQLite can't match.
Hours are bucketed in UTC by the database and labelled in the hotel's time zone here.

"Intent" of a call is the first tool it ran (``check_availability``, ``create_reservation``, ...)
or ``none`` for calls that only asked questions: the one intent signal every brain records.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import Float, and_, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_app.http.context import CTX
from ari_app.http.schema import parse_query, route
from models import ConversationTurn, Reservation, ToolRun, VoiceCall

STAGES = ("endpoint_ms", "stt_ms", "brain_ms", "tts_first_audio_ms", "first_audio_ms")
OUTCOMES = ("completed", "transferred", "abandoned", "failed")


class AnalyticsQuery(BaseModel):
    from_: datetime | date | None = Field(default=None, alias="from", description="start (ISO date or date-time; "
                                          "default: today 00:00 in hotel.timezone)")
    to: datetime | date | None = Field(default=None, description="end, exclusive (default: start + 1 day)")


class Analytics(BaseModel):
    window: dict[str, str]
    calls: int
    volume_per_hour: list[dict[str, Any]]
    outcomes: dict[str, dict[str, float]]
    bookings: dict[str, Any]
    duration_by_intent: dict[str, float | None]
    latency_ms: dict[str, dict[str, float | None]]
    tools: dict[str, dict[str, float]]
    sentiment: dict[str, Any]
    transfer_rate: float | None
    calls_by_status: dict[str, int]
    avg_turn_latency_ms: float | None
    avg_call_duration_s: float | None


def _aware(value: datetime | date, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    return datetime.combine(value, time(0), tz)


def window(params: AnalyticsQuery, tz: ZoneInfo, now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or datetime.now(UTC)
    start = _aware(params.from_, tz) if params.from_ else datetime.combine(now.astimezone(tz).date(), time(0), tz)
    end = _aware(params.to, tz) if params.to else start + timedelta(days=1)
    if end <= start:
        raise web.HTTPUnprocessableEntity(text="'to' must be after 'from'")
    if end - start > timedelta(days=366):
        raise web.HTTPUnprocessableEntity(text="the window may span at most 366 days")
    return start.astimezone(UTC), end.astimezone(UTC)


def _hour_bucket(dialect: str) -> Any:
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", VoiceCall.started_at)
    return func.to_char(func.date_trunc("hour", func.timezone("UTC", VoiceCall.started_at)), "YYYY-MM-DD HH24:00:00")


async def _percentiles(db: AsyncSession, value: Any, in_window: Any) -> dict[str, float | None]:
    inner = (
        select(
            value.label("v"),
            func.row_number().over(order_by=value).label("rn"),
            func.count().over().label("n"),
        )
        .select_from(ConversationTurn)
        .join(VoiceCall, VoiceCall.id == ConversationTurn.call_id)
        .where(in_window, ConversationTurn.role == "agent", ConversationTurn.withdrawn.is_(False), value.is_not(None))
        .subquery()
    )
    q = select(
        func.min(case((inner.c.rn >= (inner.c.n * 50 + 99) // 100, inner.c.v))),
        func.min(case((inner.c.rn >= (inner.c.n * 95 + 99) // 100, inner.c.v))),
        func.avg(inner.c.v),
        func.max(inner.c.n),
    )
    p50, p95, mean, n = (await db.execute(q)).one()
    return {"p50": _num(p50), "p95": _num(p95), "mean": _num(mean), "count": float(n or 0)}


def _num(v: Any) -> float | None:
    return None if v is None else round(float(v), 3)


async def compute(db: AsyncSession, start: datetime, end: datetime, tz: ZoneInfo) -> dict[str, Any]:
    dialect = db.get_bind().dialect.name
    in_window = and_(VoiceCall.started_at >= start, VoiceCall.started_at < end)
    by_status = {s: int(n) for s, n in (await db.execute(
        select(VoiceCall.status, func.count()).where(in_window).group_by(VoiceCall.status))).all()}
    total = sum(by_status.values())
    finished = sum(n for s, n in by_status.items() if s != "active")

    bucket = _hour_bucket(dialect)
    hours = (await db.execute(select(bucket, func.count()).where(in_window).group_by(bucket).order_by(bucket))).all()
    volume = []
    for label, n in hours:
        at = datetime.strptime(str(label)[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).astimezone(tz)
        volume.append({"hour": at.isoformat(), "calls": int(n)})

    outcomes = {o: {"count": float(by_status.get(o, 0)),
                    "share": round(by_status.get(o, 0) / finished, 4) if finished else 0.0} for o in OUTCOMES}

    booked = (
        select(Reservation.currency, Reservation.status, func.count(), func.sum(Reservation.total))
        .join(VoiceCall, VoiceCall.session_id == Reservation.call_session_id)
        .where(in_window)
        .group_by(Reservation.currency, Reservation.status)
    )
    bookings: dict[str, Any] = {"count": 0, "value": {}, "by_status": {}}
    for currency, status, n, value in (await db.execute(booked)).all():
        bookings["by_status"][status] = bookings["by_status"].get(status, 0) + int(n)
        if status != "cancelled":
            bookings["count"] += int(n)
            bookings["value"][currency] = round(bookings["value"].get(currency, 0.0) + float(value or 0), 2)

    first_tool = (
        select(ToolRun.call_id, func.min(ToolRun.id).label("first_id")).group_by(ToolRun.call_id).subquery()
    )
    intent = func.coalesce(ToolRun.tool_name, "none")
    by_intent = (
        select(intent, func.avg(VoiceCall.duration_s))
        .select_from(VoiceCall)
        .outerjoin(first_tool, first_tool.c.call_id == VoiceCall.id)
        .outerjoin(ToolRun, ToolRun.id == first_tool.c.first_id)
        .where(in_window, VoiceCall.duration_s.is_not(None))
        .group_by(intent)
    )
    duration_by_intent = {str(k): _num(v) for k, v in (await db.execute(by_intent)).all()}

    latency = {"total": await _percentiles(db, cast(ConversationTurn.latency_ms, Float), in_window)}
    for stage in STAGES:
        latency[stage] = await _percentiles(db, ConversationTurn.timings[stage].as_float(), in_window)

    tool_q = (
        select(ToolRun.tool_name, func.count(), func.sum(case((ToolRun.ok, 1), else_=0)), func.avg(ToolRun.latency_ms))
        .join(VoiceCall, VoiceCall.id == ToolRun.call_id)
        .where(in_window)
        .group_by(ToolRun.tool_name)
    )
    tools = {name: {"runs": float(n), "ok": float(ok or 0), "mean_latency_ms": _num(lat) or 0.0}
             for name, n, ok, lat in (await db.execute(tool_q)).all()}

    mean_sentiment = await db.scalar(select(func.avg(VoiceCall.sentiment)).where(in_window))
    labels = {str(k): int(n) for k, n in (await db.execute(
        select(VoiceCall.sentiment_label, func.count()).where(in_window, VoiceCall.sentiment_label.is_not(None))
        .group_by(VoiceCall.sentiment_label))).all()}
    mean_duration = await db.scalar(select(func.avg(VoiceCall.duration_s)).where(in_window))

    return {
        "window": {"from": start.isoformat(), "to": end.isoformat(), "timezone": str(tz)},
        "calls": total,
        "volume_per_hour": volume,
        "outcomes": outcomes,
        "bookings": bookings,
        "duration_by_intent": duration_by_intent,
        "latency_ms": latency,
        "tools": tools,
        "sentiment": {"mean": _num(mean_sentiment), "labels": labels},
        "transfer_rate": round(by_status.get("transferred", 0) / finished, 4) if finished else None,
        "calls_by_status": by_status,
        "avg_turn_latency_ms": latency["total"]["mean"],
        "avg_call_duration_s": _num(mean_duration),
    }


def hotel_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


@route("Success metrics for a window: volume per hour, outcomes, bookings, latency p50/p95 per stage, "
       "tools, sentiment, transfer rate", tags=("analytics",), query=AnalyticsQuery, response=Analytics)
async def get_analytics(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    tz = hotel_zone(ctx.timezone)
    start, end = window(parse_query(request, AnalyticsQuery), tz)
    async with ctx.sessions() as db:
        return web.json_response(await compute(db, start, end, tz))


def install(app: web.Application) -> None:
    app.router.add_get("/voice/analytics", get_analytics)
    app.router.add_get("/api/analytics", get_analytics)
