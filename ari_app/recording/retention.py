"""Retention: recordings (plain or encrypted) older than ``recording.retention_days`` are deleted.

Two passes, because a site may run several instances sharing one database but each with its own
recording folder (or one shared folder):

1. the database: calls that started before the cut-off and still have a ``recording_path`` get the
   file deleted (when it lies in our folder; a missing file is fine, another instance may have been
   first) and the path cleared;
2. the folder: any recording file whose last write is older than the cut-off is deleted and any row
   still pointing at it cleared; this catches files whose row is gone or lives on another instance.

Every step is idempotent: two instances sweeping at once delete each file at most once between them
and clear paths with ``UPDATE … WHERE recording_path = <that path>``. A file still being written is
never old: the recorder rewrites its header every second.

Left-overs of a crash are handled on the way (issue 18 D4a): a plain WAV next to its finished
``.wav.enc`` is removed; a live recording (``*.live.wav``, or with a key set any plain ``.wav``)
nobody has written for ``seal_after_s`` (a live one is rewritten every second) and that this process
is not finishing is first **redacted** with the call's stored caller turns by the same fail-closed rule
as a live call (:func:`ari_app.recording.policy.recovered_spans`: card data spans, and everything
after the last stored caller turn, which nobody transcribed), then sealed: encrypted with a key, else
renamed to its finished ``.wav`` name. The service sweeps at start and again ``seal_after_s`` later,
so a kill -9 and restart leaves no plain recording behind for more than about a minute.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.media.recorder import HEADER_LEN
from ari_app.recording.crypto import ENC_SUFFIX
from ari_app.recording.manager import BUSY, LIVE_SUFFIX, SAMPLE_RATE, key_from_settings, seal_file, session_of
from ari_app.recording.policy import CallerTurn, recovered_spans
from ari_app.settings import RecordingSettings
from models.calls import ConversationTurn, VoiceCall

log = logging.getLogger("ari_app.recording.retention")

_SUFFIXES = (".wav", ".wav.enc", ".wav.enc.part")
SEAL_AFTER_S = 60.0


@dataclass
class SweepResult:
    deleted: list[Path] = field(default_factory=list)
    cleared_rows: int = 0
    sealed: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.deleted)} recording file(s) deleted, {self.cleared_rows} call row(s) cleared, "
            f"{len(self.sealed)} left-over plain file(s) redacted and sealed"
        )


def _is_recording(path: Path) -> bool:
    return path.is_file() and path.name.endswith(_SUFFIXES)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
    except ValueError:
        return False
    return True


def _scan(folder: Path, cutoff: float, key: bytes | None, seal_before: float) -> tuple[list[Path], list[Path]]:
    """Blocking walk of the folder: (old files to delete, plain files to encrypt)."""
    old: list[Path] = []
    orphans: list[Path] = []
    if not folder.is_dir():
        return old, orphans
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(dirpath) / name
            if not name.endswith(_SUFFIXES):
                continue
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue
            if mtime < cutoff:
                old.append(path)
            elif name.endswith(".wav") and str(path) not in BUSY and (
                path.with_name(name + ENC_SUFFIX).exists()
                or (mtime < seal_before and (name.endswith(LIVE_SUFFIX) or key is not None))
            ):
                orphans.append(path)
    return old, orphans


def _delete(paths: list[Path]) -> list[Path]:
    gone: list[Path] = []
    for path in paths:
        try:
            path.unlink()
            gone.append(path)
        except FileNotFoundError:
            pass  # another instance got there first
        except OSError as exc:
            log.error("retention: cannot delete %s: %s", path, exc.strerror or exc)
    return gone


def _prune_empty_dirs(folder: Path) -> None:
    if not folder.is_dir():
        return
    for dirpath, _dirs, _files in os.walk(folder, topdown=False):
        p = Path(dirpath)
        if p != folder:
            try:
                p.rmdir()
            except OSError:
                pass  # not empty, or removed concurrently


def _recover(plain: Path, turns: list[CallerTurn] | None, key: bytes | None) -> tuple[Path, int] | None:
    """Blocking: redact and seal one left-over plain recording; (the file that remains, spans silenced)."""
    enc = plain.with_name(plain.name + ENC_SUFFIX)
    try:
        if not plain.name.endswith(LIVE_SUFFIX) and enc.exists():
            plain.unlink(missing_ok=True)  # finished before the crash; the plain copy is just left over
            return enc, 0
        st = plain.stat()
        frames = max(0, (st.st_size - HEADER_LEN) // 4)
        started = st.st_mtime - frames / SAMPLE_RATE
        spans = recovered_spans(turns or [], started_at=started, total_frames=frames, sample_rate=SAMPLE_RATE)
        return seal_file(plain, spans, key), len(spans)
    except OSError as exc:
        log.error("retention: cannot seal left-over %s: %s", plain, exc.strerror or exc)
        return None


async def _turns_of(sessions: async_sessionmaker[AsyncSession], plain: Path) -> list[CallerTurn] | None:
    """The stored caller turns of the call a left-over file belongs to (by the path its row holds, else
    by the session id in its name); ``None`` when no call row is found."""
    async with sessions() as db:
        call_id = await db.scalar(select(VoiceCall.id).where(VoiceCall.recording_path == str(plain)))
        if call_id is None:
            call_id = await db.scalar(select(VoiceCall.id).where(VoiceCall.session_id == session_of(plain)))
        if call_id is None:
            return None
        rows = (
            await db.execute(
                select(ConversationTurn.content, ConversationTurn.created_at, ConversationTurn.timings)
                .where(ConversationTurn.call_id == call_id, ConversationTurn.role == "caller")
                .order_by(ConversationTurn.turn_number)
            )
        ).all()
    out: list[CallerTurn] = []
    for content, created, timings in rows:
        stamp = created if created.tzinfo is not None else created.replace(tzinfo=UTC)
        out.append(CallerTurn(content or "", stamp, float((timings or {}).get("audio_ms", 0.0) or 0.0)))
    return out


async def sweep(
    settings: RecordingSettings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    seal_after_s: float = SEAL_AFTER_S,
) -> SweepResult:
    """Apply retention once (both passes of the module docstring)."""
    folder = await asyncio.to_thread(Path(settings.directory).resolve)
    key = key_from_settings(settings)
    moment = now()
    cutoff = moment - timedelta(days=settings.retention_days)
    result = SweepResult()

    async with sessions() as db:
        rows = (
            await db.execute(
                select(VoiceCall.id, VoiceCall.recording_path).where(
                    VoiceCall.recording_path.is_not(None), VoiceCall.started_at < cutoff
                )
            )
        ).all()
    mine = [Path(p) for _id, p in rows if p and _inside(Path(p), folder)]
    result.deleted += await asyncio.to_thread(_delete, mine)
    for row_id, stored in rows:
        if stored:
            result.cleared_rows += await _clear(sessions, stored, row_id)

    old, orphans = await asyncio.to_thread(
        _scan, folder, cutoff.timestamp(), key, time.time() - seal_after_s
    )
    gone = await asyncio.to_thread(_delete, old)
    result.deleted += gone
    for old_file in old:
        result.cleared_rows += await _clear(sessions, str(old_file), None)
    for plain in orphans:
        try:
            turns = await _turns_of(sessions, plain)
        except Exception as exc:  # no turns to go by: silence the whole caller channel (fail closed)
            log.error("retention: cannot read the turns of %s: %r", plain, exc)
            turns = None
        done = await asyncio.to_thread(_recover, plain, turns, key)
        if done is None:
            continue
        sealed, spans = done
        result.sealed.append(sealed)
        if spans:
            log.info(
                "retention: left-over recording %s: caller audio silenced over %d span(s)%s",
                sealed.name, spans, "" if turns is not None else " (no call row: whole caller channel)",
            )
        await _repoint(sessions, str(plain), str(sealed))
    await asyncio.to_thread(_prune_empty_dirs, folder)
    if result.deleted or result.cleared_rows or result.sealed:
        log.info("retention (%d days): %s", settings.retention_days, result.summary())
    return result


async def _clear(sessions: async_sessionmaker[AsyncSession], path: str, row_id: int | None) -> int:
    q = update(VoiceCall).where(VoiceCall.recording_path == path)
    if row_id is not None:
        q = q.where(VoiceCall.id == row_id)
    async with sessions.begin() as db:
        res = await db.execute(q.values(recording_path=None))
    return int(getattr(res, "rowcount", 0) or 0)


async def _repoint(sessions: async_sessionmaker[AsyncSession], old: str, new: str) -> None:
    async with sessions.begin() as db:
        await db.execute(update(VoiceCall).where(VoiceCall.recording_path == old).values(recording_path=new))


class RetentionSweeper:
    """Runs :func:`sweep` at start and then every ``interval_s`` until :meth:`stop`; a failing sweep is
    logged and retried at the next interval, never allowed to take the service down."""

    def __init__(
        self,
        settings: RecordingSettings,
        sessions: async_sessionmaker[AsyncSession],
        *,
        interval_s: float = 3600.0,
        seal_after_s: float = SEAL_AFTER_S,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.interval_s = interval_s
        self.seal_after_s = seal_after_s
        self.runs = 0
        self._started = False
        self._stop = asyncio.Event()
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        self._started = True
        try:
            while not self._stop.is_set():
                try:
                    await sweep(self.settings, self.sessions, seal_after_s=self.seal_after_s)
                except Exception as exc:
                    log.error("retention sweep failed (retrying in %g s): %r", self.interval_s, exc)
                self.runs += 1
                # the second pass comes just after a crash's left-overs have gone quiet long enough
                wait = min(self.interval_s, self.seal_after_s + 1.0) if self.runs == 1 else self.interval_s
                try:
                    async with asyncio.timeout(wait):
                        await self._stop.wait()
                except TimeoutError:
                    pass
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        """Ask the loop to end and wait for it (a sweep in progress finishes first); idempotent."""
        self._stop.set()
        if self._started:
            await self._stopped.wait()
