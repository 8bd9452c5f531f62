"""Many calls at once, WebSocket outages, restarts, drains and several Asterisk servers."""

from __future__ import annotations

import asyncio
import random
import socket

from arikit import (
    call_of,
    echo_conversation,
    eventually,
    fast_client,
    make_settings,
    next_media_settings,
    our_tasks,
    running_manager,
    wait_forever,
)
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.calls.call import CallOptions
from ari_app.calls.manager import CallManager
from ari_app.calls.media import rtp_endpoint_factory
from ari_app.calls.service import make_managers, serve_managers
from ari_app.calls.state import CallState
from ari_app.settings import AsteriskServer, Settings
from ari_app.standin import AsteriskStandin
from models.calls import CallStatus, VoiceCall
from models.store import CallStore


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[VoiceCall]:
    async with sessions() as db:
        return list((await db.execute(select(VoiceCall).order_by(VoiceCall.id))).scalars())


async def test_given_50_concurrent_calls_with_random_hangups_then_everything_is_answered_cleaned_and_closed(
    standin: AsteriskStandin, settings: Settings, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """On SQLite and on the PostgreSQL at 127.0.0.1:5432 (skipped with a reason where none answers)."""
    store = CallStore(db_sessions)
    rng = random.Random(50)
    frames: dict[str, int] = {}
    async with running_manager(settings, store, echo_conversation(frames)) as manager:
        callers = [standin.place_call(caller_number=f"+1555000{i:04d}") for i in range(50)]
        await eventually(lambda: all(c in manager.calls for c in callers))
        await eventually(lambda: sum(c.state is CallState.ACTIVE for c in manager.calls.values()) == 50, 15)

        async def hang_up_later(cid: str) -> None:
            await asyncio.sleep(rng.uniform(0.05, 1.5))
            standin.hangup_caller(cid)

        async with asyncio.TaskGroup() as tg:
            for cid in callers:
                tg.create_task(hang_up_later(cid))
        await eventually(lambda: not manager.calls, 20)
        assert manager.stats.calls_started == 50
    answered = {
        r.path.split("/")[3] for r in standin.request_log if r.op == "channels.answer" and r.status == 204
    }
    assert answered == set(callers)
    made_em = {r.query["channelId"] for r in standin.request_log if r.op == "channels.externalMedia"}
    deleted = {
        r.path.split("/")[3] for r in standin.request_log if r.op == "channels.hangup" and r.status == 204
    }
    assert len(made_em) == 50 and made_em <= deleted
    made_bridges = {r.response["id"] for r in standin.request_log if r.op == "bridges.create"}
    destroyed = {
        r.path.split("/")[3] for r in standin.request_log if r.op == "bridges.destroy" and r.status == 204
    }
    assert len(made_bridges) == 50 and made_bridges == destroyed
    assert not standin.live_channels() and not standin.bridges
    all_rows = await rows(db_sessions)
    assert len(all_rows) == 50
    assert {r.channel_id for r in all_rows} == set(callers)
    assert all(r.status == CallStatus.COMPLETED and r.ended_at and r.duration_s for r in all_rows)
    assert sum(frames.values()) > 50 * 3  # audio flowed on the calls
    assert all(r.status < 400 for r in standin.request_log)
    assert our_tasks() == []


async def test_given_the_websocket_killed_mid_call_then_we_reconnect_keep_the_live_call_and_close_the_ended_one(
    standin: AsteriskStandin,
    settings: Settings,
    store: CallStore,
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    frames: dict[str, int] = {}
    async with running_manager(settings, store, echo_conversation(frames)) as manager:
        live = standin.place_call(caller_number="+15550000001")
        ending = standin.place_call(caller_number="+15550000002")
        live_call = await call_of(manager, live)
        ending_call = await call_of(manager, ending)
        await eventually(lambda: frames.get(live, 0) > 5 and frames.get(ending, 0) > 5)

        standin.refuse_websockets(503)  # keep the outage open until we say so
        await standin.drop_websockets()
        await eventually(lambda: not manager.connected.is_set())
        standin.hangup_caller(ending)  # ends while nobody listens: its events are lost
        assert not any(
            e.delivered
            for e in standin.event_log
            if e.event.get("channel", {}).get("id") == ending and e.event["type"] == "StasisEnd"
        )
        before = frames[live]
        await eventually(lambda: frames[live] > before + 10)  # media does not need the WebSocket
        standin.refuse_websockets(None)

        await eventually(lambda: manager.connected.is_set() and manager.reconciled.is_set())
        # the call that ended during the outage is closed; the live one goes on
        await asyncio.wait_for(ending_call.finished.wait(), 5)
        assert live_call.state is CallState.ACTIVE and live in manager.calls
        standin.send_dtmf(live, "5")
        assert await asyncio.wait_for(live_call.dtmf.get(), 2) == "5"
        standin.hangup_caller(live)
        await asyncio.wait_for(live_call.finished.wait(), 5)
        delays = manager.client.stats.reconnect_delays
    # reconnect: every wait came from the backoff (capped at 0.5 s here; see test_client for the
    # production schedule: first attempt within 0.5 s, three within 3.5 s)
    assert delays and all(d <= 0.5 for d in delays) and manager.client.stats.connects == 2
    all_rows = await rows(sqlite_sessions)
    assert len(all_rows) == 2  # no duplicate row for the live call
    by_channel = {r.channel_id: r for r in all_rows}
    assert by_channel[ending].end_reason == "ended_during_ari_outage"
    assert by_channel[ending].status == CallStatus.COMPLETED and by_channel[ending].ended_at is not None
    assert by_channel[live].end_reason == "caller_hangup"
    assert not standin.live_channels() and not standin.bridges
    assert manager.stats.reconciles == 2


async def test_given_a_restart_then_open_calls_are_readopted_and_leftovers_cleaned(
    standin: AsteriskStandin,
    settings: Settings,
    store: CallStore,
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """What a crashed earlier run leaves behind, built by hand: two callers in Stasis with open rows,
    its externalMedia channel and bridge; one of those callers hangs up while no service listens, and
    one more caller is in Stasis with no row (its StasisStart was never handled). The next run
    re-adopts the caller it has a row for (no second answer, same row), takes the unknown caller as a
    new call, deletes the leftovers and closes the row of the caller who left."""
    frames: dict[str, int] = {}
    server = settings.asterisk.servers()[0]
    previous = fast_client(server)
    stream = previous.events()
    await anext(stream)  # the earlier run's WebSocket
    first = standin.place_call(caller_number="+15550000011")
    gone = standin.place_call(caller_number="+15550000012")
    missed = standin.place_call(caller_number="+15550000013")
    first_row = await store.open_call(session_id="a" * 32, channel_id=first, caller_id="+15550000011")
    gone_row = await store.open_call(session_id="b" * 32, channel_id=gone, caller_id="+15550000012")
    bridge = await previous.create_bridge(name="hotel-operator-" + "a" * 32)
    await previous.external_media(
        app="hotel-operator",
        channel_id="hotelop-em-" + "a" * 32 + "-1",
        external_host="127.0.0.1:9",
        format="ulaw",
    )
    await eventually(lambda: standin.channels["hotelop-em-" + "a" * 32 + "-1"].app is not None)
    await previous.add_channel(bridge.id, [first, "hotelop-em-" + "a" * 32 + "-1"])
    await stream.aclose()
    await previous.close()  # the earlier run is gone
    await eventually(lambda: not standin.app_connected())
    standin.hangup_caller(gone)  # nobody hears this one leave
    standin.clear_logs()

    async with running_manager(settings, store, echo_conversation(frames)) as manager:
        await eventually(lambda: all(c in manager.calls for c in (first, missed)))
        again, taken = manager.calls[first], manager.calls[missed]
        await eventually(lambda: again.state is CallState.ACTIVE and taken.state is CallState.ACTIVE)
        assert again.adopted and again.row_id == first_row and again.session_id == "a" * 32
        assert not taken.adopted
        await eventually(lambda: frames.get(first, 0) > 5 and frames.get(missed, 0) > 5)
        assert "hotelop-em-" + "a" * 32 + "-1" not in standin.channels  # leftover deleted
        assert bridge.id not in standin.bridges  # leftover bridge destroyed
        standin.hangup_caller(first)
        standin.hangup_caller(missed)
        await asyncio.wait_for(again.finished.wait(), 5)
        await asyncio.wait_for(taken.finished.wait(), 5)
        assert manager.stats.calls_adopted == 2 and manager.stats.rows_closed_by_reconcile == 1
    all_rows = {r.channel_id: r for r in await rows(sqlite_sessions)}
    assert len(all_rows) == 3
    assert all_rows[gone].id == gone_row and all_rows[gone].end_reason == "ended_while_disconnected"
    assert all_rows[first].id == first_row and all_rows[first].end_reason == "caller_hangup"
    assert all_rows[missed].status == CallStatus.COMPLETED
    answered = [r.path for r in standin.request_log if r.op == "channels.answer"]
    assert answered == [f"/ari/channels/{missed}/answer"]  # the re-adopted caller is not answered again
    assert not standin.live_channels() and not standin.bridges


async def test_given_a_drain_then_new_calls_are_refused_and_live_calls_end_at_the_deadline(
    standin: AsteriskStandin,
    settings: Settings,
    store: CallStore,
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with running_manager(settings, store, wait_forever, drain_s=0.3) as manager:
        live = standin.place_call()
        call = await call_of(manager, live)
        await eventually(lambda: call.state is CallState.ACTIVE)
        drain = asyncio.get_running_loop().create_task(manager.drain(0.3))
        await eventually(lambda: manager._draining)
        late = standin.place_call()
        await eventually(lambda: late not in standin.channels)
        assert late not in manager.calls
        await drain
    hangups = {r.path.split("/")[3]: r.query for r in standin.request_log if r.op == "channels.hangup"}
    assert hangups[late] == {"reason": "congestion"}
    assert hangups[live] == {"reason": "normal"}
    (row,) = await rows(sqlite_sessions)
    assert (row.channel_id, row.status, row.end_reason) == (live, CallStatus.COMPLETED, "shutdown")
    assert not standin.live_channels() and not standin.bridges and our_tasks() == []


async def test_given_two_asterisk_servers_then_each_has_its_client_and_calls_are_tagged_with_the_server(
    standin: AsteriskStandin, store: CallStore, sqlite_sessions: async_sessionmaker[AsyncSession]
) -> None:
    second = AsteriskStandin(seed=9)
    second._epoch = standin._epoch  # both Asterisks hand out the very same channel ids
    await second.start()
    try:
        base = make_settings(standin, next_media_settings())
        settings = Settings(
            asterisk=base.asterisk.model_copy(
                update={
                    "name": "pbx-east",
                    "additional_servers": [
                        AsteriskServer(
                            name="pbx-west", ari_url=second.base_url, ari_password=SecretStr("hotel-secret")
                        )
                    ],
                }
            ),
            media=base.media,
        )
        managers = make_managers(
            settings,
            store,
            echo_conversation({}),
            rtp_endpoint_factory(settings.media),
            options=CallOptions(media_stasis_timeout_s=2.0),
            client_factory=fast_client,
        )
        stop = asyncio.Event()
        service = asyncio.get_running_loop().create_task(serve_managers(managers, stop, drain_s=2.0))
        await eventually(lambda: all(m.reconciled.is_set() for m in managers))
        east = standin.place_call(caller_number="+15550000021")
        west = second.place_call(caller_number="+15550000022")
        await eventually(
            lambda: all(any(c.state is CallState.ACTIVE for c in m.calls.values()) for m in managers)
        )
        assert east == west
        assert {m.server_name: list(m.calls) for m in managers} == {"pbx-east": [east], "pbx-west": [west]}
        standin.hangup_caller(east)
        second.hangup_caller(west)
        await eventually(lambda: all(not m.calls for m in managers))
        stop.set()
        await service
    finally:
        await second.stop()
    # (two Asterisks may hand out the same channel id: calls are told apart by server)
    tagged = {(r.asterisk_server, r.channel_id): r.status for r in await rows(sqlite_sessions)}
    assert tagged == {("pbx-east", east): CallStatus.COMPLETED, ("pbx-west", west): CallStatus.COMPLETED}
    async with sqlite_sessions() as db:
        assert await db.scalar(select(func.count()).select_from(VoiceCall)) == 2


async def test_given_the_websocket_drops_between_externalmedia_and_its_stasisstart_then_reconcile_recovers_it(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    standin.stasis_start_delay_s = 0.3
    frames: dict[str, int] = {}
    options = CallOptions(media_stasis_timeout_s=60.0)  # far beyond the test's own 5 s limit
    async with running_manager(settings, store, echo_conversation(frames), options=options) as manager:
        cid = standin.place_call()
        call = await call_of(manager, cid)
        await eventually(lambda: call.state is CallState.WAITING_MEDIA)
        standin.refuse_websockets(503)
        await standin.drop_websockets()
        em_id = call.em_id
        await eventually(lambda: em_id in standin.channels and standin.channels[em_id].app is not None)
        lost = [
            e
            for e in standin.event_log
            if e.event["type"] == "StasisStart" and e.event["channel"]["id"] == em_id
        ]
        assert lost and not lost[0].delivered  # its StasisStart went to nobody
        standin.refuse_websockets(None)
        await eventually(lambda: call.state is CallState.ACTIVE and frames.get(cid, 0) > 3)
        standin.hangup_caller(cid)
        await asyncio.wait_for(call.finished.wait(), 5)
    row = await store.get_call(call.row_id or 0)
    assert row is not None and row.end_reason == "caller_hangup"


async def test_given_asterisk_down_at_start_then_the_manager_waits_for_it_and_a_stop_is_prompt(
    store: CallStore,
) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    later = AsteriskStandin(port=port, seed=3)
    settings = make_settings(later, next_media_settings())
    server = settings.asterisk.servers()[0]
    manager = CallManager(
        settings,
        server,
        store,
        wait_forever,
        rtp_endpoint_factory(settings.media),
        client=fast_client(server),
    )
    task = asyncio.get_running_loop().create_task(manager.run(), name="test:manager")
    await eventually(lambda: manager.client.backoff.attempt >= 2)  # refused twice: transient, retried
    await later.start()  # Asterisk comes up
    try:
        await eventually(lambda: manager.reconciled.is_set())
        assert manager.asterisk_version == "22.10.1"
        await manager.drain(1.0)
        await asyncio.wait_for(task, 5)
    finally:
        await manager.client.close()
        await later.stop()
    # and a stop while Asterisk is still unreachable returns at once
    down = CallManager(
        settings,
        server,
        store,
        wait_forever,
        rtp_endpoint_factory(settings.media),
        client=fast_client(server),
    )
    task = asyncio.get_running_loop().create_task(down.run(), name="test:manager")
    await eventually(lambda: down.client.backoff.attempt >= 1)
    await down.drain(1.0)
    await asyncio.wait_for(task, 2)
    await down.client.close()
    assert our_tasks() == []
