"""Per-call recording: started with the conversation, finished (redacted, encrypted, stored) after it.

One :class:`RecordingManager` per process, built from ``settings.recording``. For each call the
conversation calls :meth:`RecordingManager.start` once and :meth:`CallRecording.stop` when it ends,
whatever the reason (hang-up, transfer, cancellation). ``stop`` is synchronous on purpose: it runs in
the conversation's ``finally``, possibly while the call's task is being cancelled, and must neither be
cancelled half-way nor delay the hang-up. It closes the WAV at once and hands the slow part
(database read, redaction, encryption, path update) to a task the manager owns; :meth:`aclose`, run
when the service stops, waits for those tasks (then cancels what is left after a deadline).

A recording that cannot be made (folder not writable, no RTP endpoint) is logged and the call goes
on unrecorded: recording must never cost a guest their call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy import select

from ari_app.media.recorder import CallRecorder
from ari_app.recording.crypto import ENC_SUFFIX, encrypt_file, parse_key
from ari_app.recording.errors import RecordingError
from ari_app.recording.policy import CallerTurn, PaymentPause, card_spans
from ari_app.recording.recorder import PolicyRecorder, silence_channel
from ari_app.tools.registry import ToolRegistry
from models.calls import ConversationTurn

if TYPE_CHECKING:
    from ari_app.brain.context import CallContext
    from ari_app.session import CallSession
    from ari_app.settings import RecordingSettings
    from ari_app.tools.types import ToolContext, ToolResult
    from models.store import CallStore

log = logging.getLogger("ari_app.recording")

SAMPLE_RATE = 8000
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@runtime_checkable
class Recordable(Protocol):
    """The part of the media plane's ``RtpEndpoint`` a recording needs."""

    def attach_recorder(self, recorder: CallRecorder) -> None: ...


class _ObservedRegistry(ToolRegistry):
    """The shared tool registry seen through one call: every tool run is reported before it runs.

    All brains (embedded, LLM, realtime) run tools through ``CallContext.run_tool`` and so through
    ``ctx.registry``; wrapping it per call is how the payment pause sees ``generate_payment_link``
    whichever brain runs the call, without the brains knowing about recording.
    """

    def __init__(self, inner: ToolRegistry, observer: Callable[[str], None]) -> None:
        super().__init__(inner.spec(name) for name in inner.names)
        self._inner = inner
        self._observer = observer

    async def run(self, ctx: ToolContext, name: str, arguments: Any) -> ToolResult:
        try:
            self._observer(name)
        except Exception:  # the recording must not break a booking
            log.exception("recording: tool observer failed")
        return await self._inner.run(ctx, name, arguments)


LIVE_SUFFIX = ".live.wav"
_PART = re.compile(r"^(?P<sid>.+?)(?:-part(?P<n>\d+))?$")

# Recordings this process is writing or finishing: the sweeper never treats them as left-overs.
BUSY: set[str] = set()


def recording_path(directory: Path, session_id: str, when: datetime, part: int = 1) -> Path:
    """``<directory>/<YYYY>/<MM>/<DD>/<session_id>.wav`` (``-part<N>`` from the second part of one call
    on), the date in UTC so every instance agrees. This is the *finished* name; while the call runs the
    file is :func:`live_path` of it."""
    day = when.astimezone(UTC)
    safe = _UNSAFE.sub("_", session_id) or "call"
    stem = safe if part <= 1 else f"{safe}-part{part}"
    return directory / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / f"{stem}.wav"


def live_path(final: Path) -> Path:
    """``x.wav`` → ``x.live.wav``: a valid WAV while it is written, and a name that says it was never
    finished (redacted and sealed) if a crash leaves it behind."""
    return final.with_name(final.name.removesuffix(".wav") + LIVE_SUFFIX)


def final_path(live: Path) -> Path:
    return live.with_name(live.name.removesuffix(LIVE_SUFFIX) + ".wav")


def session_of(path: Path) -> str:
    """The (file-safe) session id a recording file belongs to, whatever its part and state."""
    name = path.name
    for suffix in (LIVE_SUFFIX, ".wav" + ENC_SUFFIX, ".wav"):
        if name.endswith(suffix):
            name = name.removesuffix(suffix)
            break
    m = _PART.match(name)
    return m["sid"] if m else name


def _taken(final: Path) -> bool:
    return any(
        p.exists() for p in (final, live_path(final), final.with_name(final.name + ENC_SUFFIX))
    )


def make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and any missing parents with mode 0700 (not left to the umask)."""
    missing: list[Path] = []
    p = folder
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)


class CallRecording:
    """One call's recording; made by :meth:`RecordingManager.start`."""

    def __init__(self, manager: RecordingManager, session: CallSession, recorder: PolicyRecorder) -> None:
        self.manager = manager
        self.session = session
        self.recorder = recorder
        self.path = recorder.path
        self.final_path: Path | None = None
        self.redacted: list[tuple[int, int]] = []
        self.finished: asyncio.Task[Path | None] | None = None

    def on_tool(self, name: str) -> None:
        if self.recorder.pause_policy.tool_started(name, self.recorder.frames_written):
            log.info("recording: paused for the payment part (%s)", name)

    def stop(self) -> asyncio.Task[Path | None]:
        """Close the WAV now and finish it in the background; idempotent. See the module docstring."""
        if self.finished is None:
            self.recorder.close()
            self.finished = self.manager._spawn(self._finish(), f"recording-finish-{self.path.stem}")
        return self.finished

    async def _finish(self) -> Path | None:
        try:
            return await self._seal_and_store()
        finally:
            BUSY.discard(str(self.path))

    async def _seal_and_store(self) -> Path | None:
        mgr = self.manager
        info = self.session.info
        try:
            turns = await mgr.caller_turns(self.session)
        except Exception as exc:
            # keep the recording (the payment pause still applied) but say loudly it was not checked
            log.error("recording: could not read this call's turns to redact card numbers: %r", exc)
            turns = []
        timeline = self.recorder.timeline
        total = self.recorder.frames_written
        spans = card_spans(turns, lambda t: timeline.frame_at(t.timestamp()), total_frames=total)
        final = await asyncio.to_thread(mgr.seal, self.path, spans)
        self.redacted = spans
        self.final_path = final
        if spans:
            seconds = sum(e - s for s, e in spans) / SAMPLE_RATE
            log.info(
                "recording: caller audio silenced over %d span(s), %.1f s, that held card data", len(spans), seconds
            )
        await mgr.store_path(self.session.store, info.call_row_id, final)
        log.info("recording finished: %s", final)
        return final


class RecordingManager:
    """Builds and finishes per-call recordings for the whole process."""

    def __init__(
        self,
        *,
        enabled: bool,
        directory: str | Path,
        key: bytes | None = None,
        payment_hold_s: float = 60.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.enabled = enabled
        self.directory = Path(directory).resolve()
        self.key = key
        self.payment_hold_s = payment_hold_s
        self._now = now
        self._wall = wall  # the clock stored turns are stamped with (tests inject one)
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def from_settings(cls, settings: RecordingSettings, **kwargs: Any) -> RecordingManager:
        """Raises :class:`~ari_app.recording.errors.RecordingKeyError` for a bad key."""
        return cls(enabled=settings.enabled, directory=settings.directory, key=key_from_settings(settings), **kwargs)

    # ---- per call --------------------------------------------------------------------------------

    async def start(self, session: CallSession, ctx: CallContext | None = None) -> CallRecording | None:
        """Attach a recorder to the call's media; ``None`` when recording is off or impossible.

        With ``ctx`` (the conversation's :class:`CallContext`), payment tool runs and payment stages
        of the dialog pause the recording (see :mod:`ari_app.recording.policy`).
        """
        if not self.enabled:
            return None
        media = session.media
        if not isinstance(media, Recordable):
            log.warning("recording: this call's media (%s) cannot be recorded", type(media).__name__)
            return None
        pause = PaymentPause(SAMPLE_RATE, self.payment_hold_s)
        if ctx is not None:
            state = ctx.state
            pause.stage = lambda: state.stage
        when = self._now()
        try:
            recorder = await asyncio.to_thread(self._open, session.info.session_id, when, pause)
        except OSError as exc:
            log.error(
                "recording: cannot write in %s (%s); this call is not recorded", self.directory, exc.strerror or exc
            )
            return None
        path = recorder.path
        BUSY.add(str(path))
        try:
            media.attach_recorder(recorder)
        except Exception as exc:  # endpoint already closed (caller gone) or recording elsewhere
            recorder.close()
            await asyncio.to_thread(path.unlink, True)
            BUSY.discard(str(path))
            log.warning("recording: not started: %s", exc)
            return None
        rec = CallRecording(self, session, recorder)
        if ctx is not None:
            ctx.registry = _ObservedRegistry(ctx.registry, rec.on_tool)
        # stored now, so a crash mid-call still leaves the row pointing at the (valid) partial file
        await self.store_path(session.store, session.info.call_row_id, path)
        log.info("recording to %s", path)
        return rec

    def _open(self, session_id: str, when: datetime, pause: PaymentPause) -> PolicyRecorder:
        """A new live file for this call, never one that exists: a re-adopted call (service restart
        mid-call) gets ``-part2`` and so on, and its first part stays as it was (issue 18 D4b)."""
        part = 1
        while True:
            final = recording_path(self.directory, session_id, when, part)
            if not _taken(final):
                make_private_dirs(final.parent)
                try:
                    return PolicyRecorder(live_path(final), pause, sample_rate=SAMPLE_RATE, wall=self._wall)
                except FileExistsError:  # another instance took it between the check and the open
                    pass
            part += 1
            if part > 1000:
                raise OSError(f"no free recording name for {session_id}")

    async def caller_turns(self, session: CallSession) -> list[CallerTurn]:
        """The call's stored caller turns (their text as stored, i.e. with card numbers masked)."""
        async with session.store.sessions() as db:
            rows = (
                await db.execute(
                    select(ConversationTurn.content, ConversationTurn.created_at, ConversationTurn.timings)
                    .where(ConversationTurn.call_id == session.info.call_row_id)
                    .where(ConversationTurn.role == "caller")
                    .order_by(ConversationTurn.turn_number)
                )
            ).all()
        out: list[CallerTurn] = []
        for content, created, timings in rows:
            stamp = created if created.tzinfo is not None else created.replace(tzinfo=UTC)
            audio_ms = float((timings or {}).get("audio_ms", 0.0) or 0.0)
            out.append(CallerTurn(content or "", stamp, audio_ms))
        return out

    def seal(self, path: Path, spans: list[tuple[int, int]]) -> Path:
        """Redact then (with a key) encrypt a closed recording; returns the file that remains."""
        return seal_file(path, spans, self.key)

    @staticmethod
    async def store_path(store: CallStore, call_row_id: int, path: Path) -> None:
        try:
            await store.update_call(call_row_id, recording_path=str(path))
        except Exception as exc:  # the file exists either way; the sweeper finds it by its age
            log.error("recording: could not store the path of %s: %r", path, exc)

    # ---- tasks -----------------------------------------------------------------------------------

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recording: %s failed: %r", task.get_name(), task.exception())

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every recording handed over by ``stop`` is finished."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self, timeout_s: float = 30.0) -> None:
        """Service stop: let finishing recordings complete (they encrypt plain files), then cancel."""
        if not self._tasks:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await self.drain()
        except TimeoutError:
            log.error("recording: %d recording(s) not finished at shutdown", len(self._tasks))
            for task in list(self._tasks):
                task.cancel()
            await asyncio.wait(set(self._tasks))


def seal_file(path: Path, spans: list[tuple[int, int]], key: bytes | None) -> Path:
    """Redact a closed recording, then encrypt it (``x.wav.enc``) or, with no key, give it its
    finished name (``x.live.wav`` → ``x.wav``); returns the file that remains."""
    if spans:
        silence_channel(path, spans, channel=0)
    done = final_path(path) if path.name.endswith(LIVE_SUFFIX) else path
    if key is None:
        if done != path:
            os.replace(path, done)
        return done
    out = done.with_name(done.name + ENC_SUFFIX)
    encrypt_file(path, out, key)
    path.unlink(missing_ok=True)
    return out


def key_from_settings(settings: RecordingSettings) -> bytes | None:
    """The encryption key, ``None`` when unset or empty; :class:`RecordingKeyError` when malformed."""
    secret = settings.encryption_key
    if secret is None or not secret.get_secret_value().strip():
        return None
    return parse_key(secret.get_secret_value())


__all__ = [
    "CallRecording",
    "RecordingError",
    "RecordingManager",
    "key_from_settings",
    "live_path",
    "recording_path",
    "seal_file",
]
