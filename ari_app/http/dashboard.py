"""The front desk's pages: live calls, today's figures, search, one call, analytics.

Pages are rendered on the server with every value HTML-escaped, so they read without JavaScript;
the scripts (package files under ``static/``, no CDN: the site may be offline) add the live list
(server-sent events from ``/dashboard/events``), the charts (Chart.js, vendored with its licence)
and the live transcript of a call in progress. Nothing refreshes on a timer: a finished call's page
stays still. The CSP allows scripts and styles from this server only, so no inline script runs.

Times show in ``hotel.timezone``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from ari_app.http.analytics import hotel_zone
from ari_app.http.context import CTX
from ari_app.http.sessions import SessionQuery, list_sessions, session_detail

STATIC = Path(__file__).with_name("static")
PING_EVERY_S = 15.0
STOPPING: web.AppKey[asyncio.Event] = web.AppKey("dashboard_streams_stopping", asyncio.Event)


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _when(iso: str | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(tz).strftime(fmt)


def _page(title: str, body: str, *, tz: str, scripts: tuple[str, ...] = (), nav: str = "calls") -> web.Response:
    tags = "".join(f'<script src="/dashboard/static/{_e(s)}" defer></script>' for s in scripts)
    here = ' class="here"'
    links = "".join(
        f'<a href="{href}"{here if key == nav else ""}>{label}</a>'
        for key, href, label in (("calls", "/dashboard", "Calls"), ("analytics", "/dashboard/analytics", "Analytics"))
    )
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{_e(title)}</title><link rel="stylesheet" href="/dashboard/static/dashboard.css">{tags}</head>'
        f'<body data-tz="{_e(tz)}"><header><strong>hotel-operator</strong><nav>{links}</nav>'
        f'<small>times in {_e(tz)}</small></header><main>{body}</main></body></html>'
    )
    return web.Response(text=html, content_type="text/html")


def _call_row(c: dict[str, object], tz: ZoneInfo) -> str:
    sid = _e(c["session_id"])
    dur = "" if c["duration_s"] is None else f"{float(str(c['duration_s'])):.0f} s"
    return (
        f'<tr data-session="{sid}"><td><a href="/dashboard/calls/{sid}">{_e(_when(str(c["started_at"]), tz))}</a></td>'
        f'<td>{_e(c["caller_id"] or "?")}</td><td>{_e(c["caller_name"])}</td><td>{_e(c["called_number"])}</td>'
        f'<td class="st-{_e(c["status"])}">{_e(c["status"])}</td><td>{_e(dur)}</td>'
        f'<td>{_e(", ".join(c["tools_executed"]))}</td><td>{_e(c["end_reason"])}</td></tr>'  # type: ignore[arg-type]
    )


async def dashboard(request: web.Request) -> web.Response:
    """Live calls (kept current by the events stream), today's figures, and recent calls or a search."""
    ctx = request.app[CTX]
    tz = hotel_zone(ctx.timezone)
    q = request.query.get("q", "").strip()[:64]
    live = await list_sessions(ctx, SessionQuery(live=True, limit=100))
    recent = await list_sessions(ctx, SessionQuery(live=False, q=q or None, limit=100))
    live_rows = "".join(
        f'<tr data-session="{_e(c["session_id"])}"><td><a href="/dashboard/calls/{_e(c["session_id"])}">'
        f'{_e(_when(str(c["started_at"]), tz, "%H:%M:%S"))}</a></td><td>{_e(c["caller_id"] or "?")}</td>'
        f'<td>{_e(c["caller_name"])}</td><td>{_e(c["called_number"])}</td><td class="state">{_e(c["state"])}</td>'
        f'<td>{_e(c["direction"])}</td></tr>'
        for c in live
    )
    rows = "".join(_call_row(c, tz) for c in recent)
    heading = f'Calls matching “{_e(q)}”' if q else "Recent calls"
    body = (
        '<section class="live"><h1>Live calls <span id="live-count" class="badge">'
        f'{len(live)}</span></h1><table id="live-calls"><thead><tr><th>since</th><th>caller</th><th>name</th>'
        f'<th>dialled</th><th>state</th><th>direction</th></tr></thead><tbody id="live-body">{live_rows}</tbody>'
        '</table><p id="live-empty" class="muted"' + (' hidden' if live else '') + '>No call in progress.</p>'
        '</section><section class="today"><h2>Today</h2><div class="figures" id="figures"></div>'
        '<div class="charts"><figure><figcaption>Calls per hour</figcaption><canvas id="chart-volume"></canvas>'
        '</figure><figure><figcaption>Outcomes</figcaption><canvas id="chart-outcomes"></canvas></figure>'
        '<figure><figcaption>Bookings</figcaption><canvas id="chart-bookings"></canvas></figure>'
        '<figure><figcaption>Turn latency (ms)</figcaption><canvas id="chart-latency"></canvas></figure></div>'
        '</section><section class="recent"><form method="get" action="/dashboard" class="search" role="search">'
        f'<input type="search" name="q" id="q" value="{_e(q)}" placeholder="caller number, name or confirmation code"'
        ' aria-label="search calls"><button type="submit">Search</button></form>'
        f'<h2>{heading}</h2><table id="calls"><thead><tr><th>started</th><th>caller</th><th>name</th><th>dialled</th>'
        '<th>status</th><th>duration</th><th>tools</th><th>ended because</th></tr></thead>'
        f'<tbody>{rows}</tbody></table>' + ("" if recent else '<p class="muted">No calls found.</p>') + "</section>"
    )
    return _page("hotel-operator: calls", body, tz=str(tz), scripts=("vendor/chart.umd.min.js", "dashboard.js"))


async def dashboard_call(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    tz = hotel_zone(ctx.timezone)
    sid = request.match_info["session_id"]
    try:
        c = await session_detail(ctx, sid)
    except web.HTTPNotFound:
        raise web.HTTPNotFound(text=f"no call {sid}") from None
    is_live = c["status"] == "active"
    head = [_e(c["state"] if is_live else c["status"])]
    if c["end_reason"]:
        head.append(_e(c["end_reason"]))
    if c["duration_s"] is not None:
        head.append(f'{float(c["duration_s"]):.0f} s')
    head.append("tools: " + _e(", ".join(c["tools_executed"]) or "none"))
    turns = "".join(
        f'<tr><td class="who {_e(t["role"])}">{_e(t["role"])}</td><td>{_e(t["content"])}'
        f'{" <small>(cut off)</small>" if t["interrupted"] else ""}</td>'
        f'<td>{"" if t["latency_ms"] is None else _e(t["latency_ms"]) + " ms"}</td>'
        f'<td>{_e(_when(t["at"], tz, "%H:%M:%S"))}</td></tr>'
        for t in c["turns"]
    )
    tools = "".join(
        f'<tr><td>{_e(r["tool"])}</td><td>{"ok" if r["ok"] else "failed"}</td><td>{_e(round(r["latency_ms"]))} ms</td>'
        f'<td>{_e(r["result"] or r["error"])}</td></tr>'
        for r in c["tool_runs"]
    )
    events = "".join(
        f'<li>{_e(_when(e["at"], tz, "%H:%M:%S"))} {_e(e["kind"])}</li>' for e in c["events"]
    )
    res = c["reservation"]
    booking = "" if res is None else (
        f'<p>Booking <strong class="code">{_e(res["confirmation_code"])}</strong> for {_e(res["guest_name"])}: '
        f'{_e(res["check_in"])} → {_e(res["check_out"])}, {_e(res["total"])} {_e(res["currency"])} ({_e(res["status"])})</p>'
    )
    audio = (
        f'<section><h2>Recording</h2><audio id="recording" controls preload="metadata" '
        f'src="{_e(c["recording_url"])}"></audio></section>' if c["recording_url"] else ""
    )
    end_button = '<button type="button" id="end-call" class="danger">End this call</button>' if is_live else ""
    body = (
        f'<p><a href="/dashboard">← calls</a></p><article id="call" data-session="{_e(sid)}" '
        f'data-live="{"1" if is_live else "0"}"><h1>Call from {_e(c["caller_id"] or "?")} '
        f'<small>{_e(c["caller_name"])}</small></h1><p id="call-head">{" · ".join(head)}</p>'
        f'<p class="muted">started {_e(_when(c["started_at"], tz))}'
        + (f' · ended {_e(_when(c["ended_at"], tz))}' if c["ended_at"] else "") + f'</p>{end_button}{booking}{audio}'
        '<section><h2>Transcript</h2><table id="transcript"><thead><tr><th>who</th><th>said</th>'
        f'<th>answer latency</th><th>at</th></tr></thead><tbody id="turns">{turns}</tbody></table></section>'
        '<section><h2>Tools run</h2><table id="tools"><thead><tr><th>tool</th><th>result</th><th>latency</th>'
        f'<th>detail</th></tr></thead><tbody>{tools}</tbody></table></section>'
        + (f'<section><h2>Events</h2><ul id="events">{events}</ul></section>' if events else "")
        + "</article>"
    )
    scripts = ("call.js",) if is_live else ()
    return _page("hotel-operator: call", body, tz=str(tz), scripts=scripts)


async def dashboard_analytics(request: web.Request) -> web.Response:
    tz = hotel_zone(request.app[CTX].timezone)
    frm = request.query.get("from", "")[:32]
    to = request.query.get("to", "")[:32]
    body = (
        '<h1>Analytics</h1><form method="get" action="/dashboard/analytics" class="search" id="window">'
        f'<label>from <input type="date" name="from" value="{_e(frm)}"></label> '
        f'<label>to <input type="date" name="to" value="{_e(to)}"></label> <button type="submit">Show</button></form>'
        '<p id="analytics-error" class="error" hidden></p><div class="figures" id="figures"></div>'
        '<div class="charts"><figure><figcaption>Calls per hour</figcaption><canvas id="chart-volume"></canvas>'
        '</figure><figure><figcaption>Outcomes</figcaption><canvas id="chart-outcomes"></canvas></figure>'
        '<figure><figcaption>Bookings</figcaption><canvas id="chart-bookings"></canvas></figure>'
        '<figure><figcaption>Turn latency (ms)</figcaption><canvas id="chart-latency"></canvas></figure></div>'
        '<h2>Latency per stage (ms)</h2><table id="stages"><thead><tr><th>stage</th><th>p50</th><th>p95</th>'
        '<th>turns</th></tr></thead><tbody></tbody></table><h2>Tools</h2><table id="tool-usage"><thead><tr>'
        '<th>tool</th><th>runs</th><th>ok</th><th>mean latency</th></tr></thead><tbody></tbody></table>'
        '<h2>Mean duration by intent (s)</h2><table id="intents"><thead><tr><th>intent (first tool)</th>'
        '<th>mean duration</th></tr></thead><tbody></tbody></table>'
    )
    return _page("hotel-operator: analytics", body, tz=str(tz),
                 scripts=("vendor/chart.umd.min.js", "dashboard.js"), nav="analytics")


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``live`` with the list of calls in progress whenever it changes."""
    ctx = request.app[CTX]
    stopping = request.app[STOPPING]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    last = ""
    quiet = 0.0
    try:
        await resp.write(b"retry: 2000\n\n")
        while True:
            rows = await list_sessions(ctx, SessionQuery(live=True, limit=100))
            payload = json.dumps(rows, sort_keys=True)
            if payload != last:
                await resp.write(f"event: live\ndata: {payload}\n\n".encode())
                last, quiet = payload, 0.0
            elif quiet >= PING_EVERY_S:
                await resp.write(b": ping\n\n")
                quiet = 0.0
            try:  # a stopping service ends the stream at once instead of waiting out shutdown_timeout
                await asyncio.wait_for(stopping.wait(), ctx.live_poll_s)
                break
            except TimeoutError:
                quiet += ctx.live_poll_s
    except (ConnectionResetError, ConnectionError):
        pass
    return resp


async def _stop_streams(app: web.Application) -> None:
    app[STOPPING].set()


def install(app: web.Application) -> None:
    app[STOPPING] = asyncio.Event()
    app.on_shutdown.append(_stop_streams)
    app.router.add_get("/dashboard", dashboard)
    app.router.add_get("/dashboard/analytics", dashboard_analytics)
    app.router.add_get("/dashboard/events", events)
    app.router.add_get("/dashboard/calls/{session_id}", dashboard_call)
    app.router.add_static("/dashboard/static/", STATIC, follow_symlinks=False, append_version=False)
