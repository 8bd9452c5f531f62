"""Errors as JSON for API clients, and a server log that malformed requests can't flood.

Every 4xx/5xx under ``/api/`` and ``/voice/`` is ``{"error": "...", "status": n}``, so a client
reads one shape whatever went wrong. A request that is not even HTTP (scanners, TLS to a plain
port, garbage) is the client's fault: aiohttp logs it at ERROR with a traceback, which turns a port
scan into an alert storm; here it is one WARNING line, and at most one a minute with a count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger("ari_app.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_api(request: web.Request) -> bool:
    return request.path.startswith(("/api/", "/voice/")) or request.path == "/voice"


def json_error(status: int, message: str, headers: Any = None) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status, headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if not _is_api(request) or exc.status < 400 or exc.content_type == "application/json":
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("www-authenticate", "allow", "retry-after", "content-range")}
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return json_error(exc.status, message or exc.reason, headers)


class QuietServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The logger aiohttp's request handler uses: bad requests become rate-limited warnings;
    real handler errors keep their traceback."""

    def __init__(self, logger: logging.Logger | None = None, *, every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(logger or logging.getLogger("ari_app.http.server"), {})
        self.every_s = every_s
        self.clock = clock
        self._last: float | None = None
        self.suppressed = 0
        self.malformed = 0

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else None
        if isinstance(exc, HttpProcessingError):
            self.malformed += 1
            now = self.clock()
            if self._last is not None and now - self._last < self.every_s:
                self.suppressed += 1
                return
            self._last = now
            more = f" ({self.suppressed} more since the last report)" if self.suppressed else ""
            self.suppressed = 0
            text = str(msg) % args if args else str(msg)
            detail = (getattr(exc, "message", "") or type(exc).__name__).splitlines()[0][:200]
            self.logger.warning("malformed HTTP request refused: %s: %s%s", text, detail, more)
            return
        self.logger.error(msg, *args, exc_info=exc_info, **kwargs)


def make_runner(app: web.Application) -> web.AppRunner:
    """The runner the service uses: no access log, and the quiet server log above."""
    return web.AppRunner(app, access_log=None, logger=QuietServerLog())
