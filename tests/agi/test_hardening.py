"""FastAGI against a hostile or unlucky peer (issue 18 D5, D6, L1, L2) and a stock Asterisk without
the hotel's sounds or with a busy desk (issue 16 D2), over real TCP on loopback.

What a real Asterisk 22 sends is in ``records/fastagi-session.txt`` (env block, ``200 result=…``
replies, the trailing ``HANGUP``); STREAM FILE's ``result=-1`` ("error or hang-up") and
``PLAYBACKSTATUS``, ``511`` on a dead channel and ``DIALSTATUS`` come from Asterisk's AGI and Dial
documentation.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

import pytest

from agi.protocol import AgiConnection, AgiLimitError, ReplyReceived
from agi.server import ESCAPE_ALL, LogLimiter

USAGE_HEAD = "520 Invalid command syntax.  Proper usage follows:"


def _env(record: Any, script: str) -> list[str]:
    return [line.replace("agi_network_script: ivr", f"agi_network_script: {script}") for line in record.env_lines]


async def _open(port: int, env_lines: list[str]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write("".join(f"{line}\n" for line in env_lines).encode() + b"\n")
    await writer.drain()
    return reader, writer


async def _closed_by_server(reader: asyncio.StreamReader, within_s: float = 5.0) -> bool:
    try:
        async with asyncio.timeout(within_s):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


# ---------------------------------------------------------------------------------------- D5


def test_given_usage_block_of_endless_long_lines_when_fed_then_limit_error_before_memory_grows() -> None:
    conn = AgiConnection(max_usage_lines=100, max_usage_bytes=16_384)
    conn.receive_data(b"".join(f"{line}\n".encode() for line in ["agi_network: yes", "agi_network_script: ivr", ""]))
    conn.next_event()
    conn.send_command("ANSWER")
    conn.receive_data(f"{USAGE_HEAD}\n".encode())
    conn.next_event()
    with pytest.raises(AgiLimitError, match="usage block"):
        for _ in range(10):
            conn.receive_data(b"x" * 8000 + b"\n")
            conn.next_event()


def test_given_usage_block_of_many_short_lines_when_fed_then_limit_error_and_a_normal_one_still_reads() -> None:
    normal = AgiConnection()
    normal.receive_data(b"agi_network: yes\n\n")
    normal.next_event()
    normal.send_command("ANSWER")
    normal.receive_data(f"{USAGE_HEAD}\nUsage: ANSWER\n Answers channel.\n520 End of proper usage.\n".encode())
    event = normal.next_event()
    assert isinstance(event, ReplyReceived) and len(event.reply.usage) == 4
    conn = AgiConnection(max_usage_lines=100)
    conn.receive_data(b"agi_network: yes\n\n")
    conn.next_event()
    conn.send_command("ANSWER")
    conn.receive_data((USAGE_HEAD + "\n" + "u\n" * 200).encode())
    with pytest.raises(AgiLimitError):
        conn.next_event()


async def test_given_peer_streaming_a_usage_block_when_served_then_connection_closed_and_counted(
    record: Any, serve: Any
) -> None:
    async with serve({"ivr": _answer_only}) as server:
        reader, writer = await _open(server.bound_port, record.env_lines)
        assert (await reader.readline()) == b"ANSWER\n"
        writer.write(f"{USAGE_HEAD}\n".encode())
        sent = 0
        try:
            for _ in range(2000):  # 16 MB if nobody stopped us
                writer.write(b"y" * 8000 + b"\n")
                await writer.drain()
                sent += 1
        except ConnectionError:
            pass
        assert await _closed_by_server(reader)
        writer.close()
        assert server.stats.protocol_errors == 1
        assert sent < 2000


async def _answer_only(ch: Any) -> None:
    await ch.answer()


# ---------------------------------------------------------------------------------------- D6


async def test_given_operator_peer_that_never_answers_exec_stasis_when_served_then_timed_out_and_closed(
    record: Any, serve: Any, caplog: pytest.LogCaptureFixture, ivr_routes: Any
) -> None:
    caplog.set_level(logging.INFO, logger="agi")
    async with serve(ivr_routes, exec_timeout_s=0.3) as server:
        reader, writer = await _open(server.bound_port, _env(record, "operator"))
        assert (await reader.readline()).startswith(b"EXEC Stasis hotel-operator")
        assert await _closed_by_server(reader)  # silent peer: no reply ever
        writer.close()
        assert server.stats.timeouts == 1 and server.stats.route_errors == 0 and server.stats.active == 0
    assert not any(r.exc_info for r in caplog.records)


async def test_given_connection_cap_when_more_peers_connect_then_extra_ones_closed_at_once_and_later_ones_served(
    record: Any, serve: Any, ivr_routes: Any
) -> None:
    async with serve(ivr_routes, max_connections=2, exec_timeout_s=30) as server:
        held = [await _open(server.bound_port, _env(record, "operator")) for _ in range(2)]
        for reader, _w in held:
            await reader.readline()  # both are inside EXEC Stasis, holding a slot each
        extra_reader, extra_writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        assert await _closed_by_server(extra_reader, 2.0)
        extra_writer.close()
        assert server.stats.refused == 1
        for reader, writer in held:
            writer.write(b"200 result=0\n")
            await writer.drain()
            assert await _closed_by_server(reader)
            writer.close()
        reader, writer = await _open(server.bound_port, _env(record, "operator"))
        assert (await reader.readline()).startswith(b"EXEC Stasis")  # a slot is free again
        writer.write(b"200 result=0\n")
        await writer.drain()
        assert await _closed_by_server(reader)
        writer.close()


# ---------------------------------------------------------------------------------------- L1, L2


async def test_given_peer_resets_inside_a_route_when_served_then_info_line_without_traceback_and_no_route_error(
    record: Any, serve: Any, caplog: pytest.LogCaptureFixture, ivr_routes: Any
) -> None:
    caplog.set_level(logging.INFO, logger="agi")
    async with serve(ivr_routes) as server:
        for _ in range(3):
            reader, writer = await _open(server.bound_port, record.env_lines)
            assert (await reader.readline()) == b"ANSWER\n"
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
            writer.transport.abort()
        for _ in range(200):
            if server.stats.active == 0:
                break
            await asyncio.sleep(0.01)
        assert server.stats.active == 0 and server.stats.route_errors == 0
        assert server.stats.peer_resets == 3
    assert not any(r.levelno >= logging.ERROR or r.exc_info for r in caplog.records)


async def test_given_flood_of_garbage_sessions_when_served_then_all_counted_but_few_log_lines(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agi")
    async with serve({}) as server:
        for i in range(40):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
            writer.write(f"GET /{i} HTTP/1.1\r\n\r\n".encode())
            await writer.drain()
            assert await _closed_by_server(reader)
            writer.close()
        assert server.stats.protocol_errors == 40
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert 1 <= len(warnings) <= 5


def test_given_log_limiter_when_window_passes_then_next_line_reports_what_was_left_out() -> None:
    now = [0.0]
    lim = LogLimiter(burst=2, window_s=60, clock=lambda: now[0])
    assert [lim.allow() for _ in range(5)] == [(True, 0), (True, 0), (False, 0), (False, 0), (False, 0)]
    now[0] = 61.0
    assert lim.allow() == (True, 3)


# ------------------------------------------------------------------------------ issue 16 D2


async def test_given_stock_asterisk_without_the_menu_sound_when_ivr_runs_then_keys_read_out_and_choice_still_works(
    record: Any, serve: Any, asterisk: Any, ivr_routes: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agi")
    script = {
        "ANSWER": ["200 result=0"],
        "SET VARIABLE HOTEL_IVR_MENU main": ["200 result=1"],
        f"STREAM FILE hello-world {ESCAPE_ALL}": ["200 result=-1 endpos=0"],  # file not found
        "GET VARIABLE PLAYBACKSTATUS": ["200 result=1 (FAILED)"],  # the channel still answers
        f"SAY DIGITS 12 {ESCAPE_ALL}": ["200 result=49"],  # the caller presses 1 while the keys are read
        "SET VARIABLE HOTEL_IVR_CHOICE 1": ["200 result=1"],
        "EXEC Stasis hotel-operator": ["200 result=0"],
    }
    async with serve(ivr_routes) as server:
        session = await asterisk(server.bound_port, record.env_lines,
                                 lambda c: script.get(c, ["510 Invalid or unknown command"]))
        assert session.commands == list(script)
        assert server.stats.route_errors == 0
    text = caplog.text
    assert "cannot play sound 'hello-world'" in text and "ended: agent" in text
    assert "caller_hangup" not in text


async def test_given_minus_one_then_511_when_stream_file_fails_then_it_is_a_hang_up_not_a_missing_sound(
    record: Any, serve: Any, asterisk: Any, ivr_routes: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agi")
    script = {
        "ANSWER": ["200 result=0"],
        "SET VARIABLE HOTEL_IVR_MENU main": ["200 result=1"],
        f"STREAM FILE hello-world {ESCAPE_ALL}": ["200 result=-1 endpos=2400"],
        "GET VARIABLE PLAYBACKSTATUS": ["511 Command Not Permitted on a dead channel or intercept routine"],
    }
    async with serve(ivr_routes) as server:
        session = await asterisk(server.bound_port, record.env_lines,
                                 lambda c: script.get(c, ["510 Invalid or unknown command"]))
        assert session.commands == list(script)
    assert "ended: caller_hangup" in caplog.text and "cannot play sound" not in caplog.text


@pytest.mark.parametrize(
    ("room", "desk", "ends"),
    [
        ("BUSY", "ANSWER", "ended: transfer via fallback_after_busy"),
        ("CHANUNAVAIL", "CONGESTION", "ended: transfer_failed via congestion"),
    ],
)
async def test_given_direct_dial_to_a_busy_room_when_dial_fails_then_front_desk_offered_and_end_reason_logged(
    record: Any, serve: Any, asterisk: Any, ivr_routes: Any, caplog: pytest.LogCaptureFixture,
    room: str, desk: str, ends: str,
) -> None:
    caplog.set_level(logging.INFO, logger="agi")
    statuses = iter([room, desk])
    script = {
        "ANSWER": ["200 result=0"],
        "SET VARIABLE HOTEL_IVR_MENU main": ["200 result=1"],
        f"STREAM FILE hello-world {ESCAPE_ALL}": ["200 result=52 endpos=100"],  # '4'
        "GET DATA silence/1 6000 3": ["200 result=12"],
        "SET VARIABLE HOTEL_IVR_EXIT direct_dial": ["200 result=1"],
        "EXEC Dial Local/412@from-internal,30": ["200 result=0"],
        "EXEC Dial Local/100@from-internal,30": ["200 result=0"],
        "HANGUP": ["200 result=1", "HANGUP"],
    }

    def reply(command: str) -> list[str]:
        if command == "GET VARIABLE DIALSTATUS":
            return [f"200 result=1 ({next(statuses)})"]
        return script.get(command, ["510 Invalid or unknown command"])

    async with serve(ivr_routes) as server:
        session = await asterisk(server.bound_port, record.env_lines, reply)
        assert session.closed_by_server and server.stats.route_errors == 0
    dials = [c for c in session.commands if c.startswith("EXEC Dial")]
    assert dials == ["EXEC Dial Local/412@from-internal,30", "EXEC Dial Local/100@from-internal,30"]
    assert session.commands.count("GET VARIABLE DIALSTATUS") == 2
    assert ("HANGUP" in session.commands) is (desk != "ANSWER")
    assert ends in caplog.text and f"DIALSTATUS={room}" in caplog.text
