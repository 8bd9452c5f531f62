"""A recording a crash leaves behind is redacted and sealed at the next start, and a re-adopted call
never overwrites its own recording (issue 18 D4 a/b, L7).

The left-over is a real stereo WAV written by the call recorder: the caller talks all the time and
the agent side carries a tone, so every silent stretch of the sealed file is the recovery's doing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from recording_support import Line, read_wav
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.media.recorder import CallRecorder
from ari_app.recording.crypto import decrypt_file, generate_key, parse_key
from ari_app.recording.manager import BUSY, RecordingManager
from ari_app.recording.retention import RetentionSweeper, sweep
from ari_app.session import CallSession
from ari_app.settings import RecordingSettings
from models.calls import ConversationTurn, VoiceCall
from models.store import CallStore

RATE = 8000
SECONDS = 20


def _sec(a: float, b: float) -> slice:
    return slice(int(a * RATE), int(b * RATE))


def _loud(block: np.ndarray) -> bool:
    frames = block[: len(block) // 160 * 160].reshape(-1, 160)
    return bool((np.abs(frames).max(axis=1) > 100).all())


def _leftover(path: Path, last_write: float) -> None:
    """20 s of a call as the recorder wrote it, then the process died (no finish, no seal)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = CallRecorder(path)
    t = np.arange(160)
    for k in range(SECONDS * 50):
        caller = ((np.sin(2 * np.pi * (300 + k % 7 * 40) * t / RATE)) * 9000).astype(np.int16)
        agent = (np.sin(2 * np.pi * 440 * (t + 160 * k) / RATE) * 5000).astype(np.int16)
        rec.write(caller, agent)
    rec.close()
    os.utime(path, (last_write, last_write))


async def _call_with_turns(
    sessions: async_sessionmaker[AsyncSession], sid: str, path: Path, started: float, turns: list[tuple[float, str]]
) -> int:
    store = CallStore(sessions)
    row = await store.open_call(session_id=sid, channel_id=f"chan-{sid}")
    await store.update_call(row, recording_path=str(path))
    for _at_s, text in turns:
        await store.add_turn(row, "caller", text, timings={"audio_ms": 1500.0})  # masked by the store
    # stamp the turns at known instants of the recording (the store stamps them "now")
    async with sessions.begin() as db:
        stored = (await db.execute(select(ConversationTurn).where(ConversationTurn.call_id == row)
                                   .order_by(ConversationTurn.turn_number))).scalars().all()
        for turn, (at_s, _text) in zip(stored, turns, strict=True):
            turn.created_at = datetime.fromtimestamp(started + at_s, UTC)
    return row


async def _row_path(sessions: async_sessionmaker[AsyncSession], row: int) -> str | None:
    async with sessions() as db:
        call = await db.get(VoiceCall, row)
    assert call is not None
    return call.recording_path


@pytest.mark.parametrize("with_key", [True, False], ids=["key", "no-key"])
async def test_given_killed_call_left_a_plain_wav_when_service_starts_then_card_span_and_unchecked_tail_are_silenced_and_file_sealed(
    tmp_path: Path, sqlite_sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture,
    with_key: bool,
) -> None:
    rec_dir = (tmp_path / "rec").resolve()
    key = generate_key() if with_key else None
    settings = RecordingSettings(enabled=True, directory=str(rec_dir), encryption_key=key)  # type: ignore[arg-type]
    live = rec_dir / "2026/12/02/sess-crash.live.wav"
    last_write = time.time() - 120  # the kill -9 was two minutes ago
    _leftover(live, last_write)
    started = last_write - SECONDS
    row = await _call_with_turns(sqlite_sessions, "sess-crash", live, started, [
        (4.0, "Hi, I would like to book a room for two adults."),
        (12.0, "The card is 555-55, 555-55, 555-4444."),  # real Whisper output; fails Luhn
        (15.0, "My name is Marie Lopez."),
    ])
    caplog.set_level(logging.INFO, logger="ari_app.recording")

    result = await sweep(settings, sqlite_sessions)

    assert not live.exists()
    sealed = rec_dir / ("2026/12/02/sess-crash.wav.enc" if with_key else "2026/12/02/sess-crash.wav")
    assert result.sealed == [sealed] and sealed.exists()
    assert await _row_path(sqlite_sessions, row) == str(sealed)
    assert sealed.stat().st_mode & 0o777 == 0o600
    plain = sealed
    if with_key:
        assert key is not None
        plain = decrypt_file(sealed, tmp_path / "out.wav", parse_key(key))
    _params, data = read_wav(plain)
    left, right = data[:, 0], data[:, 1]
    # card turn stored at 12 s, 1.5 s of audio, previous turn at 4 s: silent from 4-1.5-5 margin = 0
    # (clamped) to 12 + 2.5 guard; the last turn (15 s) was checked, after 15 + 2.5 nobody checked
    assert not left[_sec(0.0, 14.45)].any()
    assert _loud(left[_sec(14.6, 17.4)])
    assert not left[_sec(17.55, SECONDS)].any()
    assert _loud(right[_sec(0.0, SECONDS - 0.1)])  # the agent side is untouched
    messages = [r.getMessage() for r in caplog.records]
    assert any("caller audio silenced" in m for m in messages)
    assert not any("555" in m for m in messages)


async def test_given_leftover_without_a_call_row_when_swept_then_whole_caller_channel_silenced(
    tmp_path: Path, sqlite_sessions: async_sessionmaker[AsyncSession]
) -> None:
    rec_dir = (tmp_path / "rec").resolve()
    settings = RecordingSettings(enabled=True, directory=str(rec_dir))
    live = rec_dir / "2026/12/02/nobody.live.wav"
    _leftover(live, time.time() - 300)
    await sweep(settings, sqlite_sessions)
    _params, data = read_wav(live.with_name("nobody.wav"))
    assert not data[:, 0].any() and _loud(data[: RATE * 5, 1])


async def test_given_a_recording_being_written_or_finished_when_swept_then_left_alone(
    tmp_path: Path, sqlite_sessions: async_sessionmaker[AsyncSession]
) -> None:
    rec_dir = (tmp_path / "rec").resolve()
    settings = RecordingSettings(enabled=True, directory=str(rec_dir), encryption_key=generate_key())  # type: ignore[arg-type]
    fresh = rec_dir / "2026/12/02/fresh.live.wav"
    _leftover(fresh, time.time())  # written a moment ago: a live call on some instance
    busy = rec_dir / "2026/12/02/busy.live.wav"
    _leftover(busy, time.time() - 300)  # quiet, but this process is finishing it
    BUSY.add(str(busy))
    try:
        result = await sweep(settings, sqlite_sessions)
    finally:
        BUSY.discard(str(busy))
    assert result.sealed == [] and fresh.exists() and busy.exists()


async def test_given_service_restarted_right_after_a_crash_when_sweeper_runs_then_leftover_sealed_without_waiting_an_hour(
    tmp_path: Path, sqlite_sessions: async_sessionmaker[AsyncSession]
) -> None:
    rec_dir = (tmp_path / "rec").resolve()
    settings = RecordingSettings(enabled=True, directory=str(rec_dir), encryption_key=generate_key())  # type: ignore[arg-type]
    live = rec_dir / "2026/12/02/quick.live.wav"
    _leftover(live, time.time())  # the crash was just now: too fresh for the first pass
    sweeper = RetentionSweeper(settings, sqlite_sessions, interval_s=3600, seal_after_s=0.3)
    task = asyncio.create_task(sweeper.run(), name="test-retention-restart")
    try:
        for _ in range(500):
            if sweeper.runs >= 2:
                break
            await asyncio.sleep(0.02)
    finally:
        await sweeper.stop()
        await task
    assert sweeper.runs == 2
    assert not live.exists() and live.with_name("quick.wav.enc").exists()


async def test_given_call_readopted_after_restart_when_recording_starts_again_then_a_new_part_and_the_first_is_kept(
    line: Line, tmp_path: Path
) -> None:
    rec_dir = tmp_path / "rec"
    first = rec_dir / "2026/12/02/sess-rec-1.live.wav"
    _leftover(first, time.time())
    before = first.read_bytes()
    mgr = RecordingManager(enabled=True, directory=rec_dir, now=lambda: datetime(2026, 12, 2, 10, tzinfo=UTC))
    rec = await mgr.start(cast("CallSession", line.session))
    assert rec is not None
    assert rec.path.name == "sess-rec-1-part2.live.wav"
    for k in range(10):
        await line.tick(bytes([k]) * 160)
    final = await rec.stop()
    assert final is not None and final.name == "sess-rec-1-part2.wav"
    assert first.read_bytes() == before  # the part recorded before the crash is untouched
    assert oct(final.stat().st_mode & 0o777) == oct(0o600)
