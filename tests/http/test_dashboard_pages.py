"""The dashboard's pages as the server renders them (issue 13; issue 17 D13, F7, F8)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voicekit import add_call, context, served

EVIL = '<img src=x onerror="alert(1)">'


async def test_given_calls_when_the_front_desk_page_opens_then_live_calls_figures_search_all_escaped_in_hotel_time(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    at = datetime(2026, 12, 2, 15, 4, 5, tzinfo=UTC)
    await add_call(sqlite_sessions, "live", started=at, status="active", caller="+15551112222", name=EVIL)
    await add_call(sqlite_sessions, "old", started=at, caller="+15553334444", end_reason=EVIL)
    async with served(context(sqlite_sessions, timezone="America/New_York")) as client:
        resp = await client.get("/dashboard")
        page = await resp.text()
        assert resp.status == 200 and "<meta http-equiv=\"refresh\"" not in page
        assert EVIL not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
        assert "10:04:05" in page and "15:04:05" not in page  # 15:04 UTC is 10:04 in New York
        assert 'data-tz="America/New_York"' in page and "times in America/New_York" in page
        live = page[page.index('id="live-body"'):page.index("</tbody>")]
        assert "+15551112222" in live and "+15553334444" not in live
        for chart in ("chart-volume", "chart-outcomes", "chart-bookings", "chart-latency"):
            assert f'id="{chart}"' in page
        assert '<script src="/dashboard/static/vendor/chart.umd.min.js" defer></script>' in page
        assert "<script>" not in page  # the CSP allows no inline script
        found = await (await client.get("/dashboard", params={"q": "3334444"})).text()
        table = found[found.index('id="calls"'):]
        assert "+15553334444" in table and "+15551112222" not in table
        assert "Calls matching “3334444”" in found
        js = await client.get("/dashboard/static/vendor/chart.umd.min.js")
        assert js.status == 200 and "Chart.js v4" in (await js.text())[:200]
        assert (await client.get("/dashboard/static/vendor/chart.js-LICENSE.md")).status == 200


async def test_given_a_live_call_then_its_page_has_no_stray_separator_and_updates_live(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_call(sqlite_sessions, "live", started=datetime.now(UTC), status="active", duration_s=None,
                   turns=[("caller", "hello", None, {})], tools_executed=["check_availability"])
    async with served(context(sqlite_sessions)) as client:
        page = await (await client.get("/dashboard/calls/live")).text()
    head = page[page.index('<p id="call-head">'):]
    head = head[:head.index("</p>")]
    assert head == '<p id="call-head">active · tools: check_availability'
    assert "· ·" not in page and 'data-live="1"' in page
    assert '<script src="/dashboard/static/call.js" defer></script>' in page
    assert 'id="end-call"' in page


async def test_given_a_finished_call_then_its_page_stays_still_and_offers_the_recording(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_call(sqlite_sessions, "done", started=datetime.now(UTC), end_reason="caller_hangup",
                   recording_path="/var/x.wav.enc", turns=[("agent", "Goodbye <3", 500, {})])
    async with served(context(sqlite_sessions)) as client:
        page = await (await client.get("/dashboard/calls/done")).text()
    assert "refresh" not in page and "<script" not in page and 'data-live="0"' in page
    assert "completed · caller_hangup · 60 s · tools: none" in page
    assert '<audio id="recording" controls preload="metadata" src="/voice/recordings/done"></audio>' in page
    assert "Goodbye &lt;3" in page and "500 ms" in page


async def test_given_the_analytics_page_then_a_window_form_and_charts_from_the_api(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with served(context(sqlite_sessions)) as client:
        page = await (await client.get("/dashboard/analytics", params={"from": '2026-12-01"><b>', "to": "2026-12-02"})).text()
    assert 'value="2026-12-01&quot;&gt;&lt;b&gt;"' in page and 'id="stages"' in page and 'class="here"' in page


async def test_given_an_open_live_stream_when_the_server_stops_then_the_stream_ends_instead_of_holding_shutdown(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    from ari_app.http import build_app

    await add_call(sqlite_sessions, "live", started=datetime.now(UTC), status="active")
    # shutdown_timeout 60 s (aiohttp's default): only the app's own shutdown signal can end the stream sooner
    server = TestServer(build_app(context(sqlite_sessions, live_poll_s=0.05)), host="127.0.0.1", shutdown_timeout=60)
    client = TestClient(server)
    await client.start_server()
    try:
        resp = await client.get("/dashboard/events")
        assert resp.headers["Content-Type"] == "text/event-stream"
        first = b""
        while b"event: live" not in first:
            first += await resp.content.readany()
        assert b'"session_id": "live"' in first
        async with asyncio.timeout(20):  # a guard far below the 60 s the server would otherwise wait
            await server.close()
            rest = await resp.content.read()
        assert b"event: live" not in rest  # nothing changed: the stream just ended
    finally:
        await client.close()
