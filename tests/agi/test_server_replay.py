"""FastAGI over real TCP, replaying what Asterisk 22 sent in ``records/fastagi-session.txt``."""

from __future__ import annotations

from typing import Any

from agi.server import ESCAPE_ALL, AgiChannel


async def probe_program(ch: AgiChannel) -> None:
    """What the recording's probe did, written against our channel API."""
    await ch.answer()
    name = await ch.get_variable("CHANNEL(name)")
    assert name == ch.env["agi_channel"]
    await ch.stream_file("hello-world")
    digits, timed_out = await ch.get_data("beep", 6000, 4)
    assert not timed_out
    await ch.say_digits(digits)
    await ch.verbose("fastagi probe says hi", 1)
    await ch.hangup()


def test_given_the_recording_when_parsed_then_22_env_lines_7_exchanges_and_a_trailing_hangup(record: Any) -> None:
    assert len(record.env_lines) == 22
    assert record.env_lines[0] == "agi_network: yes"
    assert record.env_lines[20] == "agi_accountcode: "
    assert [c for c, _ in record.exchanges][0] == "ANSWER"
    assert len(record.exchanges) == 7
    assert record.trailing == ["HANGUP"]


async def test_given_recorded_asterisk_when_probe_route_runs_then_commands_are_byte_identical_and_server_closes(
    record: Any, serve: Any, asterisk: Any
) -> None:
    async with serve({"ivr": probe_program}) as server:
        session = await asterisk(server.bound_port, record.env_lines, [r for _, r in record.exchanges], record.trailing)
        assert session.commands == [c for c, _ in record.exchanges]
        assert session.closed_by_server
        assert session.leftover == b""
        assert server.stats.by_route == {"ivr": 1}
        assert server.stats.route_errors == 0 and server.stats.protocol_errors == 0


async def test_given_route_that_hung_up_when_asterisk_never_sends_trailing_hangup_then_server_still_closes(
    record: Any, serve: Any, asterisk: Any
) -> None:
    async with serve({"ivr": probe_program}, linger_s=0.05) as server:
        session = await asterisk(server.bound_port, record.env_lines, [r for _, r in record.exchanges], [])
        assert session.closed_by_server


async def test_given_recorded_env_when_asking_for_unknown_route_then_closed_without_commands(
    record: Any, serve: Any, asterisk: Any
) -> None:
    env = [line.replace("agi_network_script: ivr", "agi_network_script: nope") for line in record.env_lines]
    async with serve({"ivr": probe_program}) as server:
        session = await asterisk(server.bound_port, env, lambda _c: ["200 result=0"])
        assert session.commands == []
        assert session.closed_by_server
        assert server.stats.unknown_routes == 1


async def test_given_caller_hangs_up_mid_prompt_when_route_continues_then_no_further_command_and_close(
    record: Any, serve: Any, asterisk: Any
) -> None:
    replies = [["200 result=0"], ["200 result=1 (PJSIP/guest-0000000e)"], ["HANGUP", "200 result=-1 endpos=3000"]]
    async with serve({"ivr": probe_program}) as server:
        session = await asterisk(server.bound_port, record.env_lines, replies)
        assert session.commands == ["ANSWER", "GET VARIABLE CHANNEL(name)", 'STREAM FILE hello-world ""']
        assert session.closed_by_server
        assert server.stats.route_errors == 0


async def test_given_ivr_route_with_recorded_env_when_caller_dials_room_412_then_stream_wait_getdata_and_dial(
    record: Any, serve: Any, asterisk: Any, ivr_routes: Any
) -> None:
    script = {
        "ANSWER": ["200 result=0"],
        "SET VARIABLE HOTEL_IVR_MENU main": ["200 result=1"],
        f"STREAM FILE hello-world {ESCAPE_ALL}": ["200 result=0 endpos=11234"],
        "WAIT FOR DIGIT 10000": ["200 result=52"],  # '4'
        "GET DATA silence/1 6000 3": ["200 result=12"],  # then 1, 2 and '#'
        "SET VARIABLE HOTEL_IVR_EXIT direct_dial": ["200 result=1"],
        "EXEC Dial Local/412@from-internal,30": ["200 result=0"],
        "GET VARIABLE DIALSTATUS": ["200 result=1 (ANSWER)"],  # Dial's result alone says nothing
    }
    async with serve(ivr_routes) as server:
        session = await asterisk(server.bound_port, record.env_lines, lambda c: script.get(c, ["510 Invalid or unknown command"]))
        assert session.commands == list(script)
        assert session.closed_by_server
        assert server.stats.route_errors == 0


async def test_given_ivr_route_when_caller_presses_2_during_prompt_then_front_desk_dialled(
    record: Any, serve: Any, asterisk: Any, ivr_routes: Any
) -> None:
    script = {
        "ANSWER": ["200 result=0"],
        "SET VARIABLE HOTEL_IVR_MENU main": ["200 result=1"],
        f"STREAM FILE hello-world {ESCAPE_ALL}": ["200 result=50 endpos=4000"],  # '2'
        "SET VARIABLE HOTEL_IVR_CHOICE 2": ["200 result=1"],
        "EXEC Dial Local/100@from-internal,30": ["200 result=0"],
        "GET VARIABLE DIALSTATUS": ["200 result=1 (ANSWER)"],
    }
    async with serve(ivr_routes) as server:
        session = await asterisk(server.bound_port, record.env_lines, lambda c: script.get(c, ["510 Invalid or unknown command"]))
        assert session.commands == list(script)


async def test_given_ivr_route_when_nothing_pressed_then_three_waits_then_operator_dial(
    record: Any, serve: Any, asterisk: Any, ivr_routes: Any
) -> None:
    def reply(command: str) -> list[str]:
        if command.startswith("STREAM FILE"):
            return ["200 result=0 endpos=100"]
        if command.startswith("WAIT FOR DIGIT"):
            return ["200 result=0"]
        if command == "GET VARIABLE DIALSTATUS":
            return ["200 result=1 (ANSWER)"]
        return ["200 result=1"] if command.startswith("SET") else ["200 result=0"]

    async with serve(ivr_routes) as server:
        session = await asterisk(server.bound_port, record.env_lines, reply)
    waits = [c for c in session.commands if c.startswith("WAIT FOR DIGIT")]
    assert waits == ["WAIT FOR DIGIT 10000"] * 3
    assert session.commands.count("STREAM FILE no-input 0123456789*#") == 2
    assert session.commands[-3:] == [
        "SET VARIABLE HOTEL_IVR_EXIT timeout", "EXEC Dial Local/100@from-internal,30", "GET VARIABLE DIALSTATUS"
    ]


async def test_given_operator_route_when_called_then_channel_goes_to_stasis_app(
    record: Any, serve: Any, asterisk: Any, ivr_routes: Any
) -> None:
    env = [line.replace("agi_network_script: ivr", "agi_network_script: operator") for line in record.env_lines]
    env.append("agi_arg_1: vip")
    async with serve(ivr_routes) as server:
        session = await asterisk(server.bound_port, env, [["200 result=0"]])
        assert session.commands == ["EXEC Stasis hotel-operator,vip"]
        assert session.closed_by_server
