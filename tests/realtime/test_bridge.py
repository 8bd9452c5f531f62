"""RealtimeBridge through the real ``openai`` client against a local GA-protocol WebSocket server.

The fake server parses everything the bridge sends with ``openai.types.realtime`` (unknown fields
rejected) and checks every event it sends against the server-event models, so these tests pin the
wire protocol as the installed SDK documents it. Caller audio comes from an in-memory media port whose
playout advances only when a test says so, which makes "how much did the caller hear" exact.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fake_realtime import FakeRealtimeConnection, FakeRealtimeServer, Script, echo_script
from realtimesupport import (
    FakeCallSession,
    ScriptedMedia,
    brain_settings,
    bridge_tasks,
    ulaw_frames,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.realtime import (
    OutcomeReason,
    RealtimeBridge,
    RealtimeConfigError,
    RealtimeConnectError,
    RealtimeConnectionLost,
    RealtimeServerError,
    RealtimeTimeout,
)
from ari_app.session import CallInfo
from ari_app.tools.registry import ToolRegistry
from models.calls import ConversationTurn
from models.store import CallStore

TOOLS = ToolRegistry().openai_tools()


class RecordingRunner:
    """A tool runner that records its calls and answers from a table."""

    def __init__(self, answers: dict[str, tuple[bool, str, dict[str, Any] | None]] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answers = answers or {}
        self.called = asyncio.Event()

    async def __call__(self, name: str, arguments_json: str) -> tuple[bool, str, dict[str, Any] | None]:
        self.calls.append((name, json.loads(arguments_json)))
        self.called.set()
        return self.answers.get(name, (True, json.dumps({"ok": True, "tool": name}), None))


@pytest.fixture
def runner() -> RecordingRunner:
    return RecordingRunner()


async def run_bridge(
    script: Script,
    session: FakeCallSession,
    runner: RecordingRunner,
    *,
    during: Any = None,
    server_kwargs: dict[str, Any] | None = None,
    **settings: Any,
) -> tuple[Any, FakeRealtimeServer]:
    """Run one bridge session against ``script``; ``during(server)`` acts as the test's hands meanwhile."""
    async with FakeRealtimeServer(script, **(server_kwargs or {})) as server:
        bridge = RealtimeBridge(
            brain_settings(server.base_url, **settings), runner, "You are the hotel operator.", TOOLS
        )
        async with asyncio.timeout(15), asyncio.TaskGroup() as tg:
            task = tg.create_task(bridge.run(session))
            if during is not None:
                hands = tg.create_task(during(server))
                # A bridge that ended early must fail the test, not leave the hands waiting forever.
                task.add_done_callback(lambda _: hands.cancel())
        outcome = task.result()
        assert bridge_tasks() == [], "every bridge task ends before run() returns"
    return outcome, server


@pytest.fixture
async def session(store: CallStore, call_info: CallInfo) -> AsyncIterator[FakeCallSession]:
    yield FakeCallSession(media=ScriptedMedia(ulaw_frames(10)), store=store, info=call_info)


def no_protocol_errors(server: FakeRealtimeServer) -> None:
    assert server.validation_errors == []
    assert server.script_errors == []


# ---- session setup and audio ---------------------------------------------------------------------


async def test_given_a_call_when_bridge_connects_then_session_update_sets_pcmu_server_vad_voice_and_tools(
    session: FakeCallSession, runner: RecordingRunner
) -> None:
    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        session.dtmf.put_nowait("0")
        await conn.closed.wait()

    _, server = await run_bridge(script, session, runner)

    no_protocol_errors(server)
    conn = server.connections[0]
    assert conn.model == "gpt-realtime"
    assert conn.authorization == "Bearer sk-test-not-a-secret"
    assert conn.session_update is not None
    cfg: Any = conn.session_update.session
    assert cfg.type == "realtime"
    assert cfg.audio.input.format.type == "audio/pcmu"
    assert cfg.audio.output.format.type == "audio/pcmu"
    assert cfg.audio.input.turn_detection.type == "server_vad"
    assert cfg.audio.output.voice == "marin"
    assert cfg.instructions == "You are the hotel operator."
    assert cfg.tool_choice == "auto"
    assert [t.name for t in cfg.tools] == [t["function"]["name"] for t in TOOLS]
    assert all(t.type == "function" and t.parameters for t in cfg.tools)


async def test_given_caller_frames_and_agent_deltas_when_bridged_then_both_directions_are_byte_exact(
    store: CallStore, call_info: CallInfo, runner: RecordingRunner
) -> None:
    caller = ulaw_frames(10)
    # Deltas of awkward sizes: the bridge must neither drop nor pad any of them.
    agent_chunks = [
        bytes([i % 256 for i in range(300)]),
        bytes([200 - i % 90 for i in range(517)]),
        b"\x7f" * 23,
    ]
    media = ScriptedMedia(caller)
    session = FakeCallSession(media=media, store=store, info=call_info)
    heard: dict[str, bytes] = {}

    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        heard["audio"] = await conn.audio(len(caller) * 160)
        await conn.speech_started("item_in_1")
        await conn.speech_stopped("item_in_1", audio_end_ms=200)
        await conn.response_created("resp_1")
        for chunk in agent_chunks:
            await conn.audio_delta("resp_1", "item_out_1", chunk)
        await conn.audio_done("resp_1", "item_out_1")
        await conn.response_done("resp_1")
        await conn.closed.wait()

    async def listen_then_press(server: FakeRealtimeServer) -> None:
        await media.wait_played(sum(map(len, agent_chunks)))
        session.dtmf.put_nowait("9")

    outcome, server = await run_bridge(script, session, runner, during=listen_then_press)

    no_protocol_errors(server)
    assert heard["audio"] == b"".join(caller)
    appends = [e for e in server.received if e.type == "input_audio_buffer.append"]
    assert [len(base64.b64decode(e.audio)) for e in appends] == [800, 800]  # 100 ms batches
    assert media.played_bytes == b"".join(agent_chunks)
    assert all(len(p) % 160 == 0 for p in media.played[:-1]), "only the item's tail may be a partial frame"
    assert outcome.reason is OutcomeReason.MENU


# ---- barge-in -------------------------------------------------------------------------------------


async def test_given_agent_talking_when_caller_speaks_then_playout_flushes_and_truncate_says_ms_heard(
    sqlite_sessions: async_sessionmaker[AsyncSession],
    store: CallStore,
    call_info: CallInfo,
    runner: RecordingRunner,
) -> None:
    media = ScriptedMedia(ulaw_frames(5), autoplay=False)
    session = FakeCallSession(media=media, store=store, info=call_info)
    heard_enough = asyncio.Event()
    all_sent = asyncio.Event()
    sent: dict[str, Any] = {}

    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        await conn.response_created("resp_1")
        await conn.audio_delta("resp_1", "item_out_1", b"\x11" * 1600)  # 200 ms of agent audio
        await heard_enough.wait()
        await conn.speech_started("item_in_2", audio_start_ms=400)
        sent["truncate"] = await conn.expect("conversation.item.truncate")
        sent["flushed_before_truncate"] = media.flushes
        sent["cancel"] = await conn.expect("response.cancel")
        # The service had already cancelled (interrupt_response): the race error must not end the call.
        await conn.error(
            "no active response",
            code="response_cancel_not_active",
            error_type="invalid_request_error",
            event_id=sent["cancel"].event_id,
        )
        await conn.audio_delta("resp_1", "item_out_1", b"\x22" * 320)  # in flight before the cancel
        await conn.audio_delta("resp_1", "item_out_2", b"\x23" * 320)  # a new item of the cancelled response
        await conn.agent_transcript("resp_1", "item_out_1", "Our breakfast is served from seven until")
        await conn.response_done("resp_1", status="cancelled")
        all_sent.set()
        await conn.closed.wait()

    async def caller_hears_some(server: FakeRealtimeServer) -> None:
        await media.wait_played(1600)
        media.advance(7)  # 140 ms reached the caller
        heard_enough.set()
        await all_sent.wait()
        await asyncio.sleep(0.05)  # let the bridge take in what is on the wire
        session.dtmf.put_nowait("1")

    outcome, server = await run_bridge(script, session, runner, during=caller_hears_some)

    no_protocol_errors(server)
    assert sent["flushed_before_truncate"] == 1, "playout is flushed before the service is told"
    assert media.utterances[0].cancelled and media.utterances[0].frames_sent == 7
    truncate = sent["truncate"]
    assert (truncate.item_id, truncate.content_index, truncate.audio_end_ms) == ("item_out_1", 0, 140)
    assert sent["cancel"].response_id == "resp_1"
    assert media.played_bytes == b"\x11" * 1600, "audio of the interrupted response is not played"
    assert outcome.reason is OutcomeReason.MENU and outcome.error is None
    async with sqlite_sessions() as db:
        turn = (await db.execute(select(ConversationTurn))).scalars().one()
    assert (turn.role, turn.interrupted, turn.timings["heard_ms"]) == ("agent", True, 140)


# ---- tools ----------------------------------------------------------------------------------------


async def test_given_a_function_call_when_tool_runs_then_output_goes_back_and_response_create_follows(
    session: FakeCallSession,
) -> None:
    runner = RecordingRunner(
        {
            "check_availability": (True, '{"rooms": ["double"]}', None),
            "end_call": (True, '{"ok": true}', {"kind": "hangup", "reason": "done"}),
        }
    )
    seen: dict[str, Any] = {}
    args = {"check_in": "2031-05-01", "check_out": "2031-05-03", "adults": 2}

    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        await conn.response_created("resp_1")
        await conn.function_call("resp_1", "item_fc_1", "call_1", "check_availability", json.dumps(args))
        seen["output"] = await conn.expect("conversation.item.create")
        await conn.response_done("resp_1")
        seen["create"] = await conn.expect("response.create")
        await conn.response_created("resp_2")
        await conn.function_call("resp_2", "item_fc_2", "call_2", "end_call", '{"reason": "caller done"}')
        seen["end_output"] = await conn.expect("conversation.item.create")
        await conn.response_done("resp_2")
        await conn.closed.wait()

    outcome, server = await run_bridge(script, session, runner)

    no_protocol_errors(server)
    assert runner.calls == [("check_availability", args), ("end_call", {"reason": "caller done"})]
    item = seen["output"].item
    assert (item.type, item.call_id, item.output) == (
        "function_call_output",
        "call_1",
        '{"rooms": ["double"]}',
    )
    assert seen["create"].type == "response.create"
    assert seen["end_output"].item.call_id == "call_2"
    assert outcome.reason is OutcomeReason.ACTION
    assert outcome.action == {"kind": "hangup", "reason": "done"}
    later = [e.type for e in server.received[server.received.index(seen["end_output"]) + 1 :]]
    assert "response.create" not in later, "a hang-up asks the model for nothing more"


@pytest.mark.parametrize(
    "arguments",
    ['{"department": 5}', '{"department": "front desk", "floor": 3}', '{"department": ', "[1, 2]"],
    ids=["wrong-type", "unknown-arg", "broken-json", "not-an-object"],
)
async def test_given_invalid_tool_arguments_when_called_then_model_gets_error_and_nothing_runs(
    session: FakeCallSession, runner: RecordingRunner, arguments: str
) -> None:
    seen: dict[str, Any] = {}

    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        await conn.response_created("resp_1")
        await conn.function_call("resp_1", "item_fc_1", "call_1", "transfer_to_human", arguments)
        await conn.response_done("resp_1")
        seen["output"] = await conn.expect("conversation.item.create")
        seen["create"] = await conn.expect("response.create")
        session.dtmf.put_nowait("0")
        await conn.closed.wait()

    outcome, server = await run_bridge(script, session, runner)

    no_protocol_errors(server)
    assert runner.calls == []
    output = json.loads(seen["output"].item.output)
    assert output["ok"] is False and "transfer_to_human" in output["error"]
    assert seen["create"].type == "response.create", "the model gets a chance to recover"
    assert outcome.reason is OutcomeReason.MENU


async def test_given_transfer_action_when_agent_is_still_speaking_then_bridge_waits_for_playout_first(
    store: CallStore, call_info: CallInfo
) -> None:
    media = ScriptedMedia(ulaw_frames(5), autoplay=False)
    session = FakeCallSession(media=media, store=store, info=call_info)
    runner = RecordingRunner({"transfer_to_human": (True, "{}", {"kind": "transfer", "extension": "100"})})
    finished = asyncio.Event()

    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        await conn.response_created("resp_1")
        await conn.audio_delta("resp_1", "item_out_1", b"\x33" * 480)
        await conn.function_call(
            "resp_1", "item_fc_1", "call_1", "transfer_to_human", '{"department": "front desk"}'
        )
        await conn.expect("conversation.item.create")
        await conn.response_done("resp_1")
        await conn.closed.wait()
        finished.set()

    async def play_slowly(server: FakeRealtimeServer) -> None:
        await media.wait_played(480)
        await runner.called.wait()
        await asyncio.sleep(0.05)
        assert not finished.is_set(), "the bridge must not hand over while the agent is mid-sentence"
        media.advance(3)

    outcome, server = await run_bridge(script, session, runner, during=play_slowly)

    no_protocol_errors(server)
    assert media.utterances[0].frames_sent == 3
    assert outcome.reason is OutcomeReason.ACTION and outcome.action == {
        "kind": "transfer",
        "extension": "100",
    }


# ---- failures -------------------------------------------------------------------------------------


async def test_given_server_error_event_when_bridged_then_outcome_failed_and_tasks_ended(
    session: FakeCallSession, runner: RecordingRunner
) -> None:
    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        await conn.error("The server had an error", code="server_error", error_type="server_error")
        await conn.closed.wait()

    outcome, server = await run_bridge(script, session, runner)

    no_protocol_errors(server)
    assert outcome.failed
    assert isinstance(outcome.error, RealtimeServerError)
    assert outcome.error.code == "server_error" and outcome.error.remote and outcome.error.retryable
    assert session.media.flushes >= 1


async def test_given_session_update_rejected_when_bridged_then_outcome_blames_our_request(
    session: FakeCallSession, runner: RecordingRunner
) -> None:
    async def script(conn: FakeRealtimeConnection) -> None:
        update = await conn.expect("session.update")
        await conn.error(
            "Unknown voice",
            code="invalid_value",
            error_type="invalid_request_error",
            event_id=update.event_id,
        )
        await conn.closed.wait()

    outcome, _ = await run_bridge(script, session, runner, server_kwargs={"answer_session_update": False})

    assert outcome.failed and isinstance(outcome.error, RealtimeServerError)
    assert outcome.error.client_event_type == "session.update"
    assert not outcome.error.remote and not outcome.error.retryable


@pytest.mark.parametrize("how", ["drop", "close"])
async def test_given_connection_lost_when_bridged_then_outcome_failed_and_tasks_ended(
    session: FakeCallSession, runner: RecordingRunner, how: str
) -> None:
    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        await conn.audio(160)
        await (conn.drop() if how == "drop" else conn.close(code=1011))

    outcome, _ = await run_bridge(script, session, runner)

    assert outcome.failed
    assert isinstance(outcome.error, RealtimeConnectionLost) and outcome.error.retryable


async def test_given_no_session_updated_when_timeout_passes_then_outcome_failed_with_timeout(
    session: FakeCallSession, runner: RecordingRunner
) -> None:
    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        await conn.closed.wait()

    outcome, _ = await run_bridge(
        script, session, runner, server_kwargs={"answer_session_update": False}, step_timeout_s=0.2
    )

    assert outcome.failed and isinstance(outcome.error, RealtimeTimeout)
    assert "session.updated" in str(outcome.error)


async def test_given_nothing_listening_when_bridge_connects_then_outcome_failed_to_connect(
    session: FakeCallSession, runner: RecordingRunner, unused_tcp_port: int
) -> None:
    bridge = RealtimeBridge(brain_settings(f"http://127.0.0.1:{unused_tcp_port}/v1"), runner, "hi", TOOLS)

    outcome = await bridge.run(session)

    assert outcome.failed and isinstance(outcome.error, RealtimeConnectError)
    assert bridge_tasks() == []


async def test_given_no_api_key_when_run_then_outcome_failed_as_our_configuration(
    session: FakeCallSession, runner: RecordingRunner
) -> None:
    bridge = RealtimeBridge(brain_settings("http://127.0.0.1:9/v1", openai_api_key=None), runner, "hi", TOOLS)

    outcome = await bridge.run(session)

    assert outcome.failed and isinstance(outcome.error, RealtimeConfigError) and not outcome.error.remote


async def test_given_caller_hangs_up_when_bridged_then_outcome_caller_gone(
    session: FakeCallSession, runner: RecordingRunner
) -> None:
    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        await conn.audio(1600)
        session.media.hang_up()
        await conn.closed.wait()

    outcome, server = await run_bridge(script, session, runner)

    no_protocol_errors(server)
    assert outcome.reason is OutcomeReason.CALLER_GONE


# ---- DTMF -----------------------------------------------------------------------------------------


async def test_given_agent_talking_when_caller_presses_key_then_outcome_menu_and_agent_silenced(
    store: CallStore, call_info: CallInfo, runner: RecordingRunner
) -> None:
    media = ScriptedMedia(ulaw_frames(5), autoplay=False)
    session = FakeCallSession(media=media, store=store, info=call_info)

    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        await conn.response_created("resp_1")
        await conn.audio_delta("resp_1", "item_out_1", b"\x44" * 800)
        await conn.closed.wait()

    async def press(server: FakeRealtimeServer) -> None:
        await media.wait_played(800)
        session.dtmf.put_nowait("#")

    outcome, server = await run_bridge(script, session, runner, during=press)

    no_protocol_errors(server)
    assert outcome.menu_requested and outcome.digit == "#"
    assert media.flushes >= 1 and media.utterances[0].cancelled
    assert server.connections[0].closed.is_set()


async def test_given_key_pressed_while_a_transfer_is_ending_then_the_key_wins(
    store: CallStore, call_info: CallInfo
) -> None:
    media = ScriptedMedia(ulaw_frames(5), autoplay=False)
    session = FakeCallSession(media=media, store=store, info=call_info)
    runner = RecordingRunner({"transfer_to_human": (True, "{}", {"kind": "transfer", "extension": "100"})})

    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        await conn.response_created("resp_1")
        await conn.audio_delta("resp_1", "item_out_1", b"\x66" * 800)
        await conn.function_call("resp_1", "item_fc_1", "call_1", "transfer_to_human", "{}")
        await conn.expect("conversation.item.create")
        await conn.response_done("resp_1")
        await conn.closed.wait()

    async def press_during_goodbye(server: FakeRealtimeServer) -> None:
        await media.wait_played(800)
        await runner.called.wait()
        session.dtmf.put_nowait("5")  # the transfer is decided, its announcement still playing

    outcome, server = await run_bridge(script, session, runner, during=press_during_goodbye)

    no_protocol_errors(server)
    assert runner.calls == [("transfer_to_human", {})]
    assert outcome.menu_requested and outcome.digit == "5" and outcome.action is None
    assert media.utterances[0].cancelled


# ---- turns ----------------------------------------------------------------------------------------


async def test_given_a_conversation_when_transcripts_arrive_out_of_order_then_turns_stored_in_call_order(
    sqlite_sessions: async_sessionmaker[AsyncSession],
    store: CallStore,
    call_info: CallInfo,
    runner: RecordingRunner,
) -> None:
    media = ScriptedMedia(ulaw_frames(10))
    session = FakeCallSession(media=media, store=store, info=call_info)

    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        await conn.audio(1600)
        await conn.speech_started("item_in_1")
        await conn.speech_stopped("item_in_1", audio_end_ms=200)
        await conn.response_created("resp_1")
        await conn.audio_delta("resp_1", "item_out_1", b"\x55" * 320)
        await conn.audio_done("resp_1", "item_out_1")
        await conn.agent_transcript("resp_1", "item_out_1", "We have a double room for those nights.")
        await conn.response_done("resp_1")
        await asyncio.sleep(0.05)  # let the bridge take in the whole response first
        # Input transcription runs beside the response and may land after it.
        await conn.caller_transcript(
            "item_in_1", "Do you have a room on May first? My card is 4111 1111 1111 1111"
        )
        await asyncio.sleep(0.05)
        media.hang_up()
        await conn.closed.wait()

    outcome, server = await run_bridge(script, session, runner)

    no_protocol_errors(server)
    async with sqlite_sessions() as db:
        turns = (
            (
                await db.execute(
                    select(ConversationTurn)
                    .where(ConversationTurn.call_id == call_info.call_row_id)
                    .order_by(ConversationTurn.turn_number)
                )
            )
            .scalars()
            .all()
        )
    assert [(t.role, t.turn_number) for t in turns] == [("caller", 1), ("agent", 2)]
    assert "4111 1111 1111 1111" not in turns[0].content, "card numbers are masked before storing"
    assert turns[1].content == "We have a double room for those nights."
    assert turns[1].latency_ms is not None and turns[1].latency_ms >= 0
    assert turns[1].timings["audio_ms"] == 40 and not turns[1].interrupted
    assert outcome.reason is OutcomeReason.CALLER_GONE and outcome.turns_stored == 2


async def test_given_a_hold_when_run_again_then_earlier_turns_are_replayed_as_history(
    store: CallStore, call_info: CallInfo
) -> None:
    runner = RecordingRunner({"play_hold_music": (True, "{}", {"kind": "hold", "seconds": 30})})
    session = FakeCallSession(media=ScriptedMedia(ulaw_frames(5)), store=store, info=call_info)
    replayed: list[Any] = []

    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        if len(conn.server.connections) == 1:
            await conn.audio(800)
            await conn.speech_stopped("item_in_1")
            await conn.caller_transcript("item_in_1", "Can you hold on, I need my diary.")
            await conn.response_created("resp_1")
            await conn.agent_transcript("resp_1", "item_out_1", "Of course, I'll put you on hold.")
            await conn.function_call("resp_1", "item_fc_1", "call_1", "play_hold_music", '{"seconds": 30}')
            await conn.expect("conversation.item.create")
            await conn.response_done("resp_1")
        else:
            replayed.append(await conn.expect("conversation.item.create"))
            replayed.append(await conn.expect("conversation.item.create"))
            session.dtmf.put_nowait("0")
        await conn.closed.wait()

    async with FakeRealtimeServer(script) as server:
        bridge = RealtimeBridge(brain_settings(server.base_url), runner, "hi", TOOLS)
        first = await bridge.run(session)
        session.media = ScriptedMedia(ulaw_frames(5))
        second = await bridge.run(session)

    no_protocol_errors(server)
    assert first.reason is OutcomeReason.ACTION and first.action == {"kind": "hold", "seconds": 30}
    assert second.menu_requested
    assert [(i.item.role, i.item.content[0].text) for i in replayed] == [
        ("user", "Can you hold on, I need my diary."),
        ("assistant", "Of course, I'll put you on hold."),
    ]


# ---- configuration and the demo server ------------------------------------------------------------


async def test_given_a_websocket_url_override_when_connecting_then_it_wins_over_the_http_base_url(
    session: FakeCallSession, runner: RecordingRunner, unused_tcp_port: int
) -> None:
    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        session.dtmf.put_nowait("0")
        await conn.closed.wait()

    async with FakeRealtimeServer(script) as server:
        settings = brain_settings(
            f"http://127.0.0.1:{unused_tcp_port}/v1",  # nothing listens here
            realtime_websocket_url=server.base_url.replace("http://", "ws://"),
        )
        outcome = await RealtimeBridge(settings, runner, "hi", TOOLS).run(session)

    no_protocol_errors(server)
    assert outcome.menu_requested and len(server.connections) == 1


async def test_given_the_demo_echo_server_when_caller_speaks_a_second_then_the_same_audio_comes_back(
    store: CallStore, call_info: CallInfo, runner: RecordingRunner
) -> None:
    caller = ulaw_frames(50)  # one second: one echo turn
    media = ScriptedMedia(caller)
    session = FakeCallSession(media=media, store=store, info=call_info)

    async def listen(server: FakeRealtimeServer) -> None:
        await media.wait_played(8000)
        session.dtmf.put_nowait("*")

    outcome, server = await run_bridge(echo_script, session, runner, during=listen)

    no_protocol_errors(server)
    assert media.played_bytes == b"".join(caller)
    assert outcome.menu_requested
