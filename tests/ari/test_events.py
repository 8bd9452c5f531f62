"""The pure event decoder: every event Asterisk 22 sent in the records decodes into its typed model;
bad frames raise the typed error; unknown types decode into UnknownEvent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from arikit import FIXTURES, load_jsonl

from ari_app.ari import events as ev
from ari_app.ari.errors import AriEventDecodeError

ALL_EVENT_FILES = sorted(FIXTURES.glob("*-events.jsonl"))


def test_given_the_records_then_there_are_event_files_for_every_ari_scenario() -> None:
    names = {p.name.removesuffix("-events.jsonl") for p in ALL_EVENT_FILES}
    assert {"basic", "dtmf", "playback-hangup", "ari-hangup", "race422-dtmf", "wsmedia"} <= names


@pytest.mark.parametrize("path", ALL_EVENT_FILES, ids=lambda p: p.name)
def test_given_every_recorded_event_when_decoded_then_it_is_typed_and_keeps_its_fields(path: object) -> None:
    assert hasattr(path, "read_text")
    for record in load_jsonl(path):  # type: ignore[arg-type]
        raw = record["event"]
        event = ev.decode_event(json.dumps(raw))
        assert not isinstance(event, ev.UnknownEvent), f"no model for {raw['type']}"
        assert type(event).__name__ == raw["type"]
        loose: Any = event
        assert event.application == "hotel-operator"
        assert event.asterisk_id == "02:fc:00:00:00:01"
        assert event.timestamp == raw["timestamp"]
        if "channel" in raw:
            channel = loose.channel
            assert channel.id == raw["channel"]["id"]
            assert channel.name == raw["channel"]["name"]
            assert channel.state == raw["channel"]["state"]
            assert channel.caller.number == raw["channel"]["caller"]["number"]
            assert channel.dialplan.app_name == raw["channel"]["dialplan"]["app_name"]
            assert channel.dialplan.priority == raw["channel"]["dialplan"]["priority"]
        if "bridge" in raw:
            assert loose.bridge.channels == tuple(raw["bridge"]["channels"])
        if "playback" in raw:
            assert loose.playback.state == raw["playback"]["state"]
        assert ev.event_channel_id(event) == (raw.get("channel") or raw.get("peer") or {}).get("id")


def test_given_recorded_hangups_then_cause_and_soft_are_as_asterisk_sent_them() -> None:
    seen = [ev.decode_event(json.dumps(r["event"])) for r in load_jsonl(FIXTURES / "basic-events.jsonl")]
    requests = [e for e in seen if isinstance(e, ev.ChannelHangupRequest)]
    caller, ours = requests
    assert (caller.cause, caller.soft) == (None, None)  # the caller hung up: no cause
    assert (ours.cause, ours.soft) == (32, True)  # our DELETE: soft hang-up
    destroyed = [e for e in seen if isinstance(e, ev.ChannelDestroyed)]
    assert [(d.channel.id.startswith("em-"), d.cause, d.cause_txt) for d in destroyed] == [
        (True, 16, "Normal Clearing")
    ]


def test_given_recorded_dtmf_then_digits_arrive_in_order_with_duration() -> None:
    seen = [ev.decode_event(json.dumps(r["event"])) for r in load_jsonl(FIXTURES / "dtmf-events.jsonl")]
    digits = [(e.digit, e.duration_ms) for e in seen if isinstance(e, ev.ChannelDtmfReceived)]
    assert "".join(d for d, _ in digits).startswith("1234*#")
    assert {ms for _, ms in digits} == {200}


def test_given_an_unknown_event_type_then_it_decodes_to_unknown_event_kept_raw() -> None:
    event = ev.decode_event('{"type": "ChannelTalkingStarted", "application": "hotel-operator", "x": 1}')
    assert isinstance(event, ev.UnknownEvent)
    assert event.type == "ChannelTalkingStarted"
    assert event.raw["x"] == 1


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not an object"),
        ('"StasisStart"', "not an object"),
        ('{"application": "hotel-operator"}', "no 'type'"),
        ('{"type": "StasisStart", "args": []}', "lacks required field 'channel'"),
        ('{"type": "ChannelDtmfReceived", "channel": {"id": "1.1"}, "duration_ms": 100}', "'digit'"),
        (
            '{"type": "ChannelDtmfReceived", "channel": {"id": "1.1"}, "digit": 5, "duration_ms": 1}',
            "bad field",
        ),
        (
            '{"type": "ChannelDestroyed", "channel": {"id": "1.1"}, "cause": "16", "cause_txt": "x"}',
            "bad field",
        ),
        ('{"type": "StasisStart", "args": "a", "channel": {"id": "1.1"}}', "bad field"),
        ('{"type": "StasisEnd", "channel": []}', "bad field"),
        ('{"type": "PlaybackFinished"}', "'playback'"),
    ],
)
def test_given_a_malformed_frame_when_decoded_then_the_typed_decode_error_says_why(
    text: str, why: str
) -> None:
    with pytest.raises(AriEventDecodeError) as info:
        ev.decode_event(text)
    assert why in str(info.value)


def test_given_bytes_that_are_not_utf8_then_decode_error_not_crash() -> None:
    with pytest.raises(AriEventDecodeError):
        ev.decode_event(b"\xff\xfe{")


@pytest.mark.parametrize(
    "text",
    [
        "[" * 1000 + "]" * 1000,  # issue 18 D2: RecursionError in json.loads took the service down
        "[" * 50_000 + "]" * 50_000,
        '{"type": "StasisStart", "x": ' + "{\"a\": " * 40 + "1" + "}" * 40 + "}",
        '{"type": "ChannelVarset", "variable": "V", "value": "' + "[" * 5000 + '"}' + "]" * 3,
        "x" * (ev.MAX_FRAME_BYTES + 1),
        b"\x00" * 10,
        "\ud800",  # a lone surrogate: not encodable
    ],
    ids=["depth-1000", "depth-50000", "objects-40", "string-brackets-then-junk", "oversized", "nul-bytes", "surrogate"],
)
def test_given_hostile_frame_when_decoded_then_only_the_typed_decode_error_leaves(text: str | bytes) -> None:
    with pytest.raises(AriEventDecodeError):
        ev.decode_event(text)


def test_given_brackets_inside_strings_when_decoded_then_they_do_not_count_as_depth() -> None:
    raw = {"type": "ChannelVarset", "variable": "NOTE", "value": "[" * 100 + "{" * 100, "application": "hotel-operator"}
    event = ev.decode_event(json.dumps(raw))
    assert isinstance(event, ev.ChannelVarset) and event.value == "[" * 100 + "{" * 100


@pytest.mark.parametrize("digit", ["99", "", "x", "E", "11", " 1", "١"])
def test_given_dtmf_event_with_a_digit_that_is_no_key_when_decoded_then_clear_error(digit: str) -> None:
    frame = json.dumps({"type": "ChannelDtmfReceived", "digit": digit, "duration_ms": 200,
                        "channel": {"id": "1.1", "name": "PJSIP/guest-1", "state": "Up"}})
    with pytest.raises(AriEventDecodeError) as info:
        ev.decode_event(frame)
    assert "not one DTMF key" in str(info.value)


@pytest.mark.parametrize("digit", list("0123456789*#ABCD"))
def test_given_dtmf_event_with_a_keypad_key_when_decoded_then_accepted(digit: str) -> None:
    frame = json.dumps({"type": "ChannelDtmfReceived", "digit": digit, "duration_ms": 200,
                        "channel": {"id": "1.1", "name": "PJSIP/guest-1", "state": "Up"}})
    event = ev.decode_event(frame)
    assert isinstance(event, ev.ChannelDtmfReceived) and event.digit == digit
