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
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from ari_app.standin.apispec import ApiSpec, Operation
from ari_app.standin.model import (
    EmittedEvent,
    EndpointBehaviour,
    RequestRecord,
    SBridge,
    SChannel,
    SPlayback,
    _Conn,
)
from ari_app.standin.rest import StandinRest
from ari_app.standin.rtp import load_ulaw_source

log = logging.getLogger("ari_app.standin")

__all__ = ["AsteriskStandin", "EmittedEvent", "RequestRecord"]


class AsteriskStandin(StandinRest):
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
        # the dialplan, as far as it matters here: contexts that exist (None: any), and contexts
        # with a ``T`` extension for TIMEOUT(absolute) (None: every context has one)
        self.dialplan_contexts: set[str] | None = None
        self.timeout_extension_contexts: set[str] | None = None

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

    def set_endpoint_behaviour(self, endpoint: str, kind: str = "answer", delay_s: float = 0.05) -> None:
        if kind not in ("answer", "busy", "noanswer", "congestion"):
            raise ValueError(f"unknown endpoint behaviour {kind!r}")
        self.endpoint_behaviour[endpoint] = EndpointBehaviour(kind, delay_s)

    def set_sound_duration(self, media: str, seconds: float) -> None:
        self.sound_durations[media.split(":", 1)[-1]] = seconds

    # queries for tests ---------------------------------------------------------------------------

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

    def requests(self, op: str | None = None) -> list[RequestRecord]:
        return [r for r in self.request_log if op is None or r.op == op]

    def clear_logs(self) -> None:
        self.request_log.clear()
        self.event_log.clear()
