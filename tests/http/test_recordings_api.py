"""Recordings over the API: decrypted on the fly, byte ranges for the browser's player, 404 for
unknown or purged ids, and every access audited (issue 13)."""

from __future__ import annotations

import hashlib
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voicekit import add_call, context, served

from ari_app.http.auth import fingerprint
from ari_app.recording.crypto import encrypt_file, generate_key, parse_key
from models import RecordingAccess

TOKEN = "rec-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _wav(path: Path, seconds: float = 9.0) -> bytes:
    """A stereo 8 kHz WAV longer than two encryption chunks (64 KiB each)."""
    rng = np.random.default_rng(3)
    samples = (rng.standard_normal((int(8000 * seconds), 2)) * 3000).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())
    return path.read_bytes()


async def test_given_an_encrypted_recording_when_fetched_whole_or_by_range_then_exact_plain_bytes(
    db_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    key = generate_key()
    plain = _wav(tmp_path / "call.wav")
    enc = encrypt_file(tmp_path / "call.wav", tmp_path / "call.wav.enc", parse_key(key))
    (tmp_path / "call.wav").unlink()
    await add_call(db_sessions, "rec1", started=datetime.now(UTC), recording_path=str(enc))
    size = len(plain)
    async with served(context(db_sessions, tokens=[TOKEN], recording_key=key)) as client:
        whole = await client.get("/voice/recordings/rec1", headers=AUTH)
        assert whole.status == 200 and whole.headers["Content-Type"] == "audio/wav"
        assert whole.headers["Accept-Ranges"] == "bytes" and int(whole.headers["Content-Length"]) == size
        assert hashlib.sha256(await whole.read()).digest() == hashlib.sha256(plain).digest()
        # a range across the first chunk boundary (65536), an open range, a suffix
        for header, lo, hi in (("bytes=65000-70000", 65000, 70001), (f"bytes={size - 10}-", size - 10, size),
                               ("bytes=-44", size - 44, size), ("bytes=0-0", 0, 1)):
            part = await client.get("/voice/recordings/rec1", headers={**AUTH, "Range": header})
            assert part.status == 206, header
            assert part.headers["Content-Range"] == f"bytes {lo}-{hi - 1}/{size}"
            assert await part.read() == plain[lo:hi], header
        beyond = await client.get("/voice/recordings/rec1", headers={**AUTH, "Range": f"bytes={size}-"})
        assert beyond.status == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"
        assert (await client.get("/voice/recordings/rec1")).status == 401
    async with db_sessions() as db:
        rows = (await db.execute(select(RecordingAccess).order_by(RecordingAccess.id))).scalars().all()
    assert [r.status for r in rows] == [200, 206, 206, 206, 206, 416]
    assert {r.who for r in rows} == {fingerprint(TOKEN.encode())} and TOKEN not in {r.who for r in rows}
    assert rows[1].byte_range == "bytes=65000-70000" and {r.session_id for r in rows} == {"rec1"}


async def test_given_unknown_or_purged_recordings_then_404_and_the_attempt_audited(
    db_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await add_call(db_sessions, "purged", started=datetime.now(UTC), recording_path=str(tmp_path / "gone.wav.enc"))
    await add_call(db_sessions, "never", started=datetime.now(UTC))
    async with served(context(db_sessions, recording_key=generate_key())) as client:
        for sid in ("purged", "never", "unknown-id"):
            resp = await client.get(f"/voice/recordings/{sid}")
            assert resp.status == 404 and "purged" in (await resp.json())["error"]
    async with db_sessions() as db:
        rows = (await db.execute(select(RecordingAccess).order_by(RecordingAccess.id))).scalars().all()
    assert [(r.session_id, r.status, r.who) for r in rows] == [
        ("purged", 404, "loopback"), ("never", 404, "loopback"), ("unknown-id", 404, "loopback")]


async def test_given_a_wrong_key_when_fetched_then_500_json_and_no_audio_bytes(
    db_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    _wav(tmp_path / "c.wav", 1.0)
    enc = encrypt_file(tmp_path / "c.wav", tmp_path / "c.wav.enc", parse_key(generate_key()))
    await add_call(db_sessions, "k", started=datetime.now(UTC), recording_path=str(enc))
    async with served(context(db_sessions, recording_key=generate_key())) as client:
        resp = await client.get("/voice/recordings/k")
        assert resp.status == 500 and "does not authenticate" in (await resp.json())["error"]


async def test_given_a_plain_recording_when_fetched_with_a_range_then_served_partially(
    db_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    plain = _wav(tmp_path / "p.wav", 1.0)
    await add_call(db_sessions, "p", started=datetime.now(UTC), recording_path=str(tmp_path / "p.wav"))
    async with served(context(db_sessions)) as client:
        part = await client.get("/voice/recordings/p", headers={"Range": "bytes=10-19"})
        assert part.status == 206 and await part.read() == plain[10:20]


async def test_given_a_listener_who_leaves_mid_stream_then_the_decrypting_thread_stops(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    import asyncio
    import threading


    key = generate_key()
    _wav(tmp_path / "long.wav", 120.0)  # ~3.8 MB: more than the socket buffers hold
    enc = encrypt_file(tmp_path / "long.wav", tmp_path / "long.wav.enc", parse_key(key))
    await add_call(sqlite_sessions, "long", started=datetime.now(UTC), recording_path=str(enc))
    async with served(context(sqlite_sessions, recording_key=key)) as client:
        port = client.server.port
        assert port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /voice/recordings/long HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        got = await reader.read(4096)
        assert got.startswith(b"HTTP/1.1 200")
        assert any(t.name.startswith("recording:") for t in threading.enumerate())
        writer.transport.abort()  # the browser tab closed
        async with asyncio.timeout(20):
            while any(t.name.startswith("recording:") for t in threading.enumerate()):  # noqa: ASYNC110 - threads have no event
                await asyncio.sleep(0.05)
