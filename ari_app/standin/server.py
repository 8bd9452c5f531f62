"""An Asterisk stand-in speaking ARI (REST + the events WebSocket) and RTP, as Asterisk 22 does.

It replays what the records in ``../shared/asterisk/records`` show a real Asterisk 22.10.1 doing:

* the same JSON shapes for channels, bridges, playbacks, applications and every event;
* a caller entering ``Stasis(app[,args])`` gives ``StasisStart`` (state ``Up``, dialplan priority 2);
  with no WebSocket client for the app the call is answered and hung up at once, with no event;
* ``POST /channels/externalMedia`` returns the channel in state ``Down`` with ``UNICASTRTP_LOCAL_*``
  channel variables, and only ``stasis_start_delay_s`` (13 ms, the race in the records) later come
  ``Dial`` / ``ChannelStateChange`` / ``Dial(ANSWER)`` / ``ChannelVarset STASISSTATUS`` /
  ``StasisStart`` for it; adding it to a bridge before that fails with
  ``422 {"message": "Channel not in Stasis application"}``;
* no ``BridgeCreated`` for REST bridges; ``ChannelEnteredBridge``, ``BRIDGEPEER`` /
  ``BRIDGEPVTCALLID`` variables and ``ChannelConnectedLine`` when two channels meet;
* a caller hanging up gives the ``RTPAUDIOQOS*`` variables, ``ChannelHangupRequest`` (no cause),
  ``ChannelLeftBridge``, ``StasisEnd`` and no ``ChannelDestroyed``; our ``DELETE`` gives
  ``ChannelHangupRequest`` with cause 32, ``soft: true``; channels that die in Stasis (externalMedia,
  originated legs) end with ``STASISSTATUS=SUCCESS`` and ``ChannelDestroyed`` (16, Normal Clearing);
* an ARI playback mutes the externalMedia stream while it plays; a caller hanging up mid-playback
  gives ``PlaybackFinished`` with state ``failed``;
* real RTP on the externalMedia leg (PT 0, 160-byte μ-law, 20 ms, one SSRC, marker never set) from a
  ``.ulaw``/WAV file once the channel is bridged with the caller, and capture of what comes back.

Every request is validated against Asterisk's API description (see :mod:`.apispec`). For tests and
the demo it offers control methods (and ``/_standin/…`` HTTP endpoints): place a call, send DTMF,
hang the caller up, drop or refuse the WebSocket, make the next request of a kind fail; and it keeps
a log of every request and every event.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from ari_app.standin.apispec import ApiSpec, Operation, SpecError
from ari_app.standin.rtp import RtpLeg, load_ulaw_source

log = logging.getLogger("ari_app.standin")

ASTERISK_INFO: dict[str, Any] = {
    # as recorded from the real Asterisk 22.10.1 (records/asterisk-info.json); times refreshed at start
    "build": {
        "os": "Linux",
        "kernel": "6.18.44-fc-v595",
        "machine": "x86_64",
        "options": "OPTIONAL_API",
        "date": "2026-11-25 13:48:25 UTC",
        "user": "root",
    },
    "system": {"version": "22.10.1", "entity_id": "02:fc:00:00:00:01"},
    "config": {"name": "", "default_language": "en", "setid": {"user": "", "group": ""}},
    "status": {"startup_time": "", "last_reload_time": ""},
}

HANGUP_REASON_CAUSES = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 19,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}
CAUSE_TEXT = {
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    28: "Invalid number format (incomplete number)",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    58: "Bearer capability not available",
    127: "Interworking, unspecified",
}
SOFT_HANGUP_EXPLICIT = 32  # what ChannelHangupRequest.cause carries for an ARI DELETE (soft hang-up flag)
KNOWN_FORMATS = frozenset(
    {
        "ulaw",
        "alaw",
        "gsm",
        "g722",
        "g729",
        "slin",
        "slin12",
        "slin16",
        "slin24",
        "slin32",
        "slin44",
        "slin48",
        "slin96",
        "slin192",
        "opus",
        "speex",
        "speex16",
        "ilbc",
        "g726",
    }
)
BRIDGE_TYPES = frozenset(
    {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single", "sdp_label"}
)
MEDIA_SCHEMES = ("sound:", "recording:", "number:", "digits:", "characters:", "tone:")

QOS_JITTER = (
    "minrxjitter=000.000000;maxrxjitter=000.000375;avgrxjitter=000.000153;stdevrxjitter=000.000061;"
    "mintxjitter=000.000000;maxtxjitter=000.000250;avgtxjitter=000.000143;stdevtxjitter=000.000124;"
)
QOS_LOSS = (
    "  minrxlost=000.000000;  maxrxlost=000.000000;  avgrxlost=000.000000;  stdevrxlost=000.000000;"
    "  mintxlost=000.000000;  maxtxlost=000.000000;  avgtxlost=000.000000;  stdevtxlost=000.000000;"
)
QOS_RTT = "     minrtt=000.000122;     maxrtt=000.000183;     avgrtt=000.000168;     stdevrtt=000.000026;"
QOS_MES = (
    "   minrxmes=088.086681;   maxrxmes=088.087887;   avgrxmes=088.087284;   stdevrxmes=000.000603;"
    "   mintxmes=088.086229;   maxtxmes=088.087887;   avgtxmes=088.087033;   stdevtxmes=000.000752;"
)


def ari_timestamp(at: float | None = None) -> str:
    """Asterisk's event/creation time format: ``2026-11-25T14:00:49.152+0000``."""
    dt = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


class _Reply(Exception):
    """An ARI error reply from a handler: status plus Asterisk's ``{"message": …}`` body."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass
class SChannel:
    id: str
    name: str
    kind: str  # "sip" (a caller), "unicast" (externalMedia), "outbound" (originated)
    state: str
    caller: dict[str, str]
    dialplan: dict[str, Any]
    protocol_id: str = ""
    connected: dict[str, str] = field(default_factory=lambda: {"name": "", "number": ""})
    language: str = "en"
    creationtime: str = field(default_factory=ari_timestamp)
    app: str | None = None  # the Stasis application the channel is in (None: not in Stasis)
    subscribed: str | None = None  # the application that receives its events
    after_stasis: str = "dialplan"  # "dialplan": lives on after StasisEnd; "destroy": dies in Stasis
    bridge: str | None = None
    vars: dict[str, str] = field(default_factory=dict)
    response_vars: dict[str, str] = field(default_factory=dict)
    moh: str | None = None
    gone: bool = False
    hangup_cause: int | None = None
    continued_to: tuple[str, str, int] | None = None
    leg: RtpLeg | None = None
    send_task: asyncio.Task[None] | None = None
    stasis_args: tuple[str, ...] = ()
    originate_timeout_s: float = 30.0


@dataclass
class SBridge:
    id: str
    name: str
    bridge_type: str
    channels: list[str] = field(default_factory=list)
    creationtime: str = field(default_factory=ari_timestamp)
    apps: set[str] = field(default_factory=set)


@dataclass
class SPlayback:
    id: str
    media_uri: str
    target: str
    language: str
    state: str = "queued"
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class RequestRecord:
    at: float
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    response: Any
    op: str  # "channels.answer" etc., "" when no operation matched


@dataclass(frozen=True)
class EmittedEvent:
    at: float
    app: str
    event: dict[str, Any]
    delivered: bool


@dataclass
class EndpointBehaviour:
    """What the far end of an originated call does: ``answer`` (after ``delay_s``), ``busy``,
    ``noanswer`` (ring until the originate timeout) or ``congestion``."""

    kind: str = "answer"
    delay_s: float = 0.05


@dataclass
class _Conn:
    ws: web.WebSocketResponse
    request: web.Request
    apps: tuple[str, ...]
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class AsteriskStandin:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str = "hotel",
        password: str = "hotel-secret",
        api_docs: Path | None = None,
        spec: ApiSpec | None = None,
        rtp_source: bytes | str | Path | None = None,
        rtp_host: str = "127.0.0.1",
        stasis_start_delay_s: float = 0.013,
        sound_durations: Mapping[str, float] | None = None,
        default_sound_s: float = 2.0,
        seed: int | None = None,
        asterisk_id: str = "02:fc:00:00:00:01",
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.spec = spec or ApiSpec.load(api_docs)
        if isinstance(rtp_source, str | Path):
            rtp_source = load_ulaw_source(rtp_source)
        self.rtp_source: bytes | None = rtp_source
        self.rtp_host = rtp_host
        self.stasis_start_delay_s = stasis_start_delay_s
        self.sound_durations: dict[str, float] = dict(sound_durations or {})
        self.default_sound_s = default_sound_s
        self.asterisk_id = asterisk_id
        self.rng = random.Random(seed)

        self.channels: dict[str, SChannel] = {}
        self.bridges: dict[str, SBridge] = {}
        self.playbacks: dict[str, SPlayback] = {}
        self.registered_apps: set[str] = set()
        self.ended_channels: dict[str, SChannel] = {}
        self.rejected_calls: list[str] = []  # calls hung up because no ARI client was connected
        self.endpoint_behaviour: dict[str, EndpointBehaviour] = {}
        self.default_endpoint_behaviour = EndpointBehaviour()

        self.request_log: list[RequestRecord] = []
        self.event_log: list[EmittedEvent] = []
        self.ws_connects: list[tuple[float, tuple[str, ...]]] = []

        self._conns: dict[str, _Conn] = {}
        self._fail_next: dict[str, list[tuple[int, str]]] = {}
        self._refuse_ws: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._epoch = int(time.time())
        self._counter = itertools.count(1)
        self._tick = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._started_at = time.time()
        self._handlers: dict[
            str, Callable[[Operation, dict[str, str], dict[str, str], Any], Awaitable[tuple[int, Any]]]
        ] = {
            "asterisk.getInfo": self._op_info,
            "asterisk.ping": self._op_ping,
            "applications.list": self._op_apps_list,
            "applications.get": self._op_app_get,
            "channels.list": self._op_channels_list,
            "channels.get": self._op_channel_get,
            "channels.originate": self._op_originate,
            "channels.originateWithId": self._op_originate,
            "channels.hangup": self._op_hangup,
            "channels.answer": self._op_answer,
            "channels.continueInDialplan": self._op_continue,
            "channels.startMoh": self._op_moh_start,
            "channels.stopMoh": self._op_moh_stop,
            "channels.play": self._op_play,
            "channels.playWithId": self._op_play,
            "channels.getChannelVar": self._op_getvar,
            "channels.setChannelVar": self._op_setvar,
            "channels.rtpstatistics": self._op_rtpstats,
            "channels.externalMedia": self._op_external_media,
            "bridges.list": self._op_bridges_list,
            "bridges.create": self._op_bridge_create,
            "bridges.createWithId": self._op_bridge_create,
            "bridges.get": self._op_bridge_get,
            "bridges.destroy": self._op_bridge_destroy,
            "bridges.addChannel": self._op_add_channel,
            "bridges.removeChannel": self._op_remove_channel,
            "playbacks.get": self._op_playback_get,
            "playbacks.stop": self._op_playback_stop,
        }

    # =============================================================================================
    # lifecycle

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/ari/{tail:.*}", self._handle)
        app.router.add_post("/_standin/calls", self._ctl_place_call)
        app.router.add_post("/_standin/calls/{channel_id}/dtmf", self._ctl_dtmf)
        app.router.add_delete("/_standin/calls/{channel_id}", self._ctl_hangup)
        app.router.add_post("/_standin/websockets/drop", self._ctl_drop)
        app.router.add_post("/_standin/fail", self._ctl_fail)
        app.router.add_get("/_standin/requests", self._ctl_requests)
        app.router.add_get("/_standin/events", self._ctl_events)
        app.router.add_get("/_standin/state", self._ctl_state)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1])
        self._started_at = time.time()
        log.info("Asterisk stand-in listening on %s (validating against %s)", self.base_url, self.spec.source)

    async def stop(self) -> None:
        for conn in list(self._conns.values()):
            conn.queue.put_nowait(None)
            await conn.ws.close()
        for ch in list(self.channels.values()):
            self._stop_media(ch)
            if ch.leg is not None:
                ch.leg.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> AsteriskStandin:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

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

    # =============================================================================================
    # control: what a test (or the demo) does to the "phone network"

    def _new_uniqueid(self) -> tuple[str, int]:
        n = next(self._counter)
        return f"{self._epoch}.{n}", n

    def app_connected(self, app: str = "hotel-operator") -> bool:
        conn = self._conns.get(app)
        return conn is not None and not conn.ws.closed

    def place_call(
        self,
        *,
        caller_number: str = "guest",
        caller_name: str = "",
        did: str = "100",
        args: Sequence[str] | None = None,
        context: str = "from-guest",
        endpoint: str = "guest",
        app: str = "hotel-operator",
        language: str = "en",
    ) -> str:
        """A SIP call reaching ``exten => did,1,Answer()`` then ``n,Stasis(app[,args])``.

        ``args`` defaults to ``(did,)`` (the DID as Stasis argument); the records' dialplan passed none,
        so replay tests give ``args=()``. Returns the channel id."""
        stasis_args = tuple(args) if args is not None else (did,)
        uid, n = self._new_uniqueid()
        app_data = ",".join((app, *stasis_args))
        ch = SChannel(
            id=uid,
            name=f"PJSIP/{endpoint}-{n:08x}",
            kind="sip",
            state="Up",
            caller={"name": caller_name, "number": caller_number},
            dialplan={
                "context": context,
                "exten": did,
                "priority": 2,
                "app_name": "Stasis",
                "app_data": app_data,
            },
            protocol_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            language=language,
            stasis_args=stasis_args,
        )
        if not self.app_connected(app):
            # records: with no ARI client connected, Stasis() fails and the call is hung up at once
            log.warning("stand-in: no ARI client for app %r; call %s answered and hung up at once", app, uid)
            ch.gone = True
            self.rejected_calls.append(uid)
            self.ended_channels[uid] = ch
            self._changed()
            return uid
        ch.app = ch.subscribed = app
        self.channels[uid] = ch
        self._emit_channel(ch, "StasisStart", {"args": list(stasis_args)})
        return uid

    def send_dtmf(self, channel_id: str, digits: str, duration_ms: int = 200) -> None:
        """The caller presses keys: one ``ChannelDtmfReceived`` per digit (RFC 4733 is decoded by
        Asterisk; digits never appear in the externalMedia RTP)."""
        ch = self.channels[channel_id]
        for digit in digits:
            self._emit_channel(ch, "ChannelDtmfReceived", {"digit": digit, "duration_ms": duration_ms})

    def hangup_caller(self, channel_id: str) -> None:
        """The far end hangs up (SIP BYE)."""
        ch = self.channels.get(channel_id)
        if ch is None or ch.gone:
            return
        self._hangup(ch, cause=None, soft=None, destroy_cause=16)

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

    def fail_next(
        self, op: str, status: int = 500, count: int = 1, message: str = "Internal Server Error"
    ) -> None:
        """Make the next ``count`` requests of operation ``op`` (e.g. ``channels.answer``) fail."""
        if op not in self.spec.by_key:
            raise KeyError(f"unknown ARI operation {op!r}")
        self._fail_next.setdefault(op, []).extend([(status, message)] * count)

    def set_endpoint_behaviour(self, endpoint: str, kind: str = "answer", delay_s: float = 0.05) -> None:
        if kind not in ("answer", "busy", "noanswer", "congestion"):
            raise ValueError(f"unknown endpoint behaviour {kind!r}")
        self.endpoint_behaviour[endpoint] = EndpointBehaviour(kind, delay_s)

    def set_sound_duration(self, media: str, seconds: float) -> None:
        self.sound_durations[media.split(":", 1)[-1]] = seconds

    # queries for tests ---------------------------------------------------------------------------

    def live_channels(self, kind: str | None = None) -> list[SChannel]:
        return [c for c in self.channels.values() if not c.gone and (kind is None or c.kind == kind)]

    def channel_events(self, channel_id: str) -> list[dict[str, Any]]:
        out = []
        for rec in self.event_log:
            ev = rec.event
            for key in ("channel", "peer"):
                value = ev.get(key)
                if isinstance(value, dict) and value.get("id") == channel_id:
                    out.append(ev)
                    break
        return out

    def leg(self, channel_id: str) -> RtpLeg | None:
        ch = self.channels.get(channel_id) or self.ended_channels.get(channel_id)
        return ch.leg if ch is not None else None

    def requests(self, op: str | None = None) -> list[RequestRecord]:
        return [r for r in self.request_log if op is None or r.op == op]

    def clear_logs(self) -> None:
        self.request_log.clear()
        self.event_log.clear()

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

    # =============================================================================================
    # channel behaviour

    def _qos_varsets(self, ch: SChannel) -> None:
        """The RTPAUDIOQOS* variables Asterisk sets on a SIP channel at hang-up (and *BRIDGED on its peer)."""
        peer: SChannel | None = None
        if ch.bridge is not None:
            b = self.bridges.get(ch.bridge)
            others = [
                self.channels[c] for c in (b.channels if b else []) if c != ch.id and c in self.channels
            ]
            peer = others[0] if len(others) == 1 else None
        leg = peer.leg if peer is not None else None
        rx = leg._sent_count if leg is not None else 0
        tx = len(leg.captured) if leg is not None else 0
        ssrc = leg.ssrc if leg is not None else self.rng.getrandbits(32)
        them = leg.captured[0].ssrc if leg is not None and leg.captured else self.rng.getrandbits(32)
        qos = (
            f"ssrc={ssrc};themssrc={them};lp=0;rxjitter=0.000250;rxcount={rx};txjitter=0.000125;"
            f"txcount={tx};rlp=0;rtt=0.000183;rxmes=88.086229;txmes=88.086681"
        )
        for name, value in (
            ("RTPAUDIOQOS", qos),
            ("RTPAUDIOQOSJITTER", QOS_JITTER),
            ("RTPAUDIOQOSLOSS", QOS_LOSS),
            ("RTPAUDIOQOSRTT", QOS_RTT),
            ("RTPAUDIOQOSMES", QOS_MES),
        ):
            self._setvar(ch, name, value)
            if peer is not None:
                self._setvar(peer, name + "BRIDGED", value)

    def _hangup(self, ch: SChannel, *, cause: int | None, soft: bool | None, destroy_cause: int) -> None:
        if ch.gone:
            return
        if ch.kind == "sip" or (ch.kind == "outbound" and ch.state == "Up"):
            self._qos_varsets(ch)
        lead: dict[str, Any] = {}
        if cause is not None:
            lead["cause"] = cause
        if soft is not None:
            lead["soft"] = soft
        self._emit_channel(ch, "ChannelHangupRequest", lead=lead)
        for pb in [p for p in self.playbacks.values() if p.target == f"channel:{ch.id}"]:
            self._finish_playback(pb, "failed")
        if ch.bridge is not None:
            self._leave_bridge(ch)
        self._end_channel(ch, destroy_cause)

    def _end_channel(self, ch: SChannel, destroy_cause: int) -> None:
        if ch.app is not None:
            self._emit_channel(ch, "StasisEnd")
            ch.app = None
        if ch.after_stasis == "destroy":
            if "STASISSTATUS" in ch.vars:  # it did enter Stasis
                self._setvar(ch, "STASISSTATUS", "SUCCESS")
            ch.dialplan.update({"app_name": "AppDial2", "app_data": "(Outgoing Line)"})
            self._emit_channel(
                ch,
                "ChannelDestroyed",
                {"cause": destroy_cause, "cause_txt": CAUSE_TEXT.get(destroy_cause, "Unknown")},
            )
        ch.gone = True
        ch.hangup_cause = destroy_cause
        self._stop_media(ch)
        if ch.leg is not None:
            ch.leg.close()
        self.channels.pop(ch.id, None)
        self.ended_channels[ch.id] = ch
        self._changed()

    def _enter_bridge(self, b: SBridge, ch: SChannel) -> None:
        if ch.bridge is not None and ch.bridge != b.id:
            self._leave_bridge(ch)
        if ch.id in b.channels:
            return
        b.channels.append(ch.id)
        ch.bridge = b.id
        if ch.subscribed:
            b.apps.add(ch.subscribed)
        self._emit_channel(ch, "ChannelEnteredBridge", {"bridge": self.bridge_json(b)})

    def _bridge_peers(self, b: SBridge) -> None:
        members = [self.channels[c] for c in b.channels if c in self.channels]
        if len(members) < 2:
            return
        for ch in members:
            names = ",".join(o.name for o in members if o is not ch)
            if ch.vars.get("BRIDGEPEER") != names:
                self._setvar(ch, "BRIDGEPEER", names)
        if len(members) == 2:
            for ch, peer in ((members[0], members[1]), (members[1], members[0])):
                if peer.protocol_id and ch.vars.get("BRIDGEPVTCALLID") != peer.protocol_id:
                    self._setvar(ch, "BRIDGEPVTCALLID", peer.protocol_id)
            for ch, peer in ((members[0], members[1]), (members[1], members[0])):
                if peer.caller.get("number") and ch.connected != peer.caller:
                    ch.connected = dict(peer.caller)
                    self._emit_channel(ch, "ChannelConnectedLine")

    def _leave_bridge(self, ch: SChannel) -> None:
        b = self.bridges.get(ch.bridge or "")
        ch.bridge = None
        if b is None:
            return
        if ch.id in b.channels:
            b.channels.remove(ch.id)
        if "BRIDGEPEER" in ch.vars:
            self._setvar(ch, "BRIDGEPEER", "")
        if "BRIDGEPVTCALLID" in ch.vars:
            self._setvar(ch, "BRIDGEPVTCALLID", "")
        self._emit_channel(ch, "ChannelLeftBridge", {"bridge": self.bridge_json(b)})
        self._stop_media(ch)
        self._refresh_media(b)

    def _refresh_media(self, b: SBridge) -> None:
        """Send RTP on every externalMedia leg in ``b`` that shares it with a caller; mute it while a
        playback runs on that caller (as the records show)."""
        members = [self.channels[c] for c in b.channels if c in self.channels]
        for ch in members:
            if ch.kind != "unicast" or ch.leg is None:
                continue
            parties = [o for o in members if o is not ch and o.kind != "unicast"]
            if parties and ch.send_task is None:
                ch.send_task = self._spawn(ch.leg.send_loop(), f"rtp:{ch.id}")
            elif not parties:
                self._stop_media(ch)
            playing = any(
                p.state in ("queued", "playing") and p.target in {f"channel:{o.id}" for o in parties}
                for p in self.playbacks.values()
            )
            ch.leg.muted = playing

    def _stop_media(self, ch: SChannel) -> None:
        if ch.send_task is not None:
            ch.send_task.cancel()
            ch.send_task = None

    def _finish_playback(self, pb: SPlayback, state: str) -> None:
        if pb.state in ("done", "failed", "canceled"):
            return
        pb.state = state
        target = self.channels.get(pb.target.split(":", 1)[1]) or self.ended_channels.get(
            pb.target.split(":", 1)[1]
        )
        if target is not None:
            self._emit(target.subscribed, "PlaybackFinished", {"playback": self.playback_json(pb)})
        self.playbacks.pop(pb.id, None)
        task = pb.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if target is not None and target.bridge in self.bridges:
            self._refresh_media(self.bridges[target.bridge])

    def _media_duration(self, media: str) -> float:
        total = 0.0
        for item in media.split(","):
            scheme, _, name = item.partition(":")
            if scheme in ("digits", "number", "characters"):
                total += 0.5 * max(1, len(name))
            else:
                total += self.sound_durations.get(name, self.default_sound_s)
        return total

    async def _run_playback(self, pb: SPlayback, duration: float) -> None:
        await asyncio.sleep(0.001)
        target = self.channels.get(pb.target.split(":", 1)[1])
        if target is None or pb.state != "queued":
            return
        pb.state = "playing"
        self._emit(target.subscribed, "PlaybackStarted", {"playback": self.playback_json(pb)})
        if target.bridge in self.bridges:
            self._refresh_media(self.bridges[target.bridge])
        await asyncio.sleep(duration)
        self._finish_playback(pb, "done")

    async def _external_media_enters_stasis(self, ch: SChannel, app: str, dialstring: str) -> None:
        # the race of the records: the POST has returned (state Down) before any of this happens
        await asyncio.sleep(self.stasis_start_delay_s)
        if ch.gone:
            return
        self._emit(
            app,
            "Dial",
            {"dialstatus": "", "forward": "", "dialstring": dialstring, "peer": self.channel_json(ch)},
        )
        ch.state = "Up"
        self._emit_channel(ch, "ChannelStateChange")
        self._emit(
            app,
            "Dial",
            {"dialstatus": "ANSWER", "forward": "", "dialstring": dialstring, "peer": self.channel_json(ch)},
        )
        ch.dialplan.update({"app_name": "Stasis", "app_data": app})
        self._setvar(ch, "STASISSTATUS", "")
        ch.app = app
        self._emit_channel(ch, "StasisStart", {"args": []})

    async def _originate_progress(self, ch: SChannel, endpoint: str, behaviour: EndpointBehaviour) -> None:
        await asyncio.sleep(0.002)
        if ch.gone:
            return
        dialstring = endpoint.split("/", 1)[-1]
        self._emit(
            ch.subscribed,
            "Dial",
            {"dialstatus": "", "forward": "", "dialstring": dialstring, "peer": self.channel_json(ch)},
        )
        ch.state = "Ringing"
        self._emit_channel(ch, "ChannelStateChange")
        kind = behaviour.kind
        wait = behaviour.delay_s
        if kind == "answer" and wait >= ch.originate_timeout_s:
            kind = "noanswer"
        if kind == "noanswer":
            wait = ch.originate_timeout_s
        await asyncio.sleep(wait)
        if ch.gone:
            return
        if kind == "answer":
            ch.state = "Up"
            self._emit_channel(ch, "ChannelStateChange")
            self._emit(
                ch.subscribed,
                "Dial",
                {
                    "dialstatus": "ANSWER",
                    "forward": "",
                    "dialstring": dialstring,
                    "peer": self.channel_json(ch),
                },
            )
            if ch.subscribed is not None and ch.dialplan.get("app_name") == "Stasis":
                self._setvar(ch, "STASISSTATUS", "")
                ch.app = ch.subscribed
                self._emit_channel(ch, "StasisStart", {"args": list(ch.stasis_args)})
            return
        cause, status = {
            "busy": (17, "BUSY"),
            "noanswer": (19, "NOANSWER"),
            "congestion": (34, "CONGESTION"),
        }[kind]
        self._emit(
            ch.subscribed,
            "Dial",
            {"dialstatus": status, "forward": "", "dialstring": dialstring, "peer": self.channel_json(ch)},
        )
        self._emit_channel(ch, "ChannelHangupRequest", lead={"cause": cause})
        ch.dialplan.update({"app_name": "AppDial2", "app_data": "(Outgoing Line)"})
        self._end_channel(ch, cause)

    # =============================================================================================
    # HTTP: authentication, validation, dispatch

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return user == self.user and password == self.password
        api_key = request.query.get("api_key")
        if api_key is not None:
            user, _, password = api_key.partition(":")
            return user == self.user and password == self.password
        return False

    def _record(self, request: web.Request, op: str, body: Any, status: int, response: Any) -> None:
        query = {k: v for k, v in request.query.items() if k != "api_key"}
        self.request_log.append(
            RequestRecord(time.time(), request.method, request.path, query, body, status, response, op)
        )
        self._changed()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path[len("/ari") :] or "/"
        body: Any = None
        if not self._authorised(request):
            self._record(request, "", None, 401, {"message": "Authentication required"})
            return web.json_response(
                {"message": "Authentication required"},
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="Asterisk REST Interface"'},
            )
        try:
            op, path_params = self.spec.match(request.method, path)
            if request.can_read_body:
                text = await request.text()
                if text.strip():
                    try:
                        body = json.loads(text)
                    except ValueError:
                        raise SpecError(400, "Malformed JSON request body") from None
            query = self.spec.validate(op, request.query.items(), body)
        except SpecError as exc:
            log.info("stand-in refused %s %s: %s %s", request.method, request.path, exc.status, exc.message)
            self._record(request, "", body, exc.status, {"message": exc.message})
            return web.json_response({"message": exc.message}, status=exc.status)
        if op.websocket:
            return await self._ws_events(request, op, query)
        failures = self._fail_next.get(op.key)
        if failures:
            status, message = failures.pop(0)
            log.info("stand-in: injected %d for %s %s", status, request.method, request.path)
            self._record(request, op.key, body, status, {"message": message})
            return web.json_response({"message": message}, status=status)
        handler = self._handlers.get(op.key)
        if handler is None:
            message = f"{op.key} is allowed by the API but not implemented by the stand-in"
            self._record(request, op.key, body, 501, {"message": message})
            return web.json_response({"message": message}, status=501)
        try:
            status, payload = await handler(op, path_params, query, body)
        except _Reply as reply:
            self._record(request, op.key, body, reply.status, {"message": reply.message})
            return web.json_response({"message": reply.message}, status=reply.status)
        self._record(request, op.key, body, status, payload)
        if status == 204 or payload is None:
            return web.Response(status=status)
        return web.json_response(payload, status=status)

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

    # =============================================================================================
    # operations

    def _channel(self, channel_id: str) -> SChannel:
        ch = self.channels.get(channel_id)
        if ch is None or ch.gone:
            raise _Reply(404, "Channel not found")
        return ch

    def _stasis_channel(self, channel_id: str) -> SChannel:
        ch = self._channel(channel_id)
        if ch.app is None:
            raise _Reply(409, "Channel not in Stasis application")
        return ch

    def _bridge(self, bridge_id: str) -> SBridge:
        b = self.bridges.get(bridge_id)
        if b is None:
            raise _Reply(404, "Bridge not found")
        return b

    async def _op_info(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        info = json.loads(json.dumps(ASTERISK_INFO))
        info["system"]["entity_id"] = self.asterisk_id
        info["status"]["startup_time"] = ari_timestamp(self._started_at)
        info["status"]["last_reload_time"] = ari_timestamp(self._started_at)
        if "only" in q:
            info = {k: v for k, v in info.items() if k in q["only"].split(",")}
        return 200, info

    async def _op_ping(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        return 200, {"asterisk_id": self.asterisk_id, "ping": "pong", "timestamp": ari_timestamp()}

    async def _op_apps_list(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        return 200, [self._app_json(a) for a in sorted(self.registered_apps)]

    async def _op_app_get(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        name = pp["applicationName"]
        if name not in self.registered_apps:
            raise _Reply(404, "Application not found")
        return 200, self._app_json(name)

    async def _op_channels_list(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        return 200, [self.channel_json(c) for c in self.channels.values() if not c.gone]

    async def _op_channel_get(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        return 200, self.channel_json(self._channel(pp["channelId"]))

    async def _op_answer(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        ch = self._stasis_channel(pp["channelId"])
        if ch.state != "Up":
            ch.state = "Up"
            self._emit_channel(ch, "ChannelStateChange")
        return 204, None

    async def _op_hangup(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        ch = self._channel(pp["channelId"])
        if "reason" in q and "reason_code" in q:
            raise _Reply(400, "The reason and reason_code parameters are mutually exclusive")
        cause = HANGUP_REASON_CAUSES.get(q.get("reason", "normal"), 16)
        if "reason_code" in q:
            try:
                cause = int(q["reason_code"])
            except ValueError:
                raise _Reply(400, "Invalid reason_code") from None
        self._hangup(
            ch, cause=SOFT_HANGUP_EXPLICIT, soft=True, destroy_cause=16 if ch.kind == "unicast" else cause
        )
        return 204, None

    async def _op_continue(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        ch = self._stasis_channel(pp["channelId"])
        context = q.get("context") or str(ch.dialplan.get("context", "default"))
        exten = q.get("extension") or str(ch.dialplan.get("exten", "s"))
        if "priority" in q:
            priority = int(q["priority"])
        elif "context" in q or "extension" in q or "label" in q:
            priority = 1
        else:  # nothing given: the next priority of where the channel is
            priority = int(ch.dialplan.get("priority", 1)) + 1
        if ch.bridge is not None:
            self._leave_bridge(ch)
        for pb in [p for p in self.playbacks.values() if p.target == f"channel:{ch.id}"]:
            self._finish_playback(pb, "done")
        ch.continued_to = (context, exten, priority)
        self._emit_channel(ch, "StasisEnd")
        ch.app = None
        ch.subscribed = None
        ch.dialplan.update({"context": context, "exten": exten, "priority": priority})
        self._changed()
        return 204, None

    async def _op_moh_start(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        ch = self._stasis_channel(pp["channelId"])
        ch.moh = q.get("mohClass", "default")
        self._changed()
        return 204, None

    async def _op_moh_stop(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        ch = self._stasis_channel(pp["channelId"])
        ch.moh = None
        self._changed()
        return 204, None

    async def _op_play(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        ch = self._stasis_channel(pp["channelId"])
        media = q["media"]
        for item in media.split(","):
            if not item.startswith(MEDIA_SCHEMES):
                raise _Reply(400, f"Invalid media URI: {item}")
        pb_id = pp.get("playbackId") or q.get("playbackId") or str(uuid.uuid4())
        if pb_id in self.playbacks:
            raise _Reply(409, "Playback with this id already exists")
        pb = SPlayback(pb_id, media.split(",")[0], f"channel:{ch.id}", q.get("lang", ch.language))
        self.playbacks[pb_id] = pb
        payload = self.playback_json(pb)
        pb.task = self._spawn(self._run_playback(pb, self._media_duration(media)), f"playback:{pb_id}")
        return 201, payload

    async def _op_getvar(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        ch = self._channel(pp["channelId"])
        name = q["variable"]
        if name not in ch.vars:
            raise _Reply(404, "Provided variable was not found")
        return 200, {"value": ch.vars[name]}

    async def _op_setvar(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        ch = self._channel(pp["channelId"])
        self._setvar(ch, q["variable"], q.get("value", ""))
        return 204, None

    async def _op_rtpstats(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        ch = self._channel(pp["channelId"])
        leg = ch.leg
        if leg is None and ch.bridge in self.bridges:
            for other in self.bridges[ch.bridge or ""].channels:
                o = self.channels.get(other)
                if o is not None and o.leg is not None:
                    leg = o.leg
        tx = len(leg.captured) if leg else 0
        rx = leg._sent_count if leg else 0
        return 200, {
            "txcount": tx,
            "rxcount": rx,
            "txploss": 0,
            "rxploss": 0,
            "local_ssrc": leg.ssrc if leg else 0,
            "remote_ssrc": leg.captured[0].ssrc if leg and leg.captured else 0,
            "txoctetcount": 160 * tx,
            "rxoctetcount": 160 * rx,
            "channel_uniqueid": ch.id,
        }

    async def _op_external_media(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        app = q["app"]
        encapsulation = q.get("encapsulation", "rtp")
        transport = q.get("transport", "udp")
        fmt = q["format"]
        if (encapsulation, transport) not in {("rtp", "udp"), ("audiosocket", "tcp"), ("none", "websocket")}:
            raise _Reply(400, f"encapsulation {encapsulation} does not go with transport {transport}")
        if transport != "udp":
            raise _Reply(501, "the stand-in implements externalMedia over RTP/UDP only")
        if fmt not in KNOWN_FORMATS:
            raise _Reply(400, f"Format {fmt!r} is not valid")
        external_host = q.get("external_host", "")
        host, sep, port_s = external_host.rpartition(":")
        if not sep or not host or not port_s.isdigit() or not 0 < int(port_s) < 65536:
            raise _Reply(400, "external_host is required for RTP and must be host:port")
        channel_id = q.get("channelId") or self._new_uniqueid()[0]
        if channel_id in self.channels:
            raise _Reply(409, "Channel with given unique ID already exists")
        leg = RtpLeg((host, int(port_s)), self.rtp_source, random.Random(self.rng.getrandbits(64)))
        local_port = await leg.open(self.rtp_host, 0)
        ch = SChannel(
            id=channel_id,
            name=f"UnicastRTP/{external_host}-0x{self.rng.getrandbits(48):012x}",
            kind="unicast",
            state="Down",
            caller={"name": "", "number": ""},
            dialplan={
                "context": "default",
                "exten": "s",
                "priority": 1,
                "app_name": "AppDial2",
                "app_data": "(Outgoing Line)",
            },
            subscribed=app,
            after_stasis="destroy",
            leg=leg,
        )
        ch.response_vars = {
            "UNICASTRTP_LOCAL_PORT": str(local_port),
            "UNICASTRTP_LOCAL_ADDRESS": self.rtp_host,
        }
        ch.vars.update(ch.response_vars)
        ch.vars.update(_body_variables(body))
        self.channels[channel_id] = ch
        payload = self.channel_json(ch, with_vars=True)
        self._spawn(
            self._external_media_enters_stasis(ch, app, f"{external_host}/c({fmt})"),
            f"em-stasis:{channel_id}",
        )
        return 200, payload

    async def _op_originate(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        endpoint = q.get("endpoint") or (body or {}).get("endpoint", "")
        tech, sep, resource = endpoint.partition("/")
        if not sep or not tech or not resource:
            raise _Reply(400, "Endpoint must be in the form technology/resource")
        app = q.get("app")
        if not app and not q.get("extension"):
            raise _Reply(400, "Application or extension must be specified")
        channel_id = pp.get("channelId") or q.get("channelId") or self._new_uniqueid()[0]
        if channel_id in self.channels:
            raise _Reply(409, "Channel with given unique ID already exists")
        n = next(self._counter)
        caller_id = q.get("callerId", "")
        name, number = "", caller_id
        if "<" in caller_id and caller_id.endswith(">"):
            name, _, number = caller_id[:-1].partition("<")
            name = name.strip().strip('"')
        ch = SChannel(
            id=channel_id,
            name=f"{tech}/{resource.split('@')[0]}-{n:08x}",
            kind="outbound",
            state="Down",
            caller={"name": name, "number": number},
            dialplan=(
                {"context": "default", "exten": "s", "priority": 1, "app_name": "Stasis", "app_data": app}
                if app
                else {
                    "context": q.get("context", "default"),
                    "exten": q.get("extension", "s"),
                    "priority": int(q.get("priority", "1")),
                    "app_name": "",
                    "app_data": "",
                }
            ),
            protocol_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            subscribed=app,
            after_stasis="destroy",
            stasis_args=tuple(a for a in q.get("appArgs", "").split(",") if a) if q.get("appArgs") else (),
            originate_timeout_s=float(q.get("timeout", "30")),
        )
        ch.vars.update(_body_variables(body))
        self.channels[channel_id] = ch
        behaviour = self.endpoint_behaviour.get(endpoint, self.default_endpoint_behaviour)
        self._spawn(self._originate_progress(ch, endpoint, behaviour), f"originate:{channel_id}")
        return 200, self.channel_json(ch)

    async def _op_bridges_list(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        return 200, [self.bridge_json(b) for b in self.bridges.values()]

    async def _op_bridge_create(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        bridge_type = q.get("type", "mixing")
        if not set(bridge_type.split(",")) <= BRIDGE_TYPES:
            raise _Reply(400, f"Invalid bridge type {bridge_type!r}")
        bridge_id = (
            pp.get("bridgeId")
            or q.get("bridgeId")
            or str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        )
        if bridge_id in self.bridges:
            raise _Reply(409, "Bridge with this id already exists")
        b = SBridge(bridge_id, q.get("name", ""), bridge_type)
        self.bridges[bridge_id] = b  # no BridgeCreated event for a bridge made over REST (records)
        self._changed()
        return 200, self.bridge_json(b)

    async def _op_bridge_get(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        return 200, self.bridge_json(self._bridge(pp["bridgeId"]))

    async def _op_bridge_destroy(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        b = self._bridge(pp["bridgeId"])
        for cid in list(b.channels):
            ch = self.channels.get(cid)
            if ch is not None:
                self._leave_bridge(ch)
        del self.bridges[b.id]
        for app in sorted(b.apps):
            self._emit(app, "BridgeDestroyed", {"bridge": self.bridge_json(b)})
        self._changed()
        return 204, None

    def _control_list(self, q: dict[str, str]) -> list[SChannel]:
        out = []
        for cid in q["channel"].split(","):
            ch = self.channels.get(cid)
            if ch is None or ch.gone:
                raise _Reply(400, "Channel not found")
            if ch.app is None:
                raise _Reply(422, "Channel not in Stasis application")
            out.append(ch)
        return out

    async def _op_add_channel(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        b = self._bridge(pp["bridgeId"])
        chans = self._control_list(q)
        for ch in chans:
            self._enter_bridge(b, ch)
        self._bridge_peers(b)
        self._refresh_media(b)
        return 204, None

    async def _op_remove_channel(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        b = self._bridge(pp["bridgeId"])
        chans = self._control_list(q)
        for ch in chans:
            if ch.bridge != b.id:
                raise _Reply(422, "Channel not in this bridge")
        for ch in chans:
            self._leave_bridge(ch)
        return 204, None

    async def _op_playback_get(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        pb = self.playbacks.get(pp["playbackId"])
        if pb is None:
            raise _Reply(404, "Playback not found")
        return 200, self.playback_json(pb)

    async def _op_playback_stop(
        self, op: Operation, pp: dict[str, str], q: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        pb = self.playbacks.get(pp["playbackId"])
        if pb is None:
            raise _Reply(404, "Playback not found")
        self._finish_playback(pb, "done")
        return 204, None

    # =============================================================================================
    # HTTP control endpoints (demo and manual testing; not part of ARI)

    async def _ctl_place_call(self, request: web.Request) -> web.Response:
        data = await request.json() if request.can_read_body else {}
        allowed = {"caller_number", "caller_name", "did", "args", "context", "endpoint", "app", "language"}
        unknown = set(data) - allowed
        if unknown:
            return web.json_response({"message": f"unknown fields {sorted(unknown)}"}, status=400)
        channel_id = self.place_call(**data)
        return web.json_response({"channel_id": channel_id, "rejected": channel_id in self.rejected_calls})

    async def _ctl_dtmf(self, request: web.Request) -> web.Response:
        cid = request.match_info["channel_id"]
        if cid not in self.channels:
            return web.json_response({"message": "Channel not found"}, status=404)
        self.send_dtmf(cid, request.query.get("digits", ""), int(request.query.get("duration_ms", "200")))
        return web.Response(status=204)

    async def _ctl_hangup(self, request: web.Request) -> web.Response:
        cid = request.match_info["channel_id"]
        if cid not in self.channels:
            return web.json_response({"message": "Channel not found"}, status=404)
        self.hangup_caller(cid)
        return web.Response(status=204)

    async def _ctl_drop(self, request: web.Request) -> web.Response:
        return web.json_response({"dropped": await self.drop_websockets(request.query.get("app"))})

    async def _ctl_fail(self, request: web.Request) -> web.Response:
        try:
            self.fail_next(
                request.query["op"],
                int(request.query.get("status", "500")),
                int(request.query.get("count", "1")),
            )
        except (KeyError, ValueError) as exc:
            return web.json_response({"message": str(exc)}, status=400)
        return web.Response(status=204)

    async def _ctl_requests(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {"method": r.method, "path": r.path, "query": r.query, "status": r.status, "op": r.op}
                for r in self.request_log
            ]
        )

    async def _ctl_events(self, request: web.Request) -> web.Response:
        return web.json_response(
            [{"app": e.app, "delivered": e.delivered, "event": e.event} for e in self.event_log]
        )

    async def _ctl_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "channels": [
                    self.channel_json(c)
                    | {"kind": c.kind, "in_stasis": c.app is not None, "bridge": c.bridge}
                    for c in self.live_channels()
                ],
                "bridges": [self.bridge_json(b) for b in self.bridges.values()],
                "apps_connected": sorted(a for a in self._conns if self.app_connected(a)),
            }
        )


def _body_variables(body: Any) -> dict[str, str]:
    """``{"variables": {name: value | {"value": value}}}`` of a create request, as plain strings."""
    raw = body.get("variables") if isinstance(body, Mapping) else None
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): str(v["value"] if isinstance(v, Mapping) else v) for k, v in raw.items()}
