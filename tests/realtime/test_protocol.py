"""The pure parts of the Realtime bridge, and the fake server's own strictness."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fake_realtime import FakeServerError, parse_client_event
from pydantic import ValidationError

from ari_app.media.endpoint import RtpEndpoint
from ari_app.realtime import RealtimeMedia
from ari_app.realtime.protocol import (
    ItemPlayout,
    ToolArgumentsInvalid,
    parse_arguments,
    realtime_tools,
    session_config,
)
from ari_app.tools.registry import ToolRegistry

TOOLS = ToolRegistry().openai_tools()
SCHEMAS: dict[str, Any] = {t["name"]: t.get("parameters") for t in realtime_tools(TOOLS)}


def _endpoint_is_a_realtime_media_port(ep: RtpEndpoint) -> RealtimeMedia:
    return ep  # checked by mypy: the real media plane fits the bridge's port


class Sent:
    def __init__(self, frames: int) -> None:
        self.frames_sent = frames


def test_given_chat_and_flat_tool_shapes_when_converted_then_both_become_flat_realtime_functions() -> None:
    flat = {"type": "function", "name": "ping", "parameters": {"type": "object", "properties": {}}}

    tools = realtime_tools([*TOOLS[:1], flat])

    assert tools[0]["name"] == "check_availability" and tools[0]["type"] == "function"
    params: Any = tools[0]["parameters"]
    assert "function" not in tools[0] and params["required"] == [
        "check_in",
        "check_out",
        "adults",
    ]
    assert tools[1] == flat


def test_given_our_session_config_when_parsed_as_a_ga_session_update_then_it_has_no_unknown_field() -> None:
    config = session_config(
        instructions="Be brief.",
        tools=realtime_tools(TOOLS),
        voice="marin",
        transcription_model="gpt-4o-mini-transcribe",
        language="en-GB",
        silence_duration_ms=400,
    )

    event = parse_client_event({"type": "session.update", "session": config})

    assert event.session.audio.input.transcription.language == "en"
    assert event.session.audio.input.turn_detection.silence_duration_ms == 400


def test_given_a_misspelt_field_when_fake_server_parses_it_then_it_is_rejected() -> None:
    bad: dict[str, Any] = {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {"input": {"turn_detecton": {"type": "server_vad"}}}},
    }

    with pytest.raises(FakeServerError, match="turn_detecton"):
        parse_client_event(bad)
    with pytest.raises(ValidationError):
        parse_client_event({"type": "conversation.item.truncate", "item_id": "x"})


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("check_availability", {"check_in": "2031-01-02", "check_out": "2031-01-03", "adults": 2}),
        ("check_availability", {"check_in": "2031-01-02", "check_out": "2031-01-03", "adults": 2.0}),
        ("check_availability", {"check_in": "a", "check_out": "b", "adults": 1, "room_type": None}),
        ("transfer_to_human", {}),
    ],
)
def test_given_arguments_that_fit_the_schema_when_parsed_then_returned_as_a_dict(
    tool: str, arguments: dict[str, Any]
) -> None:
    assert parse_arguments(SCHEMAS[tool], json.dumps(arguments)) == arguments


@pytest.mark.parametrize(
    ("tool", "arguments", "says"),
    [
        ("check_availability", '{"check_in": "2031-01-02", "adults": 2}', "check_out is required"),
        (
            "check_availability",
            '{"check_in": "a", "check_out": "b", "adults": true}',
            "adults must be of type integer",
        ),
        (
            "check_availability",
            '{"check_in": "a", "check_out": "b", "adults": 1.5}',
            "adults must be of type integer",
        ),
        (
            "check_availability",
            '{"check_in": "a", "check_out": "b", "adults": 1, "room_type": 3}',
            "room_type",
        ),
        ("transfer_to_human", '{"dept": "x"}', "dept is not a known argument"),
        ("transfer_to_human", '{"department": ', "not valid JSON"),
        ("transfer_to_human", '"front desk"', "must be a JSON object"),
    ],
)
def test_given_arguments_that_do_not_fit_when_parsed_then_the_error_tells_the_model_why(
    tool: str, arguments: str, says: str
) -> None:
    with pytest.raises(ToolArgumentsInvalid, match=says):
        parse_arguments(SCHEMAS[tool], arguments)


def test_given_deltas_of_any_size_when_buffered_then_only_whole_frames_are_released_until_the_tail() -> None:
    item = ItemPlayout("item_1")

    assert item.add(b"a" * 100) == b""
    assert item.add(b"b" * 300) == b"a" * 100 + b"b" * 220
    assert item.take_tail() == b"b" * 80
    assert item.take_tail() == b""


def test_given_a_padded_last_frame_when_fully_sent_then_played_ms_counts_only_real_audio() -> None:
    item = ItemPlayout("item_1")
    item.queued_as(Sent(2), 320)  # two whole frames, both sent
    item.queued_as(Sent(1), 80)  # half a frame, padded on the wire, sent
    item.audio_done = True

    assert item.played_ms == 50
    assert item.fully_played


def test_given_frames_still_queued_when_asked_then_played_ms_counts_sent_frames_only() -> None:
    item = ItemPlayout("item_1")
    item.queued_as(Sent(3), 1600)
    item.audio_done = True

    assert item.played_ms == 60
    assert not item.fully_played
