"""The caller screening lists and the calls they stopped, for the front desk (issue 15).

The lists are changed with ``hotel-operator callers block|allow|unblock`` (IT staff on the
server); the desk reads them here, next to the calls that screening refused, so a guest who says
"I couldn't get through" can be found without shell access.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import select

from ari_app.http.context import CTX
from ari_app.http.schema import parse_query, route
from ari_app.screening import list_entries
from models.calls import VoiceCall

# the end reasons a screened call is stored with (ScreeningDecision.end_reason)
SCREENED_REASONS = ("blocked", "rate_limited", "anonymous_rejected", "anonymous_menu_only")


class CallersQuery(BaseModel):
    kind: Literal["block", "allow"] | None = None
    hours: int = Field(default=24, ge=1, le=24 * 31, description="how far back to list screened calls")


class CallerEntry(BaseModel):
    number: str
    kind: str
    note: str
    created_at: datetime


class ScreenedCall(BaseModel):
    session_id: str
    caller_id: str
    started_at: datetime
    end_reason: str


class CallersOut(BaseModel):
    entries: list[CallerEntry]
    screened_calls: list[ScreenedCall]


@route("Caller screening: block and allow lists, and the calls screening refused", tags=("callers",),
       query=CallersQuery, response=CallersOut, errors=(401, 422))
async def list_callers(request: web.Request) -> web.Response:
    q = parse_query(request, CallersQuery)
    sessions = request.app[CTX].sessions
    entries = await list_entries(sessions, q.kind)
    since = datetime.now(UTC) - timedelta(hours=q.hours)
    async with sessions() as db:
        calls = (await db.execute(
            select(VoiceCall)
            .where(VoiceCall.end_reason.in_(SCREENED_REASONS), VoiceCall.started_at >= since)
            .order_by(VoiceCall.started_at.desc())
            .limit(200)
        )).scalars().all()
    return web.json_response({
        "entries": [{"number": e.number or e.number_key, "kind": e.kind, "note": e.note,
                     "created_at": e.created_at.isoformat()} for e in entries],
        "screened_calls": [{"session_id": c.session_id, "caller_id": c.caller_id,
                            "started_at": c.started_at.isoformat(), "end_reason": c.end_reason} for c in calls],
    })


def install(app: web.Application) -> None:
    app.router.add_get("/voice/callers", list_callers)
