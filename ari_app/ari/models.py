"""Typed ARI resources (Channel, Bridge, Playback, ...), decoded from Asterisk's JSON.

Field names are those of Asterisk's API description (``api-docs/*.json`` models) and of the recorded
traffic in ``../shared/asterisk/records``. Decoding is tolerant of fields we do not know (Asterisk
adds fields between versions) and strict about the required ones: a missing required field raises
:class:`KeyError`/``TypeError``, which the callers turn into a typed error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _str(d: Mapping[str, Any], key: str, default: str | None = None) -> str:
    if key not in d:
        if default is None:
            raise KeyError(key)
        return default
    value = d[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string, got {type(value).__name__}")
    return value


def _int(d: Mapping[str, Any], key: str, default: int | None = None) -> int:
    if key not in d:
        if default is None:
            raise KeyError(key)
        return default
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} must be an integer, got {type(value).__name__}")
    return value


def _obj(d: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = d[key]
    if not isinstance(value, Mapping):
        raise TypeError(f"{key} must be an object, got {type(value).__name__}")
    return value


def _str_list(d: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = d.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{key} must be a list of strings")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class CallerID:
    name: str = ""
    number: str = ""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CallerID:
        return cls(name=_str(d, "name", ""), number=_str(d, "number", ""))


@dataclass(frozen=True, slots=True)
class DialplanCEP:
    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""
    app_data: str = ""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> DialplanCEP:
        return cls(
            context=_str(d, "context", ""),
            exten=_str(d, "exten", ""),
            priority=_int(d, "priority", 0),
            app_name=_str(d, "app_name", ""),
            app_data=_str(d, "app_data", ""),
        )


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str
    state: str
    caller: CallerID = field(default_factory=CallerID)
    connected: CallerID = field(default_factory=CallerID)
    dialplan: DialplanCEP = field(default_factory=DialplanCEP)
    protocol_id: str = ""
    accountcode: str = ""
    creationtime: str = ""
    language: str = "en"
    channelvars: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Channel:
        vars_raw = d.get("channelvars") or {}
        if not isinstance(vars_raw, Mapping):
            raise TypeError("channelvars must be an object")
        return cls(
            id=_str(d, "id"),
            name=_str(d, "name", ""),
            state=_str(d, "state", ""),
            caller=CallerID.from_json(_obj(d, "caller")) if "caller" in d else CallerID(),
            connected=CallerID.from_json(_obj(d, "connected")) if "connected" in d else CallerID(),
            dialplan=DialplanCEP.from_json(_obj(d, "dialplan")) if "dialplan" in d else DialplanCEP(),
            protocol_id=_str(d, "protocol_id", ""),
            accountcode=_str(d, "accountcode", ""),
            creationtime=_str(d, "creationtime", ""),
            language=_str(d, "language", "en"),
            channelvars={str(k): str(v) for k, v in vars_raw.items()},
        )


@dataclass(frozen=True, slots=True)
class Bridge:
    id: str
    technology: str = ""
    bridge_type: str = ""
    bridge_class: str = ""
    creator: str = ""
    name: str = ""
    channels: tuple[str, ...] = ()
    creationtime: str = ""
    video_mode: str = ""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Bridge:
        return cls(
            id=_str(d, "id"),
            technology=_str(d, "technology", ""),
            bridge_type=_str(d, "bridge_type", ""),
            bridge_class=_str(d, "bridge_class", ""),
            creator=_str(d, "creator", ""),
            name=_str(d, "name", ""),
            channels=_str_list(d, "channels"),
            creationtime=_str(d, "creationtime", ""),
            video_mode=_str(d, "video_mode", ""),
        )


@dataclass(frozen=True, slots=True)
class Playback:
    id: str
    media_uri: str
    target_uri: str
    state: str
    language: str = ""
    next_media_uri: str = ""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Playback:
        return cls(
            id=_str(d, "id"),
            media_uri=_str(d, "media_uri", ""),
            target_uri=_str(d, "target_uri", ""),
            state=_str(d, "state"),
            language=_str(d, "language", ""),
            next_media_uri=_str(d, "next_media_uri", ""),
        )


@dataclass(frozen=True, slots=True)
class Application:
    name: str
    channel_ids: tuple[str, ...] = ()
    bridge_ids: tuple[str, ...] = ()
    endpoint_ids: tuple[str, ...] = ()
    device_names: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Application:
        return cls(
            name=_str(d, "name"),
            channel_ids=_str_list(d, "channel_ids"),
            bridge_ids=_str_list(d, "bridge_ids"),
            endpoint_ids=_str_list(d, "endpoint_ids"),
            device_names=_str_list(d, "device_names"),
        )


@dataclass(frozen=True, slots=True)
class AsteriskInfo:
    version: str
    entity_id: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AsteriskInfo:
        system = d.get("system") or {}
        if not isinstance(system, Mapping):
            raise TypeError("system must be an object")
        return cls(version=_str(system, "version", ""), entity_id=_str(system, "entity_id", ""), raw=dict(d))
