"""The signalling protocol between the call page and the service, as pure functions on JSON text.

Browser → service: ``offer`` {sdp}, ``ice`` {candidate, sdpMid, sdpMLineIndex}, ``dtmf`` {digits},
``mute`` {muted}, ``hangup``. Service → browser: ``answer`` {sdp}, ``transcript`` {role, text},
``state`` {state, reason}, ``error`` {code, message}. Every refusal has a stable ``code`` (the page
maps it to words) and a ``message`` a person can read; nothing here raises anything but
:class:`SignallingError`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_CHARS = 64_000  # an SDP offer with all candidates is a few kB
KEYPAD = frozenset("0123456789*#")
_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([A-Za-z0-9_.-]+)/(\d+)", re.MULTILINE)
AUDIO_CODECS = frozenset({"opus", "pcmu", "pcma"})

# WebSocket close codes (4000-4999 are the application's own)
CLOSE_NORMAL = 1000
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_BUSY = 4429
CLOSE_TIMEOUT = 4408


class SignallingError(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Offer:
    sdp: str


@dataclass(frozen=True)
class Ice:
    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True)
class Keys:
    digits: str


@dataclass(frozen=True)
class Mute:
    muted: bool


@dataclass(frozen=True)
class Hangup:
    pass


Message = Offer | Ice | Keys | Mute | Hangup


def check_offer_sdp(sdp: str) -> None:
    """Refuse an offer we could never answer before handing it to the WebRTC stack."""
    if not sdp.startswith("v=0"):
        raise SignallingError("bad_sdp", "the offer is not an SDP session description")
    if "\nm=audio " not in sdp.replace("\r\n", "\n"):
        raise SignallingError("bad_sdp", "the offer has no audio: allow the microphone and call again")
    names = {m.group(2).lower() for m in _RTPMAP.finditer(sdp.replace("\r\n", "\n"))}
    if names and not names & AUDIO_CODECS:
        raise SignallingError("bad_sdp", "the offer has no audio codec we speak (Opus, PCMU or PCMA)")


def parse_message(text: str | bytes) -> Message:
    if isinstance(text, bytes):
        raise SignallingError("bad_message", "binary frames are not part of the protocol")
    if len(text) > MAX_MESSAGE_CHARS:
        raise SignallingError("bad_message", "message too large")
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise SignallingError("bad_message", "messages must be JSON objects") from None
    if not isinstance(data, dict):
        raise SignallingError("bad_message", "messages must be JSON objects")
    kind = data.get("type")
    if kind == "offer":
        sdp = data.get("sdp")
        if not isinstance(sdp, str) or not sdp:
            raise SignallingError("bad_sdp", "the offer has no SDP")
        check_offer_sdp(sdp)
        return Offer(sdp)
    if kind == "ice":
        cand = data.get("candidate")
        if cand is None or cand == "":
            return Ice("", None, None)  # end of candidates
        if not isinstance(cand, str) or len(cand) > 1000:
            raise SignallingError("bad_message", "an ICE candidate must be a string")
        mid = data.get("sdpMid")
        idx = data.get("sdpMLineIndex")
        return Ice(
            cand.removeprefix("a=").removeprefix("candidate:"),
            mid if isinstance(mid, str) else None,
            idx if isinstance(idx, int) and not isinstance(idx, bool) else None,
        )
    if kind == "dtmf":
        digits = data.get("digits")
        if not isinstance(digits, str) or not digits or len(digits) > 32 or set(digits) - KEYPAD:
            raise SignallingError("bad_message", "keypad digits are 0-9, * and #")
        return Keys(digits)
    if kind == "mute":
        return Mute(bool(data.get("muted")))
    if kind == "hangup":
        return Hangup()
    raise SignallingError("bad_message", f"unknown message type {str(kind)[:32]!r}")


def answer_codec(sdp: str) -> str:
    """The codec the answer chose for audio (the first payload of its m=audio line), lower case."""
    lines = sdp.replace("\r\n", "\n").split("\n")
    first: str | None = None
    for line in lines:
        if line.startswith("m=audio "):
            fields = line.split()
            first = fields[3] if len(fields) > 3 else None
            break
    for m in _RTPMAP.finditer("\n".join(lines)):
        if m.group(1) == first:
            return m.group(2).lower()
    return "pcmu"


def encode(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields})


def error(code: str, message: str) -> str:
    return encode("error", code=code, message=message)
