"""The screening lists and the calls they refused, readable by the desk over the API (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voicekit import add_call, context, served

from ari_app.screening import set_entry

NOW = datetime.now(UTC).replace(microsecond=0)


async def test_given_lists_and_screened_calls_when_read_then_entries_and_refused_calls_are_shown(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await set_entry(db_sessions, "+1 555-0100", "block", "abusive", NOW)
    await set_entry(db_sessions, "+15550199", "allow", "staff", NOW)
    await add_call(db_sessions, "b1", started=NOW - timedelta(minutes=5), caller="+15550100", end_reason="blocked")
    await add_call(db_sessions, "r1", started=NOW - timedelta(minutes=3), caller="+15550123", end_reason="rate_limited")
    await add_call(db_sessions, "ok", started=NOW - timedelta(minutes=2), caller="+15550123", end_reason="caller_hangup")
    await add_call(db_sessions, "old", started=NOW - timedelta(days=3), caller="+15550100", end_reason="blocked")
    async with served(context(db_sessions)) as client:
        body = await (await client.get("/voice/callers")).json()
        blocks = await (await client.get("/voice/callers?kind=block")).json()
        bad = await client.get("/voice/callers?kind=maybe")
        bad_body = await bad.json()
        week = await (await client.get("/voice/callers?hours=168")).json()
    assert {(e["kind"], e["note"]) for e in body["entries"]} == {("block", "abusive"), ("allow", "staff")}
    assert [e["note"] for e in blocks["entries"]] == ["abusive"]
    assert [(c["session_id"], c["end_reason"]) for c in body["screened_calls"]] == [("r1", "rate_limited"), ("b1", "blocked")]
    assert [c["session_id"] for c in week["screened_calls"]] == ["r1", "b1", "old"]
    assert bad.status == 422 and "kind" in bad_body["error"]


async def test_given_a_token_configured_when_callers_asked_without_it_then_refused(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with served(context(db_sessions, tokens=["desk-token-123456"])) as client:
        assert (await client.get("/voice/callers")).status == 401
        ok = await client.get("/voice/callers", headers={"Authorization": "Bearer desk-token-123456"})
        assert ok.status == 200
