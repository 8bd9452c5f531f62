"""Retention: old recordings (plain or encrypted) go, their rows are cleared, recent ones stay; safe
when two instances sweep at once; crash left-overs are encrypted or dropped."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.recording.crypto import decrypt_file, generate_key, parse_key
from ari_app.recording.retention import RetentionSweeper, sweep
from ari_app.settings import RecordingSettings
from models.calls import VoiceCall

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
EXE = Path(sys.executable).with_name("hotel-operator")


def _file(folder: Path, rel: str, age_days: float, data: bytes = b"RIFF....") -> Path:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    stamp = time.time() - age_days * 86400
    os.utime(path, (stamp, stamp))
    return path


async def _call(sessions: async_sessionmaker[AsyncSession], sid: str, started: datetime, path: Path | None) -> int:
    async with sessions.begin() as db:
        row = VoiceCall(session_id=sid, channel_id=sid, started_at=started,
                        recording_path=str(path) if path else None)
        db.add(row)
        await db.flush()
        return row.id


async def _paths(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str | None]:
    async with sessions() as db:
        return {sid: p for sid, p in (await db.execute(select(VoiceCall.session_id, VoiceCall.recording_path)))}


async def test_given_old_and_recent_recordings_when_swept_then_old_deleted_and_cleared_recent_kept(
    tmp_path: Path, sqlite_sessions: async_sessionmaker[AsyncSession]
) -> None:
    rec = (tmp_path / "rec").resolve()
    settings = RecordingSettings(enabled=True, directory=str(rec), retention_days=30)
    old_plain = _file(rec, "2026/09/01/old1.wav", 85)
    old_enc = _file(rec, "2026/09/02/old2.wav.enc", 84)
    recent = _file(rec, "2026/11/20/new1.wav.enc", 5)
    gone_already = rec / "2026/09/03/old3.wav"  # another instance deleted it: fine
    unrelated = _file(rec, "2026/09/01/notes.txt", 90)
    await _call(sqlite_sessions, "old1", NOW - timedelta(days=85), old_plain)
    await _call(sqlite_sessions, "old2", NOW - timedelta(days=84), old_enc)
    await _call(sqlite_sessions, "old3", NOW - timedelta(days=83), gone_already)
    await _call(sqlite_sessions, "new1", NOW - timedelta(days=5), recent)
    result = await sweep(settings, sqlite_sessions, now=lambda: NOW)
    assert not old_plain.exists() and not old_enc.exists()
    assert recent.exists() and unrelated.exists()
    assert sorted(p.name for p in result.deleted) == ["old1.wav", "old2.wav.enc"]
    assert await _paths(sqlite_sessions) == {"old1": None, "old2": None, "old3": None, "new1": str(recent)}
    assert not (rec / "2026/09/02").exists()  # emptied day folders are pruned


async def test_given_file_older_than_retention_but_row_recent_or_missing_when_swept_then_file_goes_by_age(
    tmp_path: Path, sqlite_sessions: async_sessionmaker[AsyncSession]
) -> None:
    rec = (tmp_path / "rec").resolve()
    settings = RecordingSettings(directory=str(rec), retention_days=7)
    orphan = _file(rec, "2026/10/01/orphan.wav", 40)
    pointed = _file(rec, "2026/10/02/pointed.wav.enc", 20)
    await _call(sqlite_sessions, "pointed", NOW - timedelta(days=1), pointed)  # clock skew between hosts
    await sweep(settings, sqlite_sessions, now=lambda: NOW)
    assert not orphan.exists() and not pointed.exists()
    assert (await _paths(sqlite_sessions))["pointed"] is None


async def test_given_two_instances_when_sweeping_at_once_then_each_file_deleted_once_without_error(
    tmp_path: Path, sqlite_sessions: async_sessionmaker[AsyncSession]
) -> None:
    rec = (tmp_path / "rec").resolve()
    settings = RecordingSettings(directory=str(rec), retention_days=1)
    files = [_file(rec, f"2026/10/{d:02d}/c{d}.wav", 30 + d) for d in range(1, 11)]
    for i, f in enumerate(files):
        await _call(sqlite_sessions, f"c{i}", NOW - timedelta(days=30 + i), f)
    a, b = await asyncio.gather(
        sweep(settings, sqlite_sessions, now=lambda: NOW), sweep(settings, sqlite_sessions, now=lambda: NOW)
    )
    assert sorted(str(p) for p in a.deleted + b.deleted) == sorted(str(f) for f in files)
    assert not any(f.exists() for f in files)
    assert all(p is None for p in (await _paths(sqlite_sessions)).values())


async def test_given_key_and_crash_leftovers_when_swept_then_plain_files_encrypted_or_dropped(
    tmp_path: Path, sqlite_sessions: async_sessionmaker[AsyncSession]
) -> None:
    rec = (tmp_path / "rec").resolve()
    key = generate_key()
    settings = RecordingSettings(directory=str(rec), encryption_key=key)  # type: ignore[arg-type]
    stale = _file(rec, "2026/11/24/crashed.wav", 0.5, b"RIFF-audio-of-a-crashed-call")
    both = _file(rec, "2026/11/24/half.wav", 0.5)
    _file(rec, "2026/11/24/half.wav.enc", 0.5, b"sealed")
    live = _file(rec, "2026/11/25/live.wav", 0.0)  # being written right now
    await _call(sqlite_sessions, "crashed", NOW - timedelta(hours=12), stale)
    result = await sweep(settings, sqlite_sessions, now=lambda: NOW)
    assert not stale.exists() and not both.exists() and live.exists()
    sealed = stale.with_name("crashed.wav.enc")
    assert sealed in result.sealed
    decrypt_file(sealed, tmp_path / "x.wav", parse_key(key))
    assert (tmp_path / "x.wav").read_bytes() == b"RIFF-audio-of-a-crashed-call"
    assert (await _paths(sqlite_sessions))["crashed"] == str(sealed)


async def test_given_sweeper_task_when_stopped_then_it_ran_once_and_exits(
    tmp_path: Path, sqlite_sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = RecordingSettings(directory=str(tmp_path / "none-yet"))
    sweeper = RetentionSweeper(settings, sqlite_sessions, interval_s=3600)
    task = asyncio.create_task(sweeper.run(), name="test-retention")
    while sweeper.runs == 0:  # noqa: ASYNC110 - the first sweep runs at once
        await asyncio.sleep(0.01)
    await sweeper.stop()
    await task
    assert task.done() and sweeper.runs == 1


def test_given_old_recording_when_purge_command_run_then_deleted_and_summary_printed(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    old = _file(rec, "2026/01/01/old.wav.enc", 400)
    keep = _file(rec, "2026/11/24/keep.wav.enc", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTEL_OPERATOR_")}
    env.update(
        HOTEL_OPERATOR_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
        HOTEL_OPERATOR_RECORDING__DIRECTORY=str(rec),
    )
    assert subprocess.run([str(EXE), "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True,
                          timeout=60, check=False).returncode == 0
    out = subprocess.run([str(EXE), "recordings", "purge"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert "1 recording file(s) deleted" in out.stdout
    assert not old.exists() and keep.exists()
