"""The dashboard in real headless Chromium during a stand-in call (issue 13).

Screenshots are saved under the test's tmp dir (``dashboard-*.png``).
"""

from __future__ import annotations

import sys
import wave
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voicekit import add_call, context, served
from webdriver import chromium, missing

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ari"))

from arikit import FIXTURES, eventually, make_settings, next_media_settings, running_manager  # noqa: E402

from ari_app.http.wiring import end_call_in, live_calls_of  # noqa: E402
from ari_app.recording.crypto import encrypt_file, generate_key, parse_key  # noqa: E402
from ari_app.standin import AsteriskStandin  # noqa: E402
from models import Reservation, Room, RoomType, VoiceCall  # noqa: E402
from models.store import CallStore  # noqa: E402

CANVAS_PIXELS = """
return Array.from(document.querySelectorAll('canvas')).map(function (c) {
  var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, n = 0;
  for (var i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
});"""


async def _seed(sessions: async_sessionmaker[AsyncSession], tmp: Path, key: str) -> None:
    now = datetime.now(UTC)
    wav = tmp / "booked.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        t = np.arange(8000 * 3) / 8000
        tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
        w.writeframes(np.column_stack([tone, tone]).tobytes())
    enc = encrypt_file(wav, tmp / "booked.wav.enc", parse_key(key))
    await add_call(sessions, "booked", started=now - timedelta(minutes=20), caller="+15550107777", name="John Smith",
                   turns=[("caller", "I'd like a room <please>", None, {}),
                          ("agent", "Which dates?", 620, {"stt_ms": 180.0, "brain_ms": 40.0}),
                          ("agent", "Booked.", 700, {"stt_ms": 200.0, "brain_ms": 60.0})],
                   tools=[("create_reservation", True, 25.0)], recording_path=str(enc),
                   tools_executed=["create_reservation"])
    await add_call(sessions, "moved", started=now - timedelta(minutes=50), status="transferred", caller="+15550108888")
    async with sessions.begin() as db:
        rt = RoomType(code="DQ", name="Double Queen", capacity=4, base_rate=Decimal("150.00"))
        db.add(rt)
        await db.flush()
        room = Room(number="101", room_type_id=rt.id)
        db.add(room)
        await db.flush()
        db.add(Reservation(confirmation_code="XY12ZW", guest_name="John Smith", check_in=date(2026, 12, 20),
                           check_out=date(2026, 12, 23), room_type_id=rt.id, room_id=room.id,
                           total=Decimal("477.00"), currency="USD", call_session_id="booked"))


@pytest.mark.timeout(120)
async def test_given_the_dashboard_in_chromium_then_live_call_charts_search_and_recording_all_work(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    reason = missing()
    if reason:
        pytest.skip(reason)
    key = generate_key()
    await _seed(sqlite_sessions, tmp_path, key)
    standin = AsteriskStandin(rtp_source=FIXTURES / "basic-rtp-in.ulaw", seed=8)
    await standin.start()
    try:
        settings = make_settings(standin, next_media_settings())
        store = CallStore(sqlite_sessions)
        async with running_manager(settings, store) as manager:
            ctx = context(sqlite_sessions, live_calls=live_calls_of([manager]), end_call=end_call_in([manager]),
                          recording_key=key, timezone="Europe/Lisbon", live_poll_s=0.2)
            async with served(ctx) as client, chromium(tmp_path / "profile") as browser:
                base = str(client.make_url("/"))[:-1]
                await browser.open(f"{base}/dashboard")
                await browser.wait_for("return document.body.dataset.chartsReady === '4';", "charts drawn")
                pixels = await browser.js(CANVAS_PIXELS)
                assert len(pixels) == 4 and all(n > 0 for n in pixels), pixels
                assert await browser.js("return document.getElementById('live-empty').hidden;") is False

                channel = standin.place_call(caller_number="+15550109999", caller_name="Live Guest")
                await browser.wait_for(
                    "return document.getElementById('live-body').textContent.indexOf('+15550109999') >= 0;",
                    "the live call appears without reload")
                assert await browser.js("return document.getElementById('live-count').textContent;") == "1"
                await browser.screenshot(tmp_path / "dashboard-live.png")
                await eventually(lambda: channel in manager.calls)
                standin.hangup_caller(channel)
                await browser.wait_for(
                    "return document.getElementById('live-body').children.length === 0"
                    " && !document.getElementById('live-empty').hidden;", "the call leaves the live list")
                assert await browser.js("return performance.getEntriesByType('navigation').length;") == 1

                # a second call, watched on its own page: the transcript grows, then staff end it
                second = standin.place_call(caller_number="+15550106666")
                await eventually(lambda: second in manager.calls and manager.calls[second].row_id is not None)
                call = manager.calls[second]
                await browser.open(f"{base}/dashboard/calls/{call.session_id}")
                assert await browser.js("return document.getElementById('call').dataset.live;") == "1"
                assert call.row_id is not None
                await store.add_turn(call.row_id, "caller", "Is breakfast included?")
                await browser.wait_for(
                    "return document.getElementById('turns').textContent.indexOf('breakfast') >= 0;",
                    "the live transcript grows")
                await browser.js("document.getElementById('end-call').click();")
                await browser.wait_for(
                    "return document.getElementById('call').dataset.live === '0' && "
                    "document.getElementById('call-head').textContent.indexOf('ended_by_staff: front desk') >= 0;",
                    "the call ends and its page goes still")
                assert second not in manager.calls
                assert any(r.op == "channels.hangup" and r.path.endswith(second) for r in standin.request_log)
                await browser.screenshot(tmp_path / "dashboard-ended-call.png")
                await browser.open(f"{base}/dashboard")

                await browser.js("document.getElementById('q').value = 'xy12zw';"
                                 "document.querySelector('form.search').submit();")
                rows = await browser.wait_for(
                    "return location.search.indexOf('q=') >= 0 && "
                    "Array.from(document.querySelectorAll('#calls tbody tr')).map(r => r.dataset.session);",
                    "search results")
                assert rows == ["booked"]
                await browser.screenshot(tmp_path / "dashboard-search.png")

                await browser.open(f"{base}/dashboard/calls/booked")
                duration = await browser.wait_for(
                    "var a = document.getElementById('recording'); return a.readyState >= 1 && a.duration;",
                    "the audio player loads the recording")
                assert abs(duration - 3.0) < 0.1
                transcript = await browser.js("return document.getElementById('turns').textContent;")
                assert "I'd like a room <please>" in transcript
                await browser.screenshot(tmp_path / "dashboard-call.png")
                await browser.open(f"{base}/dashboard")
                await browser.wait_for("return document.body.dataset.chartsReady === '4';", "charts drawn")
                await browser.screenshot(tmp_path / "dashboard.png")
                await browser.resize(820, 1180)  # a tablet held upright: nothing wider than the screen
                await browser.open(f"{base}/dashboard")
                await browser.wait_for("return document.body.dataset.chartsReady === '4';", "charts drawn")
                assert await browser.js("return document.documentElement.scrollWidth <= window.innerWidth;")
                await browser.screenshot(tmp_path / "dashboard-tablet.png")
    finally:
        await standin.stop()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


@pytest.mark.timeout(120)
async def test_given_a_token_when_the_browser_answers_the_basic_challenge_then_scripts_charts_and_stream_work(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    reason = missing()
    if reason:
        pytest.skip(reason)
    await _seed(sqlite_sessions, tmp_path, generate_key())
    await add_call(sqlite_sessions, "on-line", started=datetime.now(UTC), status="active", caller="+15550105555")
    ctx = context(sqlite_sessions, tokens=["desk-token"], live_poll_s=0.2)
    async with served(ctx) as client, chromium(tmp_path / "profile") as browser:
        port = client.server.port
        await browser.open(f"http://frontdesk:desk-token@127.0.0.1:{port}/dashboard")
        await browser.wait_for("return document.body.dataset.chartsReady === '4';", "charts drawn with Basic auth")
        await browser.wait_for(
            "return document.getElementById('live-body').textContent.indexOf('+15550105555') >= 0;", "live list")
        # the stream (EventSource) is authorised too: the live list follows a change in the database
        async with sqlite_sessions.begin() as db:
            await db.execute(update(VoiceCall).where(VoiceCall.session_id == "on-line").values(status="completed"))
        await browser.wait_for("return document.getElementById('live-body').children.length === 0;",
                               "the stream delivered the change")
