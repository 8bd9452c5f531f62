"""A stopping service commits the turns still being written before it closes the database (issue 16:
turns stored exactly once; the group commit in models/group_commit.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from e2e_support import wait_for
from sqlalchemy import select

from ari_app.demo import demo_settings
from ari_app.service import build_service
from ari_app.settings import load_settings
from ari_app.standin.server import AsteriskStandin
from models.calls import ConversationTurn
from models.db import make_engine, session_factory


async def test_given_a_turn_still_being_written_when_the_service_stops_then_it_is_committed_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "HOTEL_OPERATOR_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'stop.db'}",
        "HOTEL_OPERATOR_MEDIA__PORT_MIN": "43700",
        "HOTEL_OPERATOR_MEDIA__PORT_MAX": "43799",
    }
    async with AsteriskStandin(user="hotel", password="pw") as standin:
        cfg = demo_settings(load_settings(None, env=env), standin, "pw")
    service = await build_service(cfg, load_speech=False)  # Asterisk is gone: it keeps retrying
    task = asyncio.create_task(service.run())
    store = service.store
    real_write = store.writes._write_batch

    async def slow_write(writes: list[Any]) -> None:
        await asyncio.sleep(0.5)  # a database that is slow at the moment of the stop
        await real_write(writes)

    monkeypatch.setattr(store.writes, "_write_batch", slow_write)
    try:
        await wait_for(lambda: service.http_port is not None, 10, "HTTP up")
        call_id = await store.open_call(session_id="stop-1", channel_id="c-stop")
        call = asyncio.create_task(store.add_turn(call_id, "agent", "Goodbye, and thank you"))
        await asyncio.sleep(0)
        call.cancel()  # the call ends while its last turn is written
    finally:
        service.request_stop()
        await asyncio.wait_for(task, 30)
    engine = make_engine(env["HOTEL_OPERATOR_DATABASE__URL"])
    try:
        async with session_factory(engine)() as db:
            stored = (await db.execute(select(ConversationTurn.content))).scalars().all()
    finally:
        await engine.dispose()
    assert stored == ["Goodbye, and thank you"]
