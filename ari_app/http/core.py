"""Health for orchestrators, metrics for Prometheus, the IVR reload for admins.

``/health`` and ``/metrics`` are open: they reveal no guest data.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from ari_app.http.context import CTX
from ari_app.http.schema import route
from models import VoiceCall


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


@route("Reload the IVR menu file (a bad file keeps the old menus)", tags=("admin",), errors=(401, 404, 422))
async def reload_ivr(request: web.Request) -> web.Response:
    reload = request.app[CTX].reload_ivr
    if reload is None:
        raise web.HTTPNotFound(text="the IVR is not enabled in this service")
    try:
        message = await reload()
    except Exception as exc:  # the menu file's error is the answer the admin needs
        return web.json_response({"ok": False, "error": str(exc)}, status=422)
    return web.json_response({"ok": True, "message": message})


def install(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/api/ivr/reload", reload_ivr)
