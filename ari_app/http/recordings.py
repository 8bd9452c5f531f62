"""Recordings for staff: streamed, decrypted on the fly, with byte ranges for a browser's player.

An encrypted recording (``.enc``, :mod:`ari_app.recording.crypto`) is never written out in plain:
the security helper's ``decrypt_stream`` runs in a thread and feeds a small bounded queue, and only
the bytes of the requested range go to the client. Chunks are authenticated as they are decrypted,
so nothing unauthenticated is ever sent. The size of the plain WAV follows from the file size and
the chunk layout, so ``Content-Length`` and ``Content-Range`` are exact before decrypting anything.

Every request is an audit row (who, when, which recording, what range, what status), written before
the first byte leaves, 404s included, so a probe for ids is visible too.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from pathlib import Path
from typing import Any, BinaryIO, cast

from aiohttp import web
from sqlalchemy import select

from ari_app.http.context import CTX, WHO, ApiContext
from ari_app.http.schema import route
from ari_app.recording.crypto import ENC_SUFFIX, HEADER_LEN, MAGIC, TAG, decrypt_stream, parse_key
from ari_app.recording.errors import DecryptError
from models import RecordingAccess, VoiceCall

_END = object()


class _Stop(Exception):
    """The window is complete (or the client went away): stop decrypting."""


class _Window:
    """A write-only sink for ``decrypt_stream`` that keeps bytes [start, stop) of the plain stream."""

    def __init__(self, start: int, stop: int, out: queue.Queue[Any], cancelled: threading.Event) -> None:
        self.pos = 0
        self.start = start
        self.stop = stop
        self.out = out
        self.cancelled = cancelled

    def write(self, data: bytes) -> int:
        lo, hi = self.pos, self.pos + len(data)
        self.pos = hi
        if hi > self.start and lo < self.stop:
            self._put(bytes(data[max(0, self.start - lo): min(len(data), self.stop - lo)]))
        if self.pos >= self.stop:
            raise _Stop
        return len(data)

    def _put(self, item: Any) -> None:
        while not self.cancelled.is_set():
            try:
                self.out.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        raise _Stop


def plain_size(path: Path) -> int:
    """Bytes of the plain WAV inside an encrypted recording, from its header and size alone."""
    with open(path, "rb") as f:
        header = f.read(HEADER_LEN)
    if len(header) < HEADER_LEN or not header.startswith(MAGIC):
        raise DecryptError("not an encrypted recording")
    chunk = int.from_bytes(header[9:13], "big")
    body = path.stat().st_size - HEADER_LEN
    if chunk <= 0 or body < TAG:
        raise DecryptError("encrypted recording header is damaged")
    chunks = -(-body // (chunk + TAG))
    return body - chunks * TAG


def _decrypt_window(path: Path, key: bytes, window: _Window) -> None:
    try:
        with open(path, "rb") as src:
            decrypt_stream(src, cast(BinaryIO, window), key)
    except _Stop:
        pass
    except Exception as exc:  # handed to the event loop, which decides what the client gets
        window._put(exc)  # noqa: SLF001 - same module
        return
    try:
        window._put(_END)  # noqa: SLF001
    except _Stop:
        pass


async def _audit(ctx: ApiContext, request: web.Request, sid: str, status: int) -> None:
    async with ctx.sessions.begin() as db:
        db.add(RecordingAccess(
            session_id=sid[:64], who=str(request.get(WHO, "") or "unknown")[:64],
            remote=(request.remote or "")[:64], byte_range=request.headers.get("Range", "")[:64], status=status,
        ))


def _range(request: web.Request, size: int) -> tuple[int, int] | None:
    """(start, stop) of a single byte range, None for the whole file; 416 when unsatisfiable."""
    if "Range" not in request.headers:
        return None
    try:
        rng = request.http_range
    except ValueError:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"}) from None
    start, stop = rng.start, rng.stop
    if start is None and stop is None:
        return None
    if start is not None and start < 0:  # suffix: the last n bytes
        start, stop = max(0, size + start), size
    start = start or 0
    stop = size if stop is None else min(stop, size)
    if start >= size or start >= stop:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return start, stop


@route("Stream a call's recording (WAV); Range supported; every access is audited",
       tags=("recordings",), response_type="audio/wav", errors=(401, 404, 416),
       extra_responses={206: "partial content (Range)"})
async def get_recording(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    sid = request.match_info["session_id"]
    async with ctx.sessions() as db:
        stored = await db.scalar(select(VoiceCall.recording_path).where(VoiceCall.session_id == sid))
    path = Path(stored) if stored else None
    if path is None or not path.is_file():
        await _audit(ctx, request, sid, 404)
        raise web.HTTPNotFound(text=f"no recording for session {sid} (unknown, or purged by retention)")
    if not path.name.endswith(ENC_SUFFIX):
        await _audit(ctx, request, sid, 206 if "Range" in request.headers else 200)
        return web.FileResponse(path, headers={"Content-Type": "audio/wav"})
    if not ctx.recording_key:
        await _audit(ctx, request, sid, 503)
        raise web.HTTPServiceUnavailable(text="recording.encryption_key is not configured on this instance")
    try:
        size = plain_size(path)
        window_range = _range(request, size)
    except DecryptError as exc:
        await _audit(ctx, request, sid, 500)
        raise web.HTTPInternalServerError(text=f"recording cannot be read: {exc}") from None
    except web.HTTPRequestRangeNotSatisfiable:
        await _audit(ctx, request, sid, 416)
        raise
    start, stop = window_range or (0, size)
    return await _stream(request, ctx, sid, path, size, start, stop, partial=window_range is not None)


async def _next(out: queue.Queue[Any], worker: threading.Thread) -> Any:
    """The next item from the decrypting thread; short waits, so a cancelled request leaves no
    executor thread blocked on the queue."""
    while True:
        try:
            return await asyncio.to_thread(out.get, True, 0.25)
        except queue.Empty:
            if not worker.is_alive() and out.empty():
                return DecryptError("the decrypting thread ended early")


async def _stream(request: web.Request, ctx: ApiContext, sid: str, path: Path, size: int,
                  start: int, stop: int, *, partial: bool) -> web.StreamResponse:
    out: queue.Queue[Any] = queue.Queue(maxsize=4)
    cancelled = threading.Event()
    worker = threading.Thread(
        target=_decrypt_window, args=(path, parse_key(ctx.recording_key or ""), _Window(start, stop, out, cancelled)),
        name=f"recording:{sid[:8]}", daemon=True,
    )
    worker.start()
    try:
        first = await _next(out, worker)
        if isinstance(first, Exception):
            await _audit(ctx, request, sid, 500)
            raise web.HTTPInternalServerError(text=f"recording cannot be decrypted: {first}")
        status = 206 if partial else 200
        await _audit(ctx, request, sid, status)
        resp = web.StreamResponse(status=status, headers={
            "Content-Type": "audio/wav", "Accept-Ranges": "bytes", "Content-Length": str(stop - start),
        })
        if partial:
            resp.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        await resp.prepare(request)
        item = first
        while item is not _END:
            if isinstance(item, Exception):  # headers are gone: all we can do is cut the stream
                raise ConnectionAbortedError(f"recording {sid}: {item}")
            await resp.write(item)
            item = await _next(out, worker)
        await resp.write_eof()
        return resp
    finally:
        cancelled.set()


def install(app: web.Application) -> None:
    app.router.add_get("/voice/recordings/{session_id}", get_recording)
