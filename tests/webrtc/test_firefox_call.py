"""End to end in real headless Firefox (ESR), driven over WebDriver BiDi: the call page of the
running service works in Firefox as it does in Chromium (issue 14).

Firefox's fake microphone plays a tone, not speech, so this test proves what a tone caller can:
the page loads clean, Call connects, the operator's greeting comes back (WebRTC stats), a keypad
key reaches the call's keypad menu, hang-up closes the ``webrtc`` call row. The service, stand-in
and speech engines are the Chromium test's (imported, not copied).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from bidi import Session, firefox, firefox_path
from sqlalchemy import select
from test_browser_call import BYTES_RECEIVED, engines  # noqa: F401  (the module's speech engines fixture)

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
from e2e_support import running_stack  # noqa: E402

from ari_app.speech.engines import SpeechEngines  # noqa: E402
from models import ConversationTurn, VoiceCall  # noqa: E402

pytestmark = pytest.mark.slow

PAGE_STATE = (
    "JSON.stringify({phase: hotelCall.phase, transcript: hotelCall.transcript, errors: hotelCall.errors,"
    " status: document.getElementById('status').textContent, session: hotelCall.session})"
)


async def page_state(page: Session) -> dict[str, Any]:
    return dict(json.loads(await page.eval(PAGE_STATE)))


async def poll(what: str, check: Any, bound_s: float) -> Any:
    """Wait for state in the browser or the database (polling is the point); fails with ``what``."""
    try:
        async with asyncio.timeout(bound_s):
            while True:
                value = await check()
                if value:
                    return value
                await asyncio.sleep(0.25)
    except TimeoutError:
        raise AssertionError(what) from None


async def test_given_the_call_page_in_firefox_when_a_guest_calls_presses_a_key_and_hangs_up_then_audio_key_and_closed_row(
    tmp_path: Path, engines: SpeechEngines,  # noqa: F811
) -> None:
    if firefox_path() is None:
        print("SKIP: firefox is not installed (apt-get install firefox-esr)")
        pytest.skip("firefox is not installed")
    async with running_stack(tmp_path, env={"HOTEL_OPERATOR_HTTP__PORT": "0"}, speech=engines) as stack:
        assert stack.service.http_port
        url = f"http://127.0.0.1:{stack.service.http_port}/voice/call"
        profile = tmp_path / "firefox-profile"
        profile.mkdir()
        async with firefox(profile) as page:
            await page.send("browsingContext.navigate", context=page.context, url=url, wait="complete")
            assert await page.eval("window.isSecureContext && typeof window.hotelCall === 'object'")
            await page.eval("document.getElementById('call').click(); true")

            async def connected() -> dict[str, Any] | None:
                state = await page_state(page)
                assert not state["errors"], state
                return state if state["phase"] == "connected" else None

            state = await poll("the call never connected", connected, 60)
            assert "Connected" in state["status"]

            async def audio_back() -> int:
                return int(await page.eval(BYTES_RECEIVED))

            received = await poll("no audio came back to Firefox", audio_back, 60)

            async def greeted() -> dict[str, Any] | None:
                state = await page_state(page)
                agent = [t for t in state["transcript"] if t["role"] == "agent"]
                return state if agent else None

            await poll("the greeting never reached the page transcript", greeted, 60)
            await page.eval("document.querySelector('#keypad button[data-key=\"3\"]').click(); true")

            async def call_row() -> VoiceCall | None:
                async with stack.service.sessions() as db:
                    row: VoiceCall | None = (
                        await db.execute(select(VoiceCall).where(VoiceCall.channel == "webrtc"))
                    ).scalar_one_or_none()
                    return row

            async def key_turns() -> list[ConversationTurn]:
                row = await call_row()
                if row is None:
                    return []
                async with stack.service.sessions() as db:
                    turns = (await db.execute(
                        select(ConversationTurn).where(ConversationTurn.call_id == row.id)
                        .where(ConversationTurn.input_mode == "dtmf")
                    )).scalars()
                    return [t for t in turns if "Breakfast" in t.content]

            keyed = await poll("key 3 never reached the keypad menu", key_turns, 60)
            await page.eval("document.getElementById('hangup').click(); true")

            async def closed() -> VoiceCall | None:
                row = await call_row()
                return row if row is not None and row.ended_at is not None else None

            row = await poll("the webrtc call row was never closed", closed, 30)
            final = await page_state(page)
            log_errors = page.log_errors()
    print("firefox page transcript:", final["transcript"], "bytes received:", received)
    assert received > 0
    assert not final["errors"], final
    assert final["phase"] == "ended" and not log_errors, (final, log_errors)
    assert any("Breakfast is served" in line["text"] for line in final["transcript"]), final["transcript"]
    assert keyed[0].role == "agent" and keyed[0].input_mode == "dtmf"
    assert row.channel == "webrtc" and row.asterisk_server == "webrtc"
    assert row.status == "completed" and row.ended_at is not None
