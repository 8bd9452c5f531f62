"""The sans-I/O AMI parser and builder against the recorded Asterisk 22 session."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from testsupport import FIXTURES

from ari_app.ami import AmiError, AmiMessage, AmiParser, AmiProtocolError, build_action, serialize

JSONL = [json.loads(line) for line in (FIXTURES / "asterisk" / "ami-session.jsonl").read_text().splitlines()]
MESSAGES = [AmiMessage.of(d["msg"]) for d in JSONL if "msg" in d]
BANNER = JSONL[0]["banner"]


def wire() -> bytes:
    return f"{BANNER}\r\n".encode() + b"".join(serialize(m) for m in MESSAGES)


@pytest.mark.parametrize("seed", range(5))
def test_given_recorded_stream_in_random_chunks_when_parsed_then_every_message_in_order(seed: int) -> None:
    data = wire()
    rng = random.Random(seed)
    parser = AmiParser()
    out: list[AmiMessage] = []
    i = 0
    while i < len(data):
        n = rng.randint(1, 200)
        out += parser.feed(data[i : i + n])
        i += n
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert out == MESSAGES
    assert len(out) == 34


def test_given_recorded_text_session_when_parsed_then_same_as_jsonl(ami_record: Any) -> None:
    from_txt = [m for _, msgs in ami_record.segments for m in msgs]
    assert [m.as_dict() for m in from_txt] == [m.as_dict() for m in MESSAGES]


def test_given_each_recorded_message_then_serialize_parse_round_trip() -> None:
    for msg in MESSAGES:
        parser = AmiParser(expect_banner=False)
        assert parser.feed(serialize(msg)) == [msg]


def test_given_recorded_login_when_built_then_same_fields_in_same_order(ami_record: Any) -> None:
    login = ami_record.segments[0][0]
    built = build_action("Login", "login-1", {"Username": "hotel", "Secret": "hotel-secret", "Events": "on"})
    assert built == serialize(login)
    assert built.endswith(b"Events: on\r\n\r\n")


def test_given_value_with_line_break_when_building_then_refused() -> None:
    with pytest.raises(AmiError):
        build_action("Originate", "o-1", {"Channel": "PJSIP/1\r\nAction: Logoff"})


@pytest.mark.parametrize("data", [b"HTTP/1.1 200 OK\r\n", b"SSH-2.0-OpenSSH\r\n"])
def test_given_something_else_than_ami_when_parsed_then_protocol_error_at_the_banner(data: bytes) -> None:
    with pytest.raises(AmiProtocolError, match="banner"):
        AmiParser().feed(data)


def test_given_line_without_colon_when_parsed_then_protocol_error() -> None:
    with pytest.raises(AmiProtocolError):
        AmiParser(expect_banner=False).feed(b"Event: X\r\nno colon here\r\n\r\n")


def test_given_endless_line_when_parsed_then_limit_error() -> None:
    with pytest.raises(AmiProtocolError, match="longer"):
        AmiParser(expect_banner=False, max_line=1000).feed(b"Event: " + b"x" * 2000)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=800))
def test_given_random_bytes_when_parsed_then_messages_or_protocol_error_only(data: bytes) -> None:
    parser = AmiParser(expect_banner=False, max_line=300, max_fields=20)
    try:
        for msg in parser.feed(data):
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in msg.fields)
    except AmiProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True),
            st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=40),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_given_any_message_when_serialized_then_parsed_back_identical(fields: list[tuple[str, str]]) -> None:
    msg = AmiMessage(tuple(fields))
    got = AmiParser(expect_banner=False).feed(serialize(msg))
    assert got == [msg]
