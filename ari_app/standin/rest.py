"""The stand-in's REST side: every ``/ari/…`` request is authenticated, validated against Asterisk's
API description and answered as Asterisk 22 answers it; plus the ``/_standin`` control endpoints.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import uuid
from typing import Any

from aiohttp import web

from ari_app.standin.apispec import Operation, SpecError
from ari_app.standin.channels import StandinChannels
from ari_app.standin.model import (
    ASTERISK_INFO,
    BRIDGE_TYPES,
    HANGUP_REASON_CAUSES,
    KNOWN_FORMATS,
    MEDIA_SCHEMES,
    SOFT_HANGUP_EXPLICIT,
    SBridge,
    SChannel,
    SPlayback,
    _body_variables,
    _Reply,
    ari_timestamp,
)
from ari_app.standin.rtp import RtpLeg

log = logging.getLogger("ari_app.standin")


class StandinRest(StandinChannels):
    """The REST side: authentication, validation against the API description, the operations, and
    the ``/_standin`` control endpoints."""

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
        self._to_dialplan(ch, context, exten, priority)
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
        name, value = q["variable"], q.get("value", "")
        if name.endswith(")"):
            # a dialplan function (pbx_builtin_setvar_helper hands it to ast_func_write): no
            # ChannelVarset event; TIMEOUT(absolute) is the one the stand-in acts on
            self._write_function(ch, name, value)
        else:
            self._setvar(ch, name, value)
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

    def clear_failures(self) -> None:
        """Forget every failure :meth:`fail_next` queued."""
        self._fail_next.clear()

    def fail_next(
        self, op: str, status: int = 500, count: int = 1, message: str = "Internal Server Error"
    ) -> None:
        """Make the next ``count`` requests of operation ``op`` (e.g. ``channels.answer``) fail."""
        if op not in self.spec.by_key:
            raise KeyError(f"unknown ARI operation {op!r}")
        self._fail_next.setdefault(op, []).extend([(status, message)] * count)
