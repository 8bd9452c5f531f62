"""Card digits stay out of the file: payment pause and after-the-fact redaction, read back from the WAV.

A real RTP endpoint is recorded while a manual clock advances time frame by frame; the caller talks
all the time and the agent plays a tone all the time, so every silent stretch in the file is the
policy's doing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from recording_support import Line, read_wav
from sqlalchemy import select

from ari_app.brain.context import CallContext
from ari_app.privacy import mask_card_numbers
from ari_app.recording.manager import RecordingManager
from ari_app.session import CallSession
from models.calls import ConversationTurn, VoiceCall

RATE = 8000
TICKS_PER_S = 50


def caller_frame(k: int) -> bytes:
    """Loud, never-silent μ-law (0x00-0x3f are large magnitudes)."""
    return bytes(((k + i) % 0x30) for i in range(160))


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)


async def _turn(line: Line, text: str, at_s: float, audio_ms: float) -> None:
    """A caller turn as the speech loop stores it, stamped at a known instant of the line's clock."""
    store = line.session.store
    async with store.sessions.begin() as db:
        n = len((await db.execute(select(ConversationTurn.id))).all()) + 1
        db.add(ConversationTurn(
            call_id=line.session.info.call_row_id, turn_number=n, role="caller",
            content=mask_card_numbers(text), timings={"audio_ms": audio_ms},
            created_at=datetime.fromtimestamp(line.wall0 + at_s, UTC),
        ))


def _silent(block: np.ndarray) -> bool:
    return not block.any()


def _loud(block: np.ndarray) -> bool:
    """Every 20 ms frame of the stretch has audio."""
    frames = block[: len(block) // 160 * 160].reshape(-1, 160)
    return bool((np.abs(frames).max(axis=1) > 100).all())


def _sec(a: float, b: float) -> slice:
    return slice(int(a * RATE), int(b * RATE))


@pytest.mark.parametrize(
    "card_said",
    [
        "my card is 4111 1111 1111 1111",
        "The card is 555-55, 555-55, 555-4444.",  # Whisper's regrouping: fails Luhn, still a card (issue 18 D1)
        "My card number is 4,111, 1111,111, 1111, 1111,111",
        "it expires on 927 in the CVV as 456",
    ],
    ids=["luhn-valid", "whisper-regrouped", "whisper-commas", "cvv-expiry-only"],
)
async def test_given_card_read_out_and_payment_link_when_call_ends_then_digits_span_and_payment_part_silent(
    line: Line, tmp_path: Path, card_said: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ari_app.recording")
    mgr = RecordingManager(enabled=True, directory=tmp_path / "rec", payment_hold_s=1.0, wall=line.wall)
    session = line.session
    call = cast("CallSession", session)  # a real endpoint and store; no call control needed here
    ctx = CallContext.for_session(call)
    rec = await mgr.start(call, ctx)
    assert rec is not None
    session.media.play(tone(20))
    k = 0

    async def talk_until(s: float) -> None:
        nonlocal k
        while line.clock.tick_index < s * TICKS_PER_S:
            await line.tick(caller_frame(k))
            k += 1

    await talk_until(6)
    await _turn(line, "I would like to book a room", 6.0, 1000)
    await talk_until(12)
    await _turn(line, card_said, 12.0, 2000)
    await talk_until(14)
    _res, err = await ctx.run_tool("generate_payment_link", {"confirmation_code": "NOSUCH"})
    assert err is not None  # no such booking here; what counts is that the payment part began
    await talk_until(16)
    await _turn(line, "thank you", 16.0, 500)
    await talk_until(18)
    task = rec.stop()
    final = await task
    assert rec.path.name == "sess-rec-1.live.wav" and final == rec.path.with_name("sess-rec-1.wav")
    assert final.exists() and not rec.path.exists()
    assert final.stat().st_mode & 0o777 == 0o600  # issue 18 L7: not 0644, not even while written
    for folder in (final.parent, final.parent.parent, final.parent.parent.parent, tmp_path / "rec"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder

    params, data = read_wav(final)
    assert (params.nchannels, params.framerate, params.sampwidth) == (2, 8000, 2)
    left, right = data[:, 0], data[:, 1]
    # card turn: from min(12 - 2, 6 - 1) - 3 s margin = 2 s, to 12 s + 0.5 s guard: caller side only
    assert _loud(left[_sec(0.1, 1.95)])
    assert _silent(left[_sec(2.0, 12.5)])
    assert _loud(right[_sec(2.1, 12.4)])
    assert _loud(left[_sec(12.55, 13.95)])
    # payment part: both sides silent for the 1 s hold from the tool run at 14 s
    assert _silent(data[_sec(14.02, 14.98)])
    assert rec.recorder.pauses and abs(rec.recorder.pauses[0][0] - 14 * RATE) <= 2 * 160
    assert _loud(left[_sec(15.05, 17.9)]) and _loud(right[_sec(15.05, 17.9)])
    assert rec.redacted == [(2 * RATE, int(12.5 * RATE))]
    silenced = [r.getMessage() for r in caplog.records if "caller audio silenced" in r.getMessage()]
    assert len(silenced) == 1
    assert not any(secret in m for m in (r.getMessage() for r in caplog.records) for secret in ("4111", "555", "456"))

    async with session.store.sessions() as db:
        row = await db.get(VoiceCall, session.info.call_row_id)
    assert row is not None and row.recording_path == str(final)
    assert final.relative_to(tmp_path / "rec").parts[3] == "sess-rec-1.wav"
