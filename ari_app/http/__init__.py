"""The service's HTTP side: health, metrics, the voice API and the front desk's dashboard.

One module per area (sessions, outbound, recordings, analytics, dashboard, OpenAPI); each has an
``install(app)`` adding its routes. Other parts add theirs the same way (``extra_routes`` or
``ApiContext.route_installers``), so they share the auth, the JSON errors and the security headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from ari_app.http import analytics, callers, core, dashboard, openapi, outbound, recordings, sessions
from ari_app.http.auth import auth_middleware, is_protected, security_headers
from ari_app.http.context import CTX, ApiContext, DialResult, LiveCall, RouteInstaller
from ari_app.http.errors import json_errors, make_runner

__all__ = ["CTX", "ApiContext", "DialResult", "LiveCall", "RouteInstaller", "build_app", "make_runner"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_bodies_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Writes under /voice/ take JSON only: a cross-site HTML form can't send it, so a browser
    holding the desk's Basic credentials can't be made to place or end calls (CSRF)."""
    protected = is_protected(request, request.app[CTX].public_paths)
    if request.method in ("POST", "PUT", "PATCH") and request.path.startswith("/voice/") and protected:
        if request.can_read_body and request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="send the body as application/json")
        if not request.can_read_body and request.headers.get("Content-Type", "application/json") != "application/json":
            raise web.HTTPUnsupportedMediaType(text="send the body as application/json")
    return await handler(request)


def build_app(ctx: ApiContext, extra_routes: Sequence[RouteInstaller] = ()) -> web.Application:
    app = web.Application(middlewares=[json_errors, auth_middleware, json_bodies_only])
    app[CTX] = ctx
    app.on_response_prepare.append(security_headers)
    for part in (core, sessions, outbound, recordings, analytics, callers, openapi, dashboard):
        part.install(app)
    for install in (*ctx.route_installers, *extra_routes):
        install(app)
    return app
