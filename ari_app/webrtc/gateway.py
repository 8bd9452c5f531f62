"""The browser-call endpoints: the page, its call tokens and the signalling WebSocket.

``GET /voice/call`` serves the page, ``POST /voice/call/token`` issues a call token (bound to the
client's address, single use, short-lived), ``GET /voice/webrtc`` upgrades to the signalling
socket. The socket is refused (with an ``error`` message naming the reason, then a 44xx close
code) without a valid token or when the global or per-address call limit is reached; it must then
send its offer within ``signalling_timeout_s``. Each accepted socket runs one :class:`WebRtcCall`;
the socket closing hangs the call up, the call ending closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from prometheus_client import Counter, Gauge

from ari_app.webrtc import signalling
from ari_app.webrtc.call import Conversation, WebRtcCall
from ari_app.webrtc.limits import CallLimiter, LimitReached
from ari_app.webrtc.signalling import Hangup, Ice, Keys, Mute, Offer, SignallingError
from ari_app.webrtc.token import TokenBook, TokenError
from models.calls import CallStatus

if TYPE_CHECKING:
    from ari_app.media.clock import MediaClock
    from ari_app.metrics import Metrics
    from ari_app.settings import Settings
    from models.store import CallStore

log = logging.getLogger("ari_app.webrtc")

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self' ws: wss:; media-src 'self' blob: mediastream:; img-src 'self' data:"
)


def _asset(name: str) -> bytes:
    return resources.files("ari_app.webrtc").joinpath("static", name).read_bytes()


class _WebRtcMetrics:
    def __init__(self, metrics: Metrics | None, live: Callable[[], int]) -> None:
        self.ended: Counter | None = None
        self.refused: Counter | None = None
        if metrics is None:
            return
        reg = metrics.registry
        active = Gauge("hotel_webrtc_calls_active", "Browser calls in progress", registry=reg)
        active.set_function(lambda: float(live()))
        self.ended = Counter("hotel_webrtc_calls_total", "Browser calls ended, by end reason", ["reason"],
                             registry=reg)
        self.refused = Counter("hotel_webrtc_refused_total", "Browser call sockets refused, by code", ["code"],
                               registry=reg)


class WebRtcGateway:
    def __init__(
        self,
        settings: Settings,
        store: CallStore,
        conversation: Conversation,
        *,
        metrics: Metrics | None = None,
        clock: MediaClock | None = None,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        watch_interval_s: float = 1.0,
    ) -> None:
        cfg = settings.webrtc
        self.monotonic = monotonic  # the idle and duration limits are measured on this clock
        self.watch_interval_s = watch_interval_s
        self.settings = settings
        self.store = store
        self.conversation = conversation
        self.clock = clock
        self.wall = wall
        secret = cfg.token_secret.get_secret_value().encode() if cfg.token_secret else secrets.token_bytes(32)
        self.tokens = TokenBook(secret, cfg.token_ttl_s)
        self.limiter = CallLimiter(cfg.max_calls, cfg.max_calls_per_ip)
        self.calls: dict[str, WebRtcCall] = {}
        self._handlers: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.metrics = _WebRtcMetrics(metrics, lambda: len(self.calls))

    @property
    def open_peer_connections(self) -> int:
        return sum(1 for c in self.calls.values() if c.pc_open)

    # ---- HTTP ------------------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        resp = web.Response(body=_asset("call.html"), content_type="text/html", charset="utf-8")
        resp.headers["Content-Security-Policy"] = PAGE_CSP
        resp.headers["Cache-Control"] = "no-store"
        return resp

    async def script(self, request: web.Request) -> web.Response:
        return web.Response(body=_asset("call.js"), content_type="application/javascript", charset="utf-8")

    async def token(self, request: web.Request) -> web.Response:
        cfg = self.settings.webrtc
        if not cfg.enabled or cfg.max_calls == 0 or self._stopping:
            return web.json_response(
                {"error": "disabled", "message": "calls from the web page are switched off"}, status=503
            )
        client = request.remote or "unknown"
        if self.limiter.in_use >= cfg.max_calls:
            return web.json_response(
                {"error": "busy", "message": "all our web lines are busy right now; please try again in a minute"},
                status=429,
            )
        return web.json_response({
            "token": self.tokens.issue(client, self.wall()),
            "expires_in": cfg.token_ttl_s,
            "ice_servers": [{"urls": u} for u in cfg.ice_servers],
        }, headers={"Cache-Control": "no-store"})

    # ---- the signalling socket ----------------------------------------------------------------

    async def _refuse(self, ws: web.WebSocketResponse, code: str, message: str, close: int) -> web.WebSocketResponse:
        log.info("browser call refused: %s (%s)", code, message)
        if self.metrics.refused is not None:
            self.metrics.refused.labels(code=code).inc()
        with contextlib.suppress(Exception):
            await ws.send_str(signalling.error(code, message))
            await ws.close(code=close, message=code.encode())
        return ws

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            return await self._socket(request)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        cfg = self.settings.webrtc
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=signalling.MAX_MESSAGE_CHARS * 4)
        await ws.prepare(request)
        client = request.remote or "unknown"
        if not cfg.enabled or self._stopping:
            return await self._refuse(ws, "disabled", "calls from the web page are switched off",
                                      signalling.CLOSE_BUSY)
        try:
            self.tokens.redeem(request.query.get("token"), client, self.wall())
        except TokenError as exc:
            return await self._refuse(ws, exc.code, str(exc), signalling.CLOSE_UNAUTHORIZED)
        try:
            self.limiter.acquire(client)
        except LimitReached as exc:
            return await self._refuse(ws, exc.code, str(exc), signalling.CLOSE_BUSY)
        try:
            return await self._call(ws, client)
        finally:
            self.limiter.release(client)

    async def _call(self, ws: web.WebSocketResponse, client: str) -> web.WebSocketResponse:
        cfg = self.settings.webrtc
        try:
            async with asyncio.timeout(cfg.signalling_timeout_s):
                first = await ws.receive()
        except TimeoutError:
            return await self._refuse(ws, "timeout", "no call offer arrived in time", signalling.CLOSE_TIMEOUT)
        if first.type != WSMsgType.TEXT:
            await ws.close()
            return ws
        try:
            offer = signalling.parse_message(first.data)
            if not isinstance(offer, Offer):
                raise SignallingError("bad_message", "the first message must be the call offer")
        except SignallingError as exc:
            return await self._refuse(ws, exc.code, str(exc), signalling.CLOSE_BAD_REQUEST)

        async def send(text: str) -> None:
            if not ws.closed:
                await ws.send_str(text)

        call = WebRtcCall(
            settings=self.settings, store=self.store, conversation=self.conversation, client=client,
            send=send, clock=self.clock, monotonic=self.monotonic, watch_interval_s=self.watch_interval_s,
        )
        self.calls[call.session_id] = call
        try:
            try:
                answer = await call.answer(offer.sdp)
            except SignallingError as exc:
                await call.teardown(quiet=True)
                return await self._refuse(ws, exc.code, str(exc), signalling.CLOSE_BAD_REQUEST)
            await ws.send_str(signalling.encode("answer", sdp=answer, session=call.session_id))
            # the call and the socket reader: whichever ends first ends the other
            run = asyncio.create_task(call.run(), name=f"webrtc:{call.session_id[:8]}:run")
            reader = asyncio.create_task(self._read(ws, call), name=f"webrtc:{call.session_id[:8]}:socket")
            try:
                await asyncio.wait({run, reader}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                call.end("caller_hangup", CallStatus.COMPLETED)
                reader.cancel()
                await asyncio.gather(run, reader, return_exceptions=True)
        finally:
            await call.teardown()
            self.calls.pop(call.session_id, None)
            if self.metrics.ended is not None:
                self.metrics.ended.labels(reason=(call.end_reason or "ended").split(":")[0]).inc()
            if not ws.closed:
                await ws.close()
        return ws

    async def _read(self, ws: web.WebSocketResponse, call: WebRtcCall) -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                parsed = signalling.parse_message(msg.data)
                if isinstance(parsed, Ice):
                    await call.add_ice(parsed)
                elif isinstance(parsed, Keys):
                    call.keys(parsed.digits)
                elif isinstance(parsed, Mute):
                    call.set_muted(parsed.muted)
                elif isinstance(parsed, Hangup):
                    call.end("caller_hangup", CallStatus.COMPLETED)
                    return
                elif isinstance(parsed, Offer):
                    raise SignallingError("bad_message", "renegotiation is not supported; hang up and call again")
            except SignallingError as exc:
                await ws.send_str(signalling.error(exc.code, str(exc)))  # the call goes on

    async def shutdown(self, app: web.Application | None = None) -> None:
        """Service stop: refuse new calls, end the live ones and wait for their sockets."""
        self._stopping = True
        for call in list(self.calls.values()):
            call.end("service_stopping", CallStatus.COMPLETED)
        handlers = [t for t in self._handlers if t is not asyncio.current_task()]
        if handlers:
            await asyncio.wait(handlers, timeout=10)


def add_webrtc_routes(
    app: web.Application,
    settings: Settings,
    store: CallStore,
    conversation: Conversation,
    *,
    metrics: Metrics | None = None,
    clock: MediaClock | None = None,
    **options: Any,
) -> WebRtcGateway:
    """Register the page, token and signalling routes on ``app``; the app's shutdown ends live calls.

    ``options`` go to :class:`WebRtcGateway` (``wall``, ``monotonic``, ``watch_interval_s``: tests)."""
    gateway = WebRtcGateway(settings, store, conversation, metrics=metrics, clock=clock, **options)
    app.router.add_get("/voice/call", gateway.page)
    app.router.add_get("/voice/call.js", gateway.script)
    app.router.add_post("/voice/call/token", gateway.token)
    app.router.add_get("/voice/webrtc", gateway.socket)
    app.on_shutdown.append(gateway.shutdown)
    return gateway
