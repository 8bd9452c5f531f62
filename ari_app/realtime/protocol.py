"""Pure pieces of the Realtime bridge: session config, tool schemas, argument checks, playout accounting.

Nothing here does I/O, so each piece is tested with plain values; the bridge only wires them to the
WebSocket and the media port.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from openai.types.realtime import RealtimeFunctionToolParam, RealtimeSessionCreateRequestParam

# G.711 at 8 kHz: one byte per sample, 8 bytes per millisecond, 160 bytes per 20 ms RTP frame.
ULAW_BYTES_PER_MS = 8
FRAME_BYTES = 160
FRAME_MS = 20


def realtime_tools(tools: Iterable[Mapping[str, Any]]) -> list[RealtimeFunctionToolParam]:
    """Accept tools in Chat Completions shape (``{"type": "function", "function": {...}}``) or the flat
    Realtime shape, and return the flat shape the Realtime session wants.

    The hotel tool registry speaks Chat Completions (the LLM brain uses it); one list serves both brains.
    """
    out: list[RealtimeFunctionToolParam] = []
    for tool in tools:
        spec = tool.get("function", tool)
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"tool without a name: {tool!r}")
        flat: RealtimeFunctionToolParam = {"type": "function", "name": name}
        if spec.get("description"):
            flat["description"] = str(spec["description"])
        flat["parameters"] = spec.get("parameters") or {"type": "object", "properties": {}}
        out.append(flat)
    return out


def session_config(
    *,
    instructions: str,
    tools: Sequence[RealtimeFunctionToolParam],
    voice: str,
    transcription_model: str | None,
    language: str | None,
    silence_duration_ms: int | None = None,
) -> RealtimeSessionCreateRequestParam:
    """The ``session`` of our one ``session.update``: μ-law both ways, server VAD that both answers and
    interrupts, caller transcription for the call record, and the hotel tools with ``auto`` choice."""
    turn_detection: dict[str, Any] = {
        "type": "server_vad",
        "create_response": True,
        "interrupt_response": True,
    }
    if silence_duration_ms is not None:
        turn_detection["silence_duration_ms"] = silence_duration_ms
    audio_input: dict[str, Any] = {"format": {"type": "audio/pcmu"}, "turn_detection": turn_detection}
    if transcription_model:
        transcription: dict[str, Any] = {"model": transcription_model}
        if language:
            transcription["language"] = language.split("-")[0].lower()
        audio_input["transcription"] = transcription
    config: RealtimeSessionCreateRequestParam = {
        "type": "realtime",
        "output_modalities": ["audio"],
        "instructions": instructions,
        "audio": {
            "input": audio_input,  # type: ignore[typeddict-item]
            "output": {"format": {"type": "audio/pcmu"}, "voice": voice},
        },
        "tools": list(tools),
        "tool_choice": "auto",
    }
    return config


# ---- tool arguments ---------------------------------------------------------------------------------


class ToolArgumentsInvalid(ValueError):
    """The model's arguments don't fit the tool's schema; the message is written for the model to read."""


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _type_ok(value: Any, expected: str) -> bool:
    kinds = _JSON_TYPES.get(expected)
    if kinds is None:
        return True  # a type we don't check is left to the tool runner's own validation
    if isinstance(value, bool) and expected in ("integer", "number"):
        return False
    if expected == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, kinds)


def _problems(schema: Mapping[str, Any], value: Any, where: str) -> list[str]:
    if "anyOf" in schema or "oneOf" in schema:
        branches = schema.get("anyOf") or schema.get("oneOf") or []
        if any(not _problems(b, value, where) for b in branches if isinstance(b, Mapping)):
            return []
        return [f"{where} has the wrong type"]
    expected = schema.get("type")
    if isinstance(expected, str) and not _type_ok(value, expected):
        return [f"{where} must be of type {expected}, got {type(value).__name__}"]
    if isinstance(expected, list) and not any(_type_ok(value, t) for t in expected if isinstance(t, str)):
        return [f"{where} must be one of the types {expected}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where} must be one of {schema['enum']}"]
    problems: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key in schema.get("required") or []:
            if key not in value:
                problems.append(f"{where}.{key} is required")
        if schema.get("additionalProperties") is False:
            problems += [f"{where}.{k} is not a known argument" for k in value if k not in props]
        for key, sub in props.items():
            if key in value and isinstance(sub, Mapping):
                problems += _problems(sub, value[key], f"{where}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            problems += _problems(schema["items"], item, f"{where}[{i}]")
    return problems


def parse_arguments(parameters: Mapping[str, Any] | None, arguments_json: str) -> dict[str, Any]:
    """Decode and shape-check a function call's arguments before anything runs.

    A model can emit broken JSON or a wrong type when the caller's words are ambiguous; catching it here
    means the tool is never started with half-valid input and the model gets a message it can act on.
    Only the JSON Schema subset our tool schemas use is checked (types, required, enum, no extras); the
    tool runner still applies the full validation of its own models.
    """
    try:
        args = json.loads(arguments_json or "{}")
    except json.JSONDecodeError as exc:
        raise ToolArgumentsInvalid(f"arguments are not valid JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(args, dict):
        raise ToolArgumentsInvalid("arguments must be a JSON object")
    problems = _problems(parameters or {"type": "object"}, args, "arguments")
    if problems:
        raise ToolArgumentsInvalid("; ".join(problems))
    return args


# ---- playout accounting -----------------------------------------------------------------------------


class PlayedUtterance(Protocol):
    """What the media port's utterance tells us: how many 20 ms frames of it left the socket."""

    @property
    def frames_sent(self) -> int: ...


@dataclass
class ItemPlayout:
    """One assistant audio item as handed to the media port, so a barge-in can say how much was heard.

    Deltas arrive in arbitrary sizes; only whole 20 ms frames are queued (``take_frames``) so the media
    port never pads a delta's tail with silence in the middle of a sentence. The tail is queued when the
    item's audio is done (``take_tail``).
    """

    item_id: str
    content_index: int = 0
    pending: bytearray = field(default_factory=bytearray)
    queued: list[tuple[PlayedUtterance, int]] = field(default_factory=list)
    truncated: bool = False
    audio_done: bool = False

    def add(self, audio: bytes) -> bytes:
        """Buffer a delta and return the whole frames now ready to queue (possibly empty)."""
        self.pending += audio
        whole = len(self.pending) - len(self.pending) % FRAME_BYTES
        ready = bytes(self.pending[:whole])
        del self.pending[:whole]
        return ready

    def take_tail(self) -> bytes:
        tail = bytes(self.pending)
        self.pending.clear()
        return tail

    def queued_as(self, utterance: PlayedUtterance, size: int) -> None:
        self.queued.append((utterance, size))

    @property
    def bytes_queued(self) -> int:
        return sum(size for _, size in self.queued)

    @property
    def bytes_played(self) -> int:
        """Bytes that reached the caller; a padded last frame counts only its real bytes."""
        return sum(min(utt.frames_sent * FRAME_BYTES, size) for utt, size in self.queued)

    @property
    def played_ms(self) -> int:
        return self.bytes_played // ULAW_BYTES_PER_MS

    @property
    def fully_played(self) -> bool:
        return self.audio_done and not self.pending and self.bytes_played >= self.bytes_queued


def function_call_output_item(call_id: str, output: str) -> dict[str, str]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def error_output(message: str) -> str:
    """What the model reads when a call could not run: JSON, so it can tell error from result."""
    return json.dumps({"ok": False, "error": message})
