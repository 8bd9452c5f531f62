"""Cloud sync: each finished call, with its turns, tools and analytics, pushed once to ``sync.url``.

Two steps, each safe with any number of instances:

1. *Queue*: finished calls without an outbox row get one, keyed ``call:<session_id>``. The key is
   unique and the insert is ``ON CONFLICT DO NOTHING``, so two instances queueing the same call
   leave one row. Queueing reads the database, never the call: a call never waits for sync.
2. *Deliver*: rows are claimed like the other workers' (``FOR UPDATE SKIP LOCKED``, finish guarded
   by ``locked_by``) and POSTed. A failure (receiver down, timeout, non-2xx) puts the row back with
   a doubling delay; nothing is dropped (``sync.max_attempts = 0`` retries for ever).

Each push is signed: ``X-Hotel-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<key>." +
body)>`` with ``X-Hotel-Timestamp`` (Unix seconds) and ``Idempotency-Key``. The receiver checks the
HMAC, refuses stale timestamps (replays), and treats a key it has seen as already done (the one way
a push repeats is an instance dying between delivering and recording it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.settings import Settings, SyncSettings, WorkerSettings
from ari_app.workers.jobs import (
    MAX_ERROR_CHARS,
    Clock,
    _claim,
    _finish,
    _Loop,
    backoff_s,
    stop_loop_task,
    utc_now,
)
from models import ConversationTurn, JobStatus, SyncOutbox, ToolRun, VoiceAnalytics, VoiceCall

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hotel-Signature"
TIMESTAMP_HEADER = "X-Hotel-Timestamp"
KEY_HEADER = "Idempotency-Key"


def sign(secret: bytes, timestamp: str, key: str, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.{key}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: bytes, timestamp: str, key: str, body: bytes, signature: str) -> bool:
    """For receivers (and our tests): constant-time check of :func:`sign`'s header."""
    return hmac.compare_digest(sign(secret, timestamp, key, body).encode(), signature.encode("utf-8", "replace"))


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


async def call_payload(db: AsyncSession, call: VoiceCall) -> dict[str, Any]:
    turns = (await db.execute(
        select(ConversationTurn)
        .where(ConversationTurn.call_id == call.id, ConversationTurn.withdrawn.is_(False))
        .order_by(ConversationTurn.turn_number)
    )).scalars()
    tools = (await db.execute(select(ToolRun).where(ToolRun.call_id == call.id).order_by(ToolRun.id))).scalars()
    metrics = (await db.execute(
        select(VoiceAnalytics).where(VoiceAnalytics.call_id == call.id).order_by(VoiceAnalytics.id)
    )).scalars()
    return {
        "type": "call.finished",
        "call": {
            "session_id": call.session_id, "server": call.asterisk_server, "direction": call.direction,
            "caller_id": call.caller_id, "caller_name": call.caller_name, "called_number": call.called_number,
            "status": call.status, "end_reason": call.end_reason, "started_at": _iso(call.started_at),
            "ended_at": _iso(call.ended_at), "duration_s": call.duration_s, "language": call.language,
            "brain": call.brain, "tools_executed": list(call.tools_executed or []),
            "sentiment": call.sentiment, "sentiment_label": call.sentiment_label,
            "reservation_id": call.reservation_id, "has_recording": bool(call.recording_path),
        },
        "turns": [{"n": t.turn_number, "role": t.role, "content": t.content, "at": _iso(t.created_at),
                   "latency_ms": t.latency_ms, "timings": t.timings or {}, "interrupted": t.interrupted}
                  for t in turns],
        "tool_runs": [{"tool": r.tool_name, "ok": r.ok, "latency_ms": r.latency_ms, "at": _iso(r.created_at)}
                      for r in tools],
        "analytics": [{"metric": m.metric_name, "value": m.metric_value, "labels": m.labels,
                       "at": _iso(m.recorded_at)} for m in metrics],
    }


async def queue_finished_calls(sessions: async_sessionmaker[AsyncSession], *, limit: int, now: datetime) -> int:
    """Give up to ``limit`` finished, not yet queued calls an outbox row; returns how many were new."""
    async with sessions() as db:
        calls = (await db.execute(
            select(VoiceCall)
            .where(VoiceCall.status != "active", VoiceCall.ended_at.is_not(None),
                   ~exists().where(SyncOutbox.call_id == VoiceCall.id))
            .order_by(VoiceCall.id)
            .limit(limit)
        )).scalars().all()
        rows = [{"idempotency_key": f"call:{c.session_id}", "kind": "call", "call_id": c.id,
                 "payload": await call_payload(db, c), "status": JobStatus.PENDING, "attempts": 0,
                 "next_attempt_at": now, "created_at": now, "last_error": ""} for c in calls]
    if not rows:
        return 0
    async with sessions.begin() as db:
        if db.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(SyncOutbox).on_conflict_do_nothing(index_elements=["idempotency_key"])
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(SyncOutbox).on_conflict_do_nothing(index_elements=["idempotency_key"])
        result = await db.execute(stmt.returning(SyncOutbox.id), rows)
        return len(result.all())


class SyncWorker(_Loop):
    kind = "sync"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sync: SyncSettings,
        worker: WorkerSettings,
        *,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(worker, clock)
        self.sessions = sessions
        self.sync = sync
        self.secret = sync.secret.get_secret_value().encode()
        self._http: aiohttp.ClientSession | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0

    @classmethod
    def from_settings(cls, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> SyncWorker | None:
        if not settings.sync.enabled:
            return None
        if not settings.sync.url or not settings.sync.secret.get_secret_value():
            log.error("sync.enabled is set but sync.url or sync.secret is empty: cloud sync stays off")
            return None
        url = urlsplit(settings.sync.url)
        if url.scheme != "https" and url.hostname not in ("127.0.0.1", "localhost", "::1"):
            log.warning("sync.url is not HTTPS: transcripts would cross the network unencrypted")
        return cls(sessions, settings.sync, settings.worker)

    async def run_once(self) -> int:
        now = self.clock()
        await queue_finished_calls(self.sessions, limit=self.worker.batch_size, now=now)
        rows = await _claim(  # type: ignore[type-var]  # the shared claim works on any job-shaped table
            self.sessions, SyncOutbox, SyncOutbox.next_attempt_at, instance=self.instance,
            limit=self.worker.batch_size, lock_timeout_s=self.worker.lock_timeout_s, now=now,
        )
        for row in rows:
            await self._deliver(row)
        return len(rows)

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.sync.timeout_s))
        return self._http

    async def _post(self, row: SyncOutbox) -> None:
        body = json.dumps(row.payload, sort_keys=True, separators=(",", ":")).encode()
        timestamp = str(int(self.clock().timestamp()))
        headers = {
            "Content-Type": "application/json",
            KEY_HEADER: row.idempotency_key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret, timestamp, row.idempotency_key, body),
        }
        async with self._client().post(self.sync.url, data=body, headers=headers) as resp:
            if resp.status // 100 != 2:
                text = (await resp.text())[:120]
                raise RuntimeError(f"receiver answered {resp.status}: {text}")

    async def _deliver(self, row: SyncOutbox) -> None:
        try:
            await self._post(row)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # receiver down or refusing: keep the row, try again later
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
            give_up = self.sync.max_attempts and row.attempts >= self.sync.max_attempts
            values: dict[str, Any] = {"status": JobStatus.FAILED if give_up else JobStatus.PENDING,
                                      "last_error": error}
            if not give_up:
                values["next_attempt_at"] = self.clock() + timedelta(seconds=backoff_s(row.attempts, self.worker))
            else:
                log.warning("sync of %s failed for good after %s attempts: %s", row.idempotency_key, row.attempts, error)
            await _finish(self.sessions, SyncOutbox, row.id, self.instance, **values)  # type: ignore[type-var]
            return
        if await _finish(self.sessions, SyncOutbox, row.id, self.instance,  # type: ignore[type-var]
                         status=JobStatus.DONE, done_at=self.clock(), last_error=""):
            self.delivered += 1

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="worker-sync")
        log.info("cloud sync to %s started as instance %s", self.sync.url, self.instance)

    async def _run(self) -> None:
        try:
            await self.run(self._stop)
        finally:
            if self._http is not None:
                await self._http.close()

    async def stop(self, timeout_s: float = 10.0) -> None:
        task, self._task = self._task, None
        await stop_loop_task(self._stop, task, timeout_s)
