"""The brains' per-call state as text, so that a call re-adopted after a restart goes on where it
was (DESIGN 2.7: nothing a re-adopted call needs is kept only in memory).

What is kept is everything a brain holds about one call besides the turns (which the store keeps
anyway): the embedded dialog's slots and stage, the LLM brain's message history (its tool calls
and results included, which the turns do not carry) with its fallback flag, and the call's language.

Reading back is distrustful on purpose. The text may come from an older release whose dialog had
other fields, or be cut short or damaged: anything that does not decode to exactly the types the
dialog declares raises :class:`SnapshotError`, and the caller of :func:`load_into` gets a fresh
dialog and a log line, never a half-restored state or an exception in the call.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import types
import typing
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ari_app.brain.context import CallContext

log = logging.getLogger(__name__)

FORMAT = 1  # bump when a stored snapshot can no longer be read as the current dialog
MAX_DEPTH = 32  # a snapshot is shallow; deeper nesting is damage, not data


class SnapshotError(ValueError):
    """The stored text is not a dialog state this release can use."""


# ---------------------------------------------------------------------------------- values


def encode(value: Any, depth: int = 0) -> Any:
    """Plain JSON for the types a dialog holds; dates, times, decimals and tuples are tagged so
    they come back as themselves, not as strings and lists."""
    if depth > MAX_DEPTH:
        raise SnapshotError("too deeply nested")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if any(not isinstance(k, str) or k.startswith("$") for k in value):
            raise SnapshotError("dictionary keys must be plain strings")
        return {k: encode(v, depth + 1) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)}
    raise SnapshotError(f"cannot keep a {type(value).__name__}")


def decode(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise SnapshotError("too deeply nested")
    if isinstance(value, list):
        return [decode(v, depth + 1) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, raw),) = value.items()
        try:
            if tag == "$datetime":
                return datetime.fromisoformat(str(raw))
            if tag == "$date":
                return date.fromisoformat(str(raw))
            if tag == "$decimal":
                return Decimal(str(raw))
        except (ValueError, InvalidOperation) as exc:
            raise SnapshotError(f"bad {tag[1:]}: {raw!r}") from exc
        if tag == "$tuple":
            if not isinstance(raw, list):
                raise SnapshotError("bad tuple")
            return tuple(decode(v, depth + 1) for v in raw)
    return {k: decode(v, depth + 1) for k, v in value.items()}


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a decoded value is what the field's annotation says (what a dataclass won't check)."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_conforms(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            isinstance(k, str) and _conforms(v, args[1]) for k, v in value.items()
        )
    if origin is tuple:
        return isinstance(value, tuple) and len(value) == len(args) and all(map(_conforms, value, args))
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is date:  # a datetime is a date to isinstance, not to the dialog
        return isinstance(value, date) and not isinstance(value, datetime)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return False


def build(cls: type[Any], data: Any) -> Any:
    """The dataclass ``cls`` from decoded ``data``, every field checked against its annotation.

    A field the data lacks takes its default (a snapshot from before the field existed); a key the
    dataclass no longer has is dropped; a value of the wrong type refuses the whole snapshot.
    """
    if not isinstance(data, dict):
        raise SnapshotError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        raw, hint = data[f.name], hints[f.name]
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            values[f.name] = build(hint, raw)
        elif _conforms(raw, hint):
            values[f.name] = raw
        else:
            raise SnapshotError(f"{cls.__name__}.{f.name}: {type(raw).__name__} is not {hint}")
    return cls(**values)


# ---------------------------------------------------------------------------------- a call


def dump(ctx: CallContext, brain: str) -> str:
    """The call's brain state as one line of JSON."""
    return json.dumps(
        {
            "format": FORMAT,
            "brain": brain,
            "state": encode(ctx.state),
            "llm_messages": encode(ctx.llm_messages),
            "llm_failed": ctx.llm_failed,
            "language": ctx.language,
        },
        separators=(",", ":"),
    )


def parse(text: str) -> tuple[Any, list[dict[str, Any]], bool, str | None]:
    """(DialogState, LLM messages, LLM failed, call language) from :func:`dump`'s text, or
    :class:`SnapshotError`."""
    from ari_app.brain.context import DialogState

    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SnapshotError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SnapshotError("not an object")
    if data.get("format") != FORMAT:
        raise SnapshotError(f"format {data.get('format')!r}, this release reads {FORMAT}")
    state = build(DialogState, decode(data.get("state")))
    messages = decode(data.get("llm_messages", []))
    if not _conforms(messages, list[dict[str, Any]]):
        raise SnapshotError("llm_messages: not a list of messages")
    failed = data.get("llm_failed", False)
    if not isinstance(failed, bool):
        raise SnapshotError("llm_failed: not a boolean")
    language = data.get("language")
    if language is not None and not (isinstance(language, str) and 0 < len(language) <= 16):
        raise SnapshotError("language: not a language code")
    return state, messages, failed, language


def load_into(ctx: CallContext, text: str, *, call: object = "") -> bool:
    """Put a stored state back into the call's context; False (and a warning, the context left as
    it was) when it cannot be used: the dialog then starts fresh, with the turns as history."""
    try:
        state, messages, failed, language = parse(text)
    except (SnapshotError, TypeError, RecursionError) as exc:
        log.warning("call %s: stored dialog state not usable (%s); the dialog starts fresh", call, exc)
        return False
    ctx.state = state
    ctx.llm_messages[:] = messages
    ctx.llm_failed = failed
    if language is not None:
        ctx.language = language  # chosen in the menu or detected: the caller's, not the DID's
    return True


def messages_from_turns(ctx: CallContext, system: str) -> list[dict[str, Any]]:
    """An LLM message history rebuilt from the stored turns, for a re-adopted call whose snapshot
    was lost or unreadable: the model then knows what was said, though not its tool results."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for turn in ctx.turns:
        if turn.role == "caller":
            text = turn.text if turn.mode != "dtmf" else f"[caller pressed keys: {turn.text}]"
            out.append({"role": "user", "content": text})
        elif turn.role == "agent" and turn.text:
            out.append({"role": "assistant", "content": turn.text})
    return out
