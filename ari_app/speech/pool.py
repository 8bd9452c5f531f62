"""The bounded inference pool shared by every call of the process.

Whisper (CTranslate2) and Piper (onnxruntime) release the GIL, so threads give real parallelism
while the event loop keeps pacing RTP. The pool is bounded so one busy call cannot starve the others;
:attr:`busy` lets a call say "one moment" instead of waiting in silence.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class InferencePool:
    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="speech")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._closed = False

    @property
    def in_flight(self) -> int:
        """Jobs submitted and not finished (running or queued), counted until the thread is done.

        A job whose awaiting task was cancelled keeps its worker until it returns, so it still counts.
        """
        return self._in_flight

    @property
    def busy(self) -> bool:
        return self._in_flight >= self.workers

    def _done(self, _fut: Future[Any]) -> None:
        with self._lock:
            self._in_flight -= 1

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._closed:
            raise RuntimeError("inference pool is closed")
        with self._lock:
            self._in_flight += 1
        try:
            cf = self._executor.submit(fn, *args, **kwargs)
        except BaseException:
            with self._lock:
                self._in_flight -= 1
            raise
        cf.add_done_callback(self._done)
        return await asyncio.wrap_future(cf)

    def close(self) -> None:
        """Stop accepting work; queued jobs are dropped, running ones finish in their threads."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
