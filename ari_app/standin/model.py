"""What the stand-in's channels, bridges and playbacks are, and the Asterisk 22 constants they
use (causes, formats, the RTPAUDIOQOS* values), as the records in ``../shared/asterisk`` show.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ari_app.standin.rtp import RtpLeg

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
    absolute_timeout: asyncio.Task[None] | None = None  # TIMEOUT(absolute) pending
    vanished: bool = False  # the far end stopped sending RTP and never sent a BYE


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


def _body_variables(body: Any) -> dict[str, str]:
    """``{"variables": {name: value | {"value": value}}}`` of a create request, as plain strings."""
    raw = body.get("variables") if isinstance(body, Mapping) else None
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): str(v["value"] if isinstance(v, Mapping) else v) for k, v in raw.items()}
