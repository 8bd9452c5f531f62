"""ARI WebSocket events as typed values, and the pure decoder ``decode_event(text) -> Event``.

No I/O here: text in, a typed event out, or :class:`AriEventDecodeError` for a frame that is not a
valid event (not JSON, not an object, no ``type``, a required field missing or of the wrong type).
An event type we have no model for decodes into :class:`UnknownEvent` (kept raw): the consumer logs
and ignores it, it is never fatal. Field names follow ``api-docs/events.json`` and the records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ari_app.ari.errors import AriEventDecodeError
from ari_app.ari.models import Bridge, Channel, Playback


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    type: str
    application: str = ""
    timestamp: str = ""
    asterisk_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent(Event):
    """An event about one channel (``channel`` is required for these types)."""

    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisStart(ChannelEvent):
    args: tuple[str, ...] = ()
    replace_channel: Channel | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisEnd(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCreated(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStateChange(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelConnectedLine(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDialplan(ChannelEvent):
    dialplan_app: str = ""
    dialplan_app_data: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCallerId(ChannelEvent):
    caller_presentation: int = 0
    caller_presentation_txt: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDtmfReceived(ChannelEvent):
    digit: str
    duration_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHangupRequest(ChannelEvent):
    cause: int | None = None  # absent when the caller hung up; 32 (soft hang-up flag) on our DELETE
    soft: bool | None = None
    tech_cause: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDestroyed(ChannelEvent):
    cause: int
    cause_txt: str
    tech_cause: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHold(ChannelEvent):
    musicclass: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelUnhold(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelVarset(Event):
    variable: str
    value: str
    channel: Channel | None = None  # absent for a global variable


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEnteredBridge(Event):
    bridge: Bridge
    channel: Channel | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelLeftBridge(Event):
    bridge: Bridge
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class Dial(Event):
    peer: Channel
    dialstatus: str
    caller: Channel | None = None
    forward: str = ""
    forwarded: Channel | None = None
    dialstring: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackEvent(Event):
    playback: Playback


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackStarted(PlaybackEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackContinuing(PlaybackEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackFinished(PlaybackEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeEvent(Event):
    bridge: Bridge


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeCreated(BridgeEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeDestroyed(BridgeEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationReplaced(Event):
    """Another WebSocket client took our application over; we must not fight it for the app."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(Event):
    """An event type this client has no model for: logged and ignored."""

    raw: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------
# Decoding


def _opt_channel(d: Mapping[str, Any], key: str) -> Channel | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"{key} must be an object")
    return Channel.from_json(value)


def _channel(d: Mapping[str, Any], key: str = "channel") -> Channel:
    value = d[key]
    if not isinstance(value, Mapping):
        raise TypeError(f"{key} must be an object")
    return Channel.from_json(value)


def _bridge(d: Mapping[str, Any]) -> Bridge:
    value = d["bridge"]
    if not isinstance(value, Mapping):
        raise TypeError("bridge must be an object")
    return Bridge.from_json(value)


def _playback(d: Mapping[str, Any]) -> Playback:
    value = d["playback"]
    if not isinstance(value, Mapping):
        raise TypeError("playback must be an object")
    return Playback.from_json(value)


def _opt_int(d: Mapping[str, Any], key: str) -> int | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} must be an integer")
    return value


def _req_int(d: Mapping[str, Any], key: str) -> int:
    value = _opt_int(d, key)
    if value is None:
        raise KeyError(key)
    return value


def _req_str(d: Mapping[str, Any], key: str) -> str:
    value = d[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value


def _opt_str(d: Mapping[str, Any], key: str) -> str:
    value = d.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value


def _base(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": d["type"],
        "application": _opt_str(d, "application"),
        "timestamp": _opt_str(d, "timestamp"),
        "asterisk_id": _opt_str(d, "asterisk_id"),
    }


def _args(d: Mapping[str, Any]) -> tuple[str, ...]:
    value = d["args"]
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise TypeError("args must be a list of strings")
    return tuple(value)


DTMF_DIGITS = frozenset("0123456789*#ABCD")


def _dtmf_digit(d: Mapping[str, Any]) -> str:
    """One keypad key. ``api-docs/events.json`` says "0-9, A-E, # or *" and the records show one
    character per event; anything else ("99", "", "E" = flash) never reaches a menu."""
    value = _req_str(d, "digit")
    if value not in DTMF_DIGITS:
        raise ValueError(f"digit {value[:10]!r} is not one DTMF key (0-9, *, #, A-D)")
    return value


def _soft(d: Mapping[str, Any]) -> bool | None:
    value = d.get("soft")
    if value is None:
        return None
    if not isinstance(value, bool):
        raise TypeError("soft must be a boolean")
    return value


_Decoder = Callable[[Mapping[str, Any]], Event]

_DECODERS: dict[str, _Decoder] = {
    "StasisStart": lambda d: StasisStart(
        **_base(d), channel=_channel(d), args=_args(d), replace_channel=_opt_channel(d, "replace_channel")
    ),
    "StasisEnd": lambda d: StasisEnd(**_base(d), channel=_channel(d)),
    "ChannelCreated": lambda d: ChannelCreated(**_base(d), channel=_channel(d)),
    "ChannelStateChange": lambda d: ChannelStateChange(**_base(d), channel=_channel(d)),
    "ChannelConnectedLine": lambda d: ChannelConnectedLine(**_base(d), channel=_channel(d)),
    "ChannelDialplan": lambda d: ChannelDialplan(
        **_base(d),
        channel=_channel(d),
        dialplan_app=_opt_str(d, "dialplan_app"),
        dialplan_app_data=_opt_str(d, "dialplan_app_data"),
    ),
    "ChannelCallerId": lambda d: ChannelCallerId(
        **_base(d),
        channel=_channel(d),
        caller_presentation=_opt_int(d, "caller_presentation") or 0,
        caller_presentation_txt=_opt_str(d, "caller_presentation_txt"),
    ),
    "ChannelDtmfReceived": lambda d: ChannelDtmfReceived(
        **_base(d), channel=_channel(d), digit=_dtmf_digit(d), duration_ms=_req_int(d, "duration_ms")
    ),
    "ChannelHangupRequest": lambda d: ChannelHangupRequest(
        **_base(d),
        channel=_channel(d),
        cause=_opt_int(d, "cause"),
        soft=_soft(d),
        tech_cause=_opt_int(d, "tech_cause"),
    ),
    "ChannelDestroyed": lambda d: ChannelDestroyed(
        **_base(d),
        channel=_channel(d),
        cause=_req_int(d, "cause"),
        cause_txt=_req_str(d, "cause_txt"),
        tech_cause=_opt_int(d, "tech_cause"),
    ),
    "ChannelHold": lambda d: ChannelHold(
        **_base(d), channel=_channel(d), musicclass=_opt_str(d, "musicclass")
    ),
    "ChannelUnhold": lambda d: ChannelUnhold(**_base(d), channel=_channel(d)),
    "ChannelVarset": lambda d: ChannelVarset(
        **_base(d),
        variable=_req_str(d, "variable"),
        value=_req_str(d, "value"),
        channel=_opt_channel(d, "channel"),
    ),
    "ChannelEnteredBridge": lambda d: ChannelEnteredBridge(
        **_base(d), bridge=_bridge(d), channel=_opt_channel(d, "channel")
    ),
    "ChannelLeftBridge": lambda d: ChannelLeftBridge(**_base(d), bridge=_bridge(d), channel=_channel(d)),
    "Dial": lambda d: Dial(
        **_base(d),
        peer=_channel(d, "peer"),
        dialstatus=_req_str(d, "dialstatus"),
        caller=_opt_channel(d, "caller"),
        forward=_opt_str(d, "forward"),
        forwarded=_opt_channel(d, "forwarded"),
        dialstring=_opt_str(d, "dialstring"),
    ),
    "PlaybackStarted": lambda d: PlaybackStarted(**_base(d), playback=_playback(d)),
    "PlaybackContinuing": lambda d: PlaybackContinuing(**_base(d), playback=_playback(d)),
    "PlaybackFinished": lambda d: PlaybackFinished(**_base(d), playback=_playback(d)),
    "BridgeCreated": lambda d: BridgeCreated(**_base(d), bridge=_bridge(d)),
    "BridgeDestroyed": lambda d: BridgeDestroyed(**_base(d), bridge=_bridge(d)),
    "ApplicationReplaced": lambda d: ApplicationReplaced(**_base(d)),
}

KNOWN_EVENT_TYPES: frozenset[str] = frozenset(_DECODERS)


def decode_event_object(data: Any) -> Event:
    """Decode an already-parsed JSON value (see :func:`decode_event`)."""
    if not isinstance(data, Mapping):
        raise AriEventDecodeError(f"event is a JSON {type(data).__name__}, not an object", repr(data))
    type_ = data.get("type")
    if not isinstance(type_, str) or not type_:
        raise AriEventDecodeError("event has no 'type'", json.dumps(data)[:200])
    decoder = _DECODERS.get(type_)
    if decoder is None:
        return UnknownEvent(**_base(data), raw=dict(data))
    try:
        return decoder(data)
    except KeyError as exc:
        raise AriEventDecodeError(
            f"{type_} event lacks required field {exc}", json.dumps(data)[:200]
        ) from None
    except (TypeError, ValueError) as exc:
        raise AriEventDecodeError(f"{type_} event has a bad field: {exc}", json.dumps(data)[:200]) from None


MAX_FRAME_BYTES = 256 * 1024
"""Largest event frame decoded. Real ARI events are a few KB (a ``StasisStart`` with channel variables
about 1.5 KB in the records); a bigger frame is refused before any parsing work is done."""
MAX_DEPTH = 32
"""Deepest nesting of arrays/objects accepted. ARI events nest about 4 deep (event → channel →
caller / dialplan); the cap keeps ``json.loads`` far from Python's recursion limit."""


def _too_deep(text: str, limit: int) -> bool:
    """Nesting depth above ``limit``, counted outside strings, in one linear pass (no recursion)."""
    depth = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def _snippet(text: str | bytes) -> str:
    return text[:200] if isinstance(text, str) else text[:200].decode("utf-8", "replace")


def decode_event(text: str | bytes, *, max_bytes: int = MAX_FRAME_BYTES, max_depth: int = MAX_DEPTH) -> Event:
    """Decode one WebSocket text frame into a typed event; raises :class:`AriEventDecodeError`.

    Whatever the frame holds (not JSON, too big, nested thousands deep, a field of a strange type),
    the only exception that leaves is :class:`AriEventDecodeError`: one bad frame is the peer's
    fault and must cost the service nothing but a log line.
    """
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise AriEventDecodeError(f"event frame of {size} bytes is over the {max_bytes}-byte limit", _snippet(text))
    try:
        as_text = text if isinstance(text, str) else text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AriEventDecodeError(f"event is not UTF-8: {exc}", _snippet(text)) from None
    if as_text.count("[") + as_text.count("{") > max_depth and _too_deep(as_text, max_depth):
        raise AriEventDecodeError(f"event nests deeper than {max_depth} levels", _snippet(text))
    try:
        data = json.loads(as_text)
    except (ValueError, RecursionError) as exc:
        raise AriEventDecodeError(f"event is not JSON: {type(exc).__name__}: {exc}"[:300], _snippet(text)) from None
    try:
        return decode_event_object(data)
    except AriEventDecodeError:
        raise
    except Exception as exc:  # any other surprise in a field is still one bad frame
        raise AriEventDecodeError(f"event does not decode: {type(exc).__name__}: {exc}"[:300], _snippet(text)) from None


def event_channel_id(event: Event) -> str | None:
    """The id of the channel an event is about, where it has one (``peer`` for Dial)."""
    if isinstance(event, ChannelEvent):
        return event.channel.id
    if isinstance(event, ChannelVarset | ChannelEnteredBridge) and event.channel is not None:
        return event.channel.id
    if isinstance(event, ChannelLeftBridge):
        return event.channel.id
    if isinstance(event, Dial):
        return event.peer.id
    return None
