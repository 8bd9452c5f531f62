"""The sans-I/O AGI protocol: parse and build with bytes only, round trips, typed errors, and fuzz."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from testsupport import FIXTURES

from agi.protocol import (
    AgiConnection,
    AgiLimitError,
    AgiProtocolError,
    AgiUsageError,
    EnvironmentReceived,
    HangupReceived,
    NeedData,
    Reply,
    ReplyReceived,
    build_command,
    env_block,
    format_environment,
    format_reply,
    parse_environment,
    parse_reply,
    quote_arg,
    split_command,
)

RECORD = json.loads((FIXTURES / "asterisk" / "fastagi-session.json").read_text())


def test_given_recorded_env_block_when_fed_in_one_byte_pieces_then_one_environment_event_with_22_keys() -> None:
    block = env_block(RECORD["env"])
    conn = AgiConnection()
    events: list[Any] = []
    for i in range(len(block)):
        conn.receive_data(block[i : i + 1])
        while not isinstance(ev := conn.next_event(), NeedData):
            events.append(ev)
    assert len(events) == 1 and isinstance(events[0], EnvironmentReceived)
    env = events[0].env
    assert len(env.items) == 22
    assert env.as_dict() == RECORD["env"]
    assert env.script == "ivr"
    assert env["agi_accountcode"] == ""


def test_given_recorded_env_when_formatted_again_then_bytes_round_trip() -> None:
    block = env_block(RECORD["env"])
    lines = block.decode().split("\n")[:-2]
    assert format_environment(parse_environment(lines)) == block


@pytest.mark.parametrize("exchange", RECORD["exchanges"], ids=lambda e: e["command"])
def test_given_recorded_reply_when_parsed_then_formatting_gives_the_same_line(exchange: dict[str, Any]) -> None:
    for line in exchange["replies"]:
        assert format_reply(parse_reply(line)) == line


@pytest.mark.parametrize("exchange", RECORD["exchanges"], ids=lambda e: e["command"])
def test_given_recorded_command_when_split_and_rebuilt_then_identical(exchange: dict[str, Any]) -> None:
    words = split_command(exchange["command"])
    n = 2 if words[0] in ("STREAM", "GET", "SAY", "SET", "WAIT") else 1
    rebuilt = build_command(" ".join(words[:n]), *words[n:]).decode().rstrip("\n")
    assert rebuilt == exchange["command"]


@pytest.mark.parametrize(
    ("line", "code", "result", "data", "extra"),
    [
        ("200 result=0 endpos=11234", 200, "0", None, (("endpos", "11234"),)),
        ("200 result=1 (PJSIP/guest-0000000e)", 200, "1", "PJSIP/guest-0000000e", ()),
        ("200 result= (timeout)", 200, "", "timeout", ()),
        ("200 result=0 (timeout) endpos=8000", 200, "0", "timeout", (("endpos", "8000"),)),
        ("200 result=1 (value (with) parens)", 200, "1", "value (with) parens", ()),
        ("511 Command Not Permitted on a dead channel or intercept routine", 511, "", None, ()),
        ("510 Invalid or unknown command", 510, "", None, ()),
    ],
)
def test_given_reply_line_when_parsed_then_typed_fields(
    line: str, code: int, result: str, data: str | None, extra: tuple[tuple[str, str], ...]
) -> None:
    reply = parse_reply(line)
    assert (reply.code, reply.result, reply.data, reply.extra) == (code, result, data, extra)
    assert format_reply(reply) == line


def test_given_digit_replies_then_ascii_codes_become_keys() -> None:
    assert parse_reply("200 result=50 endpos=1").digit == "2"
    assert parse_reply("200 result=35").digit == "#"
    assert parse_reply("200 result=0 endpos=1").digit is None


@pytest.mark.parametrize("line", ["hello", "20 result=1", "", "abc result=1", "200result=1"])
def test_given_garbage_reply_when_parsed_then_protocol_error(line: str) -> None:
    with pytest.raises(AgiProtocolError):
        parse_reply(line)


def test_given_arguments_when_quoted_then_only_what_needs_it_gets_quotes() -> None:
    assert quote_arg("hello-world") == "hello-world"
    assert quote_arg("CHANNEL(name)") == "CHANNEL(name)"
    assert quote_arg("") == '""'
    assert quote_arg("fastagi probe says hi") == '"fastagi probe says hi"'
    assert quote_arg('say "hi"\\') == '"say \\"hi\\"\\\\"'


def test_given_caller_controlled_value_with_newline_when_building_then_refused_not_injected() -> None:
    with pytest.raises(AgiUsageError):
        build_command("SET VARIABLE", "HOTEL_GUEST_NAME", "Bob\nHANGUP")


def test_given_command_pending_when_another_is_sent_then_usage_error() -> None:
    conn = AgiConnection()
    conn.receive_data(env_block({"agi_network_script": "ivr"}))
    assert isinstance(conn.next_event(), EnvironmentReceived)
    conn.send_command("ANSWER")
    with pytest.raises(AgiUsageError):
        conn.send_command("ANSWER")


def test_given_hangup_before_reply_when_read_then_hangup_event_then_reply() -> None:
    conn = AgiConnection()
    conn.receive_data(env_block({"agi_network_script": "ivr"}))
    conn.next_event()
    conn.send_command("STREAM FILE", "x", "")
    conn.receive_data(b"HANGUP\n200 result=-1 endpos=0\n")
    assert isinstance(conn.next_event(), HangupReceived)
    ev = conn.next_event()
    assert isinstance(ev, ReplyReceived) and ev.reply.result == "-1"
    assert conn.hung_up


def test_given_520_usage_block_when_read_then_one_reply_with_all_lines() -> None:
    conn = AgiConnection()
    conn.receive_data(env_block({"agi_network_script": "ivr"}))
    conn.next_event()
    conn.send_command("GET DATA")
    conn.receive_data(b"520 Invalid command syntax.  Proper usage follows:\nUsage: GET DATA <file>\n520 End of proper usage.\n")
    ev = conn.next_event()
    assert isinstance(ev, ReplyReceived)
    assert ev.reply.code == 520 and len(ev.reply.usage) == 3


def test_given_line_beyond_limit_when_fed_then_limit_error() -> None:
    conn = AgiConnection(max_line=256)
    with pytest.raises(AgiLimitError):
        conn.receive_data(b"agi_x: " + b"a" * 300)


def test_given_too_many_env_lines_when_fed_then_limit_error() -> None:
    conn = AgiConnection(max_env_lines=22)
    conn.receive_data(b"".join(f"agi_k{i}: v\n".encode() for i in range(23)))
    with pytest.raises(AgiLimitError):
        conn.next_event()


def test_given_reply_without_command_when_read_then_protocol_error() -> None:
    conn = AgiConnection()
    conn.receive_data(env_block({"agi_network_script": "ivr"}) + b"200 result=0\n")
    conn.next_event()
    with pytest.raises(AgiProtocolError):
        conn.next_event()


_reply_lines = st.builds(
    lambda code, result, data, extra: format_reply(Reply(code, result, data, tuple(extra))),
    st.sampled_from([200]),
    st.from_regex(r"-?[0-9]{0,6}", fullmatch=True),
    st.one_of(st.none(), st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=["Cs"]), max_size=30)),
    st.lists(st.tuples(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.from_regex(r"[0-9]{1,6}", fullmatch=True)), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(_reply_lines)
def test_given_any_wellformed_reply_when_parsed_then_round_trip(line: str) -> None:
    assert format_reply(parse_reply(line)) == line


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_characters="\n\r\x00", blacklist_categories=["Cs"]), max_size=20), max_size=5))
def test_given_any_arguments_when_built_then_asterisk_style_split_gives_them_back(args: list[str]) -> None:
    line = build_command("EXEC", *args).decode()
    assert line.endswith("\n")
    assert split_command(line[:-1]) == ["EXEC", *args]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=64))
def test_given_random_bytes_when_fed_in_chunks_then_only_typed_events_or_agi_errors(data: bytes, chunk: int) -> None:
    conn = AgiConnection(max_line=256, max_env_lines=30)
    try:
        for i in range(0, len(data), chunk):
            conn.receive_data(data[i : i + chunk])
            while not isinstance(ev := conn.next_event(), NeedData):
                assert isinstance(ev, EnvironmentReceived | HangupReceived | ReplyReceived)
                if isinstance(ev, EnvironmentReceived):
                    conn.send_command("ANSWER")
    except (AgiProtocolError, AgiUsageError):
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_given_any_text_line_when_parsed_as_reply_then_reply_or_protocol_error(line: str) -> None:
    try:
        reply = parse_reply(line)
    except AgiProtocolError:
        return
    assert 100 <= reply.code <= 599
