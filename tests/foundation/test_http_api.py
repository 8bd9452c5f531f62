"""The HTTP API over a real socket: health, metrics, calls, and who may see them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.http_api import ApiContext, build_app
from ari_app.metrics import Metrics, ServerView
from models.store import CallStore


async def _client(ctx: ApiContext) -> TestClient:  # type: ignore[type-arg]
    client = TestClient(TestServer(build_app(ctx), host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def store(sqlite_sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[CallStore]:
    yield CallStore(sqlite_sessions)


async def test_given_a_finished_call_when_api_asked_then_call_and_turns_are_listed(store: CallStore) -> None:
    cid = await store.open_call(session_id="abc", channel_id="1.1", caller_id="+1555")
    await store.add_turn(cid, "caller", "hello", latency_ms=None)
    await store.add_turn(cid, "agent", "Hi, how can I help?", latency_ms=620)
    await store.close_call(cid)
    client = await _client(ApiContext(sessions=store.sessions, metrics=Metrics(), tokens=[]))
    try:
        calls = await (await client.get("/api/calls")).json()
        assert [c["session_id"] for c in calls] == ["abc"]
        detail = await (await client.get("/api/calls/abc")).json()
        assert [t["content"] for t in detail["turns"]] == ["hello", "Hi, how can I help?"]
        assert (await client.get("/api/calls/missing")).status == 404
        assert (await client.get("/api/calls?limit=x")).status == 400
        stats = await (await client.get("/api/analytics")).json()
        assert stats["calls_by_status"] == {"completed": 1}
        assert stats["avg_turn_latency_ms"] == 620.0
    finally:
        await client.close()


async def test_given_tokens_configured_when_no_token_sent_then_api_refuses(store: CallStore) -> None:
    client = await _client(ApiContext(sessions=store.sessions, metrics=Metrics(), tokens=["s3cret"]))
    try:
        assert (await client.get("/api/calls")).status == 401
        assert (await client.get("/api/calls", headers={"Authorization": "Bearer wrong"})).status == 401
        ok = await client.get("/api/calls", headers={"Authorization": "Bearer s3cret"})
        assert ok.status == 200
        assert (await client.get("/health")).status == 200  # health stays open for orchestrators
    finally:
        await client.close()


async def test_given_a_failing_part_when_health_asked_then_503_and_the_part_named(store: CallStore) -> None:
    ctx = ApiContext(
        sessions=store.sessions,
        metrics=Metrics(),
        tokens=[],
        health_parts={"ari": lambda: {"ok": False, "servers": {"pbx1": "disconnected"}}, "ami": lambda: {"ok": True}},
    )
    client = await _client(ctx)
    try:
        resp = await client.get("/health")
        body = await resp.json()
        assert resp.status == 503 and body["status"] == "degraded"
        assert body["ari"]["servers"]["pbx1"] == "disconnected"
        assert body["active_calls"] == 0
    finally:
        await client.close()


async def test_given_metrics_counted_when_scraped_then_prometheus_text_has_them(store: CallStore) -> None:
    m = Metrics()
    m.turn_latency_ms.observe(640)
    m.tool_runs.labels(tool="check_availability", ok="true").inc(2)
    live = {"calls": 3}
    m.watch(
        lambda: [ServerView("pbx1", True, live["calls"], 40, 1)],
        lambda: {"logged_in": True, "active_channels": 7, "trunks_registered": False},
    )
    client = await _client(ApiContext(sessions=store.sessions, metrics=m, tokens=[]))
    try:
        text = await (await client.get("/metrics")).text()
        assert "hotel_turn_latency_ms_count 1.0" in text
        assert 'hotel_tool_runs_total{ok="true",tool="check_availability"} 2.0' in text
        assert 'hotel_calls_active{server="pbx1"} 3.0' in text and 'hotel_calls_started_total{server="pbx1"} 40.0' in text
        assert "hotel_asterisk_channels 7.0" in text and "hotel_trunks_registered 0.0" in text
        live["calls"] = 1  # read at scrape time, never stale
        assert 'hotel_calls_active{server="pbx1"} 1.0' in await (await client.get("/metrics")).text()
    finally:
        await client.close()


async def test_given_calls_when_dashboard_opened_then_live_call_listed_first_and_transcript_shown_escaped(
    store: CallStore,
) -> None:
    done = await store.open_call(session_id="old", channel_id="1.1", caller_id="+1555000")
    await store.add_turn(done, "caller", "<script>alert(1)</script> a room please")
    await store.add_turn(done, "agent", "Which dates?", latency_ms=410)
    await store.close_call(done)
    await store.open_call(session_id="live", channel_id="1.2", caller_id="+1555111")
    client = await _client(ApiContext(sessions=store.sessions, metrics=Metrics(), tokens=[]))
    try:
        page = await (await client.get("/dashboard")).text()
        assert page.index("+1555111") < page.index("+1555000")  # the live call on top
        assert '<span id="live-count" class="badge">1</span>' in page
        detail = await (await client.get("/dashboard/calls/old")).text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt; a room please" in detail and "<script>" not in detail
        assert "410 ms" in detail
        assert (await client.get("/dashboard/calls/nope")).status == 404
    finally:
        await client.close()


async def test_given_tokens_when_browser_opens_dashboard_then_basic_challenge_and_token_as_password(
    store: CallStore,
) -> None:
    import base64

    client = await _client(ApiContext(sessions=store.sessions, metrics=Metrics(), tokens=["desk-token"]))
    try:
        first = await client.get("/dashboard")
        assert first.status == 401 and first.headers["WWW-Authenticate"].startswith("Basic")
        good = base64.b64encode(b"frontdesk:desk-token").decode()
        assert (await client.get("/dashboard", headers={"Authorization": f"Basic {good}"})).status == 200
        bad = base64.b64encode(b"frontdesk:guess").decode()
        assert (await client.get("/dashboard", headers={"Authorization": f"Basic {bad}"})).status == 401
    finally:
        await client.close()
