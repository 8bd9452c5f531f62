"""The service's HTTP side: health for orchestrators, metrics for Prometheus, calls for staff.

``/health`` and ``/metrics`` are open (they reveal no guest data). ``/api/*`` shows callers' numbers
and transcripts, so it needs a bearer token from ``http.api_tokens``; with no token configured it
answers only on the loopback interface, so a fresh install is never open to the network.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.metrics import Metrics
from models import ConversationTurn, ToolRun, VoiceCall

HealthPart = Callable[[], dict[str, Any]]


@dataclass
class ApiContext:
    sessions: async_sessionmaker[AsyncSession]
    metrics: Metrics
    tokens: list[str]
    health_parts: dict[str, HealthPart] = field(default_factory=dict)
    reload_ivr: Callable[[], Awaitable[str]] | None = None


CTX: web.AppKey[ApiContext] = web.AppKey("ctx", ApiContext)


def _is_loopback(request: web.Request) -> bool:
    peer = request.remote or ""
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


@web.middleware
async def _auth(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    if not request.path.startswith(PROTECTED):
        return await handler(request)
    ctx = request.app[CTX]
    if not ctx.tokens:
        if _is_loopback(request):
            return await handler(request)
        raise web.HTTPForbidden(text="set http.api_tokens to use the API from another host")
    if not any(hmac.compare_digest(_given_token(request), t) for t in ctx.tokens):
        # a browser on the dashboard answers a Basic challenge (any user name, the token as password)
        scheme = "Basic" if request.path.startswith("/dashboard") else "Bearer"
        raise web.HTTPUnauthorized(
            text="a valid token is required", headers={"WWW-Authenticate": f'{scheme} realm="hotel-operator"'}
        )
    return await handler(request)


PROTECTED = ("/api/", "/dashboard")


def _given_token(request: web.Request) -> str:
    given = request.headers.get("Authorization", "")
    if given.startswith("Basic "):
        try:
            return base64.b64decode(given[6:]).decode("utf-8").partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return ""
    return given.removeprefix("Bearer ").strip()


async def health(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    parts: dict[str, Any] = {}
    ok = True
    for name, part in ctx.health_parts.items():
        try:
            parts[name] = part()
        except Exception as exc:  # a broken reporter must not break the health endpoint
            parts[name] = {"ok": False, "error": str(exc)}
        ok = ok and bool(parts[name].get("ok", True))
    try:
        async with ctx.sessions() as db:
            parts["active_calls"] = await db.scalar(
                select(func.count()).select_from(VoiceCall).where(VoiceCall.status == "active")
            )
        parts["database"] = {"ok": True}
    except Exception as exc:
        ok = False
        parts["database"] = {"ok": False, "error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    return web.json_response({"status": "ok" if ok else "degraded", **parts}, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[CTX].metrics.render(), content_type="text/plain", charset="utf-8")


def _call_json(c: VoiceCall) -> dict[str, Any]:
    return {
        "session_id": c.session_id,
        "server": c.asterisk_server,
        "channel_id": c.channel_id,
        "caller_id": c.caller_id,
        "called_number": c.called_number,
        "direction": c.direction,
        "status": c.status,
        "started_at": c.started_at.isoformat(),
        "ended_at": c.ended_at.isoformat() if c.ended_at else None,
        "duration_s": c.duration_s,
        "tools_executed": c.tools_executed,
        "reservation_id": c.reservation_id,
        "sentiment": c.sentiment,
    }


async def list_calls(request: web.Request) -> web.Response:
    try:
        limit = max(1, min(500, int(request.query.get("limit", "50"))))
    except ValueError:
        raise web.HTTPBadRequest(text="limit must be a whole number") from None
    q = select(VoiceCall).order_by(VoiceCall.id.desc()).limit(limit)
    if status := request.query.get("status"):
        q = q.where(VoiceCall.status == status)
    async with request.app[CTX].sessions() as db:
        calls = (await db.execute(q)).scalars().all()
    return web.json_response([_call_json(c) for c in calls])


async def get_call(request: web.Request) -> web.Response:
    sid = request.match_info["session_id"]
    async with request.app[CTX].sessions() as db:
        call = (await db.execute(select(VoiceCall).where(VoiceCall.session_id == sid))).scalar_one_or_none()
        if call is None:
            raise web.HTTPNotFound(text=f"no call {sid}")
        turns = (
            await db.execute(
                select(ConversationTurn).where(ConversationTurn.call_id == call.id).order_by(ConversationTurn.turn_number)
            )
        ).scalars()
        tools = (await db.execute(select(ToolRun).where(ToolRun.call_id == call.id).order_by(ToolRun.id))).scalars()
        body = _call_json(call) | {
            "turns": [
                {"n": t.turn_number, "role": t.role, "content": t.content, "latency_ms": t.latency_ms,
                 "interrupted": t.interrupted, "input_mode": t.input_mode}
                for t in turns
            ],
            "tool_runs": [
                {"tool": r.tool_name, "ok": r.ok, "latency_ms": r.latency_ms, "arguments": r.arguments,
                 "result": r.result_summary, "error": r.error}
                for r in tools
            ],
        }
    return web.json_response(body)


async def analytics(request: web.Request) -> web.Response:
    async with request.app[CTX].sessions() as db:
        by_status = dict((await db.execute(select(VoiceCall.status, func.count()).group_by(VoiceCall.status))).all())
        avg_latency = await db.scalar(select(func.avg(ConversationTurn.latency_ms)))
        avg_duration = await db.scalar(select(func.avg(VoiceCall.duration_s)))
    return web.json_response(
        {
            "calls_by_status": by_status,
            "avg_turn_latency_ms": float(avg_latency) if avg_latency is not None else None,
            "avg_call_duration_s": float(avg_duration) if avg_duration is not None else None,
        }
    )


async def reload_ivr(request: web.Request) -> web.Response:
    reload = request.app[CTX].reload_ivr
    if reload is None:
        raise web.HTTPNotFound(text="the IVR is not enabled in this service")
    try:
        message = await reload()
    except Exception as exc:  # the menu file's error is the answer the admin needs
        return web.json_response({"ok": False, "error": str(exc)}, status=422)
    return web.json_response({"ok": True, "message": message})


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta http-equiv="refresh" content="{refresh}"><style>
body{{font:14px system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;width:100%}}
th,td{{text-align:left;padding:.35em .6em;border-bottom:1px solid #ddd;vertical-align:top}}
th{{background:#f3f3f3}} .active{{color:#0a7}} .failed{{color:#c33}} .agent{{color:#225}}
.caller{{color:#552}} small{{color:#777}}</style></head><body>{body}</body></html>"""


async def dashboard(request: web.Request) -> web.Response:
    """The front desk's view: recent calls, live ones first, refreshed every few seconds."""
    async with request.app[CTX].sessions() as db:
        calls = (await db.execute(select(VoiceCall).order_by(VoiceCall.id.desc()).limit(100))).scalars().all()
        by_status = dict((await db.execute(select(VoiceCall.status, func.count()).group_by(VoiceCall.status))).all())
    rows = "".join(
        f"<tr><td><a href='/dashboard/calls/{escape(c.session_id)}'>{escape(c.started_at.strftime('%Y-%m-%d %H:%M:%S'))}</a></td>"
        f"<td>{escape(c.caller_id or '?')}</td><td>{escape(c.called_number)}</td>"
        f"<td class='{escape(c.status)}'>{escape(c.status)}</td><td>{'' if c.duration_s is None else f'{c.duration_s:.0f} s'}</td>"
        f"<td>{escape(', '.join(c.tools_executed))}</td><td>{escape(c.end_reason)}</td></tr>"
        for c in sorted(calls, key=lambda c: (c.status != "active", -c.id))
    )
    summary = ", ".join(f"{escape(k)}: {v}" for k, v in sorted(by_status.items())) or "no calls yet"
    body = (
        f"<h1>Calls</h1><p><small>{summary}</small></p><table><tr><th>started (UTC)</th><th>caller</th>"
        f"<th>dialled</th><th>status</th><th>duration</th><th>tools</th><th>ended because</th></tr>{rows}</table>"
    )
    return web.Response(text=_PAGE.format(title="hotel-operator: calls", refresh=5, body=body), content_type="text/html")


async def dashboard_call(request: web.Request) -> web.Response:
    sid = request.match_info["session_id"]
    async with request.app[CTX].sessions() as db:
        call = (await db.execute(select(VoiceCall).where(VoiceCall.session_id == sid))).scalar_one_or_none()
        if call is None:
            raise web.HTTPNotFound(text=f"no call {sid}")
        turns = (
            await db.execute(
                select(ConversationTurn).where(ConversationTurn.call_id == call.id).order_by(ConversationTurn.turn_number)
            )
        ).scalars().all()
    lines = "".join(
        f"<tr><td class='{escape(t.role)}'>{escape(t.role)}</td><td>{escape(t.content)}"
        f"{' <small>(cut off)</small>' if t.interrupted else ''}</td>"
        f"<td>{'' if t.latency_ms is None else f'{t.latency_ms} ms'}</td></tr>"
        for t in turns
    )
    body = (
        f"<p><a href='/dashboard'>&larr; calls</a></p><h1>Call from {escape(call.caller_id or '?')}</h1>"
        f"<p>{escape(call.status)} &middot; {escape(call.end_reason)} &middot; tools: "
        f"{escape(', '.join(call.tools_executed) or 'none')}</p><table><tr><th>who</th><th>said</th>"
        f"<th>answer latency</th></tr>{lines}</table>"
    )
    return web.Response(text=_PAGE.format(title="hotel-operator: call", refresh=5, body=body), content_type="text/html")


def build_app(ctx: ApiContext) -> web.Application:
    app = web.Application(middlewares=[_auth])
    app[CTX] = ctx
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/calls", list_calls)
    app.router.add_get("/api/calls/{session_id}", get_call)
    app.router.add_get("/api/analytics", analytics)
    app.router.add_post("/api/ivr/reload", reload_ivr)
    app.router.add_get("/dashboard", dashboard)
    app.router.add_get("/dashboard/calls/{session_id}", dashboard_call)
    return app
