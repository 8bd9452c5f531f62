"""The stand-in's events side: the ``/ari/events`` WebSocket per application and every event in the
shape (and field order) the records of a real Asterisk 22 show.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from aiohttp import WSMsgType, web

from ari_app.standin.apispec import ApiSpec, Operation
from ari_app.standin.model import (
    EmittedEvent,
    EndpointBehaviour,
    RequestRecord,
    SBridge,
    SChannel,
    SPlayback,
    _Conn,
    ari_timestamp,
)

log = logging.getLogger("ari_app.standin")


class StandinEvents:
    """The events side: the WebSocket per application, every event as Asterisk 22 shapes it, and
    the request/event logs tests read."""

    # the stand-in's state, set up by AsteriskStandin.__init__ (server.py)
    host: str
    port: int
    user: str
    password: str
    _started_at: float
    _handlers: dict[
        str, Callable[[Operation, dict[str, str], dict[str, str], Any], Awaitable[tuple[int, Any]]]
    ]
    spec: ApiSpec
    rtp_source: bytes | None
    rtp_host: str
    stasis_start_delay_s: float
    sound_durations: dict[str, float]
    default_sound_s: float
    asterisk_id: str
    rng: random.Random
    channels: dict[str, SChannel]
    bridges: dict[str, SBridge]
    playbacks: dict[str, SPlayback]
    registered_apps: set[str]
    ended_channels: dict[str, SChannel]
    rejected_calls: list[str]
    endpoint_behaviour: dict[str, EndpointBehaviour]
    default_endpoint_behaviour: EndpointBehaviour
    dialplan_contexts: set[str] | None
    timeout_extension_contexts: set[str] | None
    request_log: list[RequestRecord]
    event_log: list[EmittedEvent]
    ws_connects: list[tuple[float, tuple[str, ...]]]
    _conns: dict[str, _Conn]
    _fail_next: dict[str, list[tuple[int, str]]]
    _refuse_ws: int | None
    _tasks: set[asyncio.Task[Any]]
    _epoch: int
    _counter: itertools.count[int]
    _tick: asyncio.Event

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"standin:{name}")
        self._tasks.add(task)

        def _done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("stand-in task %s failed: %r", t.get_name(), t.exception())

        task.add_done_callback(_done)
        return task

    def _changed(self) -> None:
        self._tick.set()
        self._tick = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds (re-checked on every request and event); bound it with
        ``asyncio.timeout``."""
        while not predicate():
            tick = self._tick
            try:
                await asyncio.wait_for(tick.wait(), 0.05)
            except TimeoutError:
                pass

    def live_channels(self, kind: str | None = None) -> list[SChannel]:
        return [c for c in self.channels.values() if not c.gone and (kind is None or c.kind == kind)]

    def app_connected(self, app: str = "hotel-operator") -> bool:
        conn = self._conns.get(app)
        return conn is not None and not conn.ws.closed

    async def drop_websockets(self, app: str | None = None) -> int:
        """Kill event WebSockets abruptly (TCP abort, no close frame). Returns how many were dropped."""
        dropped = 0
        for name, conn in list(self._conns.items()):
            if app is not None and name != app:
                continue
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
            conn.queue.put_nowait(None)
            self._conns.pop(name, None)
            dropped += 1
        self._changed()
        await asyncio.sleep(0)
        return dropped

    def inject_raw(self, text: str, app: str = "hotel-operator") -> bool:
        """Send an arbitrary text frame on the app's events WebSocket (malformed-event tests)."""
        conn = self._conns.get(app)
        if conn is None or conn.ws.closed:
            return False
        conn.queue.put_nowait(text)
        return True

    def refuse_websockets(self, status: int | None) -> None:
        """While set, answer event WebSocket upgrades with this HTTP status (e.g. 503: Asterisk down)."""
        self._refuse_ws = status

    # =============================================================================================
    # JSON shapes (as in the records)

    def channel_json(self, ch: SChannel, with_vars: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": ch.id,
            "name": ch.name,
            "state": ch.state,
            "protocol_id": ch.protocol_id,
            "caller": dict(ch.caller),
            "connected": dict(ch.connected),
            "accountcode": "",
            "dialplan": dict(ch.dialplan),
            "creationtime": ch.creationtime,
            "language": ch.language,
        }
        if with_vars and ch.response_vars:
            d["channelvars"] = dict(ch.response_vars)
        return d

    @staticmethod
    def bridge_json(b: SBridge) -> dict[str, Any]:
        mixing = "mixing" in b.bridge_type.split(",")
        return {
            "id": b.id,
            "technology": "simple_bridge" if mixing else "holding_bridge",
            "bridge_type": b.bridge_type,
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": b.name,
            "channels": list(b.channels),
            "creationtime": b.creationtime,
            "video_mode": "talker" if mixing else "none",
        }

    @staticmethod
    def playback_json(pb: SPlayback) -> dict[str, Any]:
        return {
            "id": pb.id,
            "media_uri": pb.media_uri,
            "target_uri": pb.target,
            "language": pb.language,
            "state": pb.state,
        }

    def _app_json(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "channel_ids": [c.id for c in self.channels.values() if not c.gone and c.subscribed == name],
            "bridge_ids": [b.id for b in self.bridges.values() if name in b.apps],
            "endpoint_ids": [],
            "device_names": [],
            "events_allowed": [],
            "events_disallowed": [],
        }

    # =============================================================================================
    # events

    def _emit(
        self, app: str | None, type_: str, fields: Mapping[str, Any], lead: Mapping[str, Any] | None = None
    ) -> None:
        if app is None:
            return
        event: dict[str, Any] = dict(lead or {})
        event["type"] = type_
        event["timestamp"] = ari_timestamp()
        event.update(fields)
        event["asterisk_id"] = self.asterisk_id
        event["application"] = app
        conn = self._conns.get(app)
        delivered = conn is not None and not conn.ws.closed
        self.event_log.append(EmittedEvent(time.time(), app, event, delivered))
        if delivered and conn is not None:
            conn.queue.put_nowait(json.dumps(event))
        self._changed()

    def _emit_channel(
        self,
        ch: SChannel,
        type_: str,
        fields: Mapping[str, Any] | None = None,
        lead: Mapping[str, Any] | None = None,
    ) -> None:
        # field order as in the records: type, timestamp, <fields>, channel, asterisk_id, application
        self._emit(ch.subscribed, type_, {**(fields or {}), "channel": self.channel_json(ch)}, lead)

    def _setvar(self, ch: SChannel, name: str, value: str) -> None:
        ch.vars[name] = value
        self._emit_channel(ch, "ChannelVarset", lead={"variable": name, "value": value})

    def _record(self, request: web.Request, op: str, body: Any, status: int, response: Any) -> None:
        query = {k: v for k, v in request.query.items() if k != "api_key"}
        self.request_log.append(
            RequestRecord(time.time(), request.method, request.path, query, body, status, response, op)
        )
        self._changed()

    async def _ws_events(
        self, request: web.Request, op: Operation, query: dict[str, str]
    ) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            self._record(request, op.key, None, 400, {"message": "WebSocket upgrade required"})
            return web.json_response({"message": "WebSocket upgrade required"}, status=400)
        if self._refuse_ws is not None:
            status = self._refuse_ws
            self._record(request, op.key, None, status, {"message": "refused by the stand-in"})
            return web.json_response({"message": "Service Unavailable"}, status=status)
        apps = tuple(a for a in query["app"].split(",") if a)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws, request, apps)
        for app in apps:
            old = self._conns.get(app)
            if old is not None and not old.ws.closed:
                # a second client for the same app replaces the first, which is told so
                old.queue.put_nowait(
                    json.dumps(
                        {
                            "type": "ApplicationReplaced",
                            "timestamp": ari_timestamp(),
                            "asterisk_id": self.asterisk_id,
                            "application": app,
                        }
                    )
                )
                old.queue.put_nowait(None)
            self._conns[app] = conn
            self.registered_apps.add(app)
        self.ws_connects.append((time.time(), apps))
        self._record(request, op.key, None, 101, None)
        log.info("stand-in: events WebSocket connected for %s", ", ".join(apps))
        try:
            async with asyncio.TaskGroup() as tg:
                writer = tg.create_task(self._ws_writer(conn), name="standin:ws-writer")
                async for msg in ws:
                    if msg.type == WSMsgType.ERROR:
                        break
                conn.queue.put_nowait(None)
                writer.cancel()
        finally:
            for app in apps:
                if self._conns.get(app) is conn:
                    del self._conns[app]
            self._changed()
        return ws

    async def _ws_writer(self, conn: _Conn) -> None:
        while True:
            text = await conn.queue.get()
            if text is None:
                await conn.ws.close()
                return
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
