"""The stand-in's channels: a call entering Stasis, key presses, hang-ups from either side, bridges,
externalMedia and originated legs, with the event sequences of the records.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from ari_app.standin.media import StandinMedia
from ari_app.standin.model import (
    CAUSE_TEXT,
    QOS_JITTER,
    QOS_LOSS,
    QOS_MES,
    QOS_RTT,
    EndpointBehaviour,
    SBridge,
    SChannel,
)

log = logging.getLogger("ari_app.standin")


class StandinChannels(StandinMedia):
    """Channel behaviour: calls arriving, keys, hang-ups, bridges, originated legs."""

    # =============================================================================================
    # control: what a test (or the demo) does to the "phone network"

    def _new_uniqueid(self) -> tuple[str, int]:
        n = next(self._counter)
        return f"{self._epoch}.{n}", n

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

    def vanish_caller(self, channel_id: str) -> None:
        """The far end dies without a BYE (``kill -9`` of the phone): its RTP stops, the channel
        stays up, and no event says so (an endpoint without ``rtp_timeout``)."""
        ch = self.channels[channel_id]
        ch.vanished = True
        if ch.bridge in self.bridges:
            self._refresh_media(self.bridges[ch.bridge or ""])

    def hangup_caller(self, channel_id: str) -> None:
        """The far end hangs up (SIP BYE)."""
        ch = self.channels.get(channel_id)
        if ch is None or ch.gone:
            return
        self._hangup(ch, cause=None, soft=None, destroy_cause=16)

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
        self._cancel_absolute_timeout(ch)
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

    def _to_dialplan(self, ch: SChannel, context: str, exten: str, priority: int) -> None:
        """The channel leaves Stasis for ``context,exten,priority`` (continueInDialplan, or the
        ``T`` extension when its absolute timeout fires). Asterisk does not check the target
        first: a context or extension that does not exist gets the channel hung up by the PBX
        ("sent to invalid extension but no invalid handler"), after StasisEnd, so the app hears
        nothing more of it. A pending TIMEOUT(absolute) stays on the channel (it is the channel's,
        not Stasis'), so whoever continues a channel must clear it first."""
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
        contexts = self.dialplan_contexts
        if contexts is not None and context not in contexts:
            log.info(
                "stand-in: %s sent to invalid extension %s,%s,%d; hanging it up",
                ch.id,
                context,
                exten,
                priority,
            )
            self._spawn(self._pbx_hangup(ch), f"invalid-exten:{ch.id}")

    async def _pbx_hangup(self, ch: SChannel) -> None:
        await asyncio.sleep(0.005)
        if not ch.gone:
            self._hangup(ch, cause=None, soft=None, destroy_cause=16)

    def _write_function(self, ch: SChannel, name: str, value: str) -> None:
        ch.vars[name] = value
        if name.upper() != "TIMEOUT(ABSOLUTE)":
            return
        self._cancel_absolute_timeout(ch)
        try:
            seconds = float(value or "0")
        except ValueError:
            return
        if seconds > 0:  # 0 cancels, as for AbsoluteTimeout()
            ch.absolute_timeout = self._spawn(self._absolute_timeout(ch, seconds), f"timeout:{ch.id}")

    def _cancel_absolute_timeout(self, ch: SChannel) -> None:
        task = ch.absolute_timeout
        ch.absolute_timeout = None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _absolute_timeout(self, ch: SChannel, seconds: float) -> None:
        """TIMEOUT(absolute) fired: a channel in Stasis leaves it (StasisEnd) and the PBX goes on
        at the ``T`` extension of its context; an externalMedia channel (no dialplan) is destroyed;
        a channel elsewhere in the dialplan is hung up when its context has no ``T``."""
        await asyncio.sleep(seconds)
        ch.absolute_timeout = None
        if ch.gone:
            return
        log.info("stand-in: absolute timeout on %s", ch.id)
        if ch.after_stasis == "destroy":
            self._hangup(ch, cause=None, soft=None, destroy_cause=16)
            return
        context = str(ch.dialplan.get("context", "default"))
        t_contexts = self.timeout_extension_contexts
        if ch.app is not None and (t_contexts is None or context in t_contexts):
            self._to_dialplan(ch, context, "T", 1)
        else:
            self._hangup(ch, cause=None, soft=None, destroy_cause=16)

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
