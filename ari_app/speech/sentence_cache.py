"""Audio of reply sentences spoken recently, kept in memory for the next caller who needs them.

The embedded operator says the same sentences all day ("How many guests will be staying, adults and
children?", "May I have the name for the booking, please?"), and the caller waits for the first
sentence's synthesis before hearing anything: a sentence already rendered starts at once, and on a
busy machine its synthesis no longer competes with other calls' transcription for the cores.

Memory only, bounded by entries and by seconds of audio: replies can carry a caller's name or dates,
which must not land on disk (the fixed prompts of :mod:`ari_app.speech.cache` do; these do not), and
the least recently used sentence goes first. Concurrent asks for one sentence share one synthesis.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

import numpy as np
import numpy.typing as npt

from ari_app.speech.single_flight import SingleFlight

Int16Array = npt.NDArray[np.int16]
RATE = 8000


class SentenceCache:
    def __init__(self, max_entries: int = 256, max_audio_s: float = 600.0) -> None:
        if max_entries < 1 or max_audio_s <= 0:
            raise ValueError("a sentence cache needs room for at least one sentence")
        self.max_entries = max_entries
        self.max_samples = int(max_audio_s * RATE)
        self._audio: OrderedDict[tuple[str, str], Int16Array] = OrderedDict()
        self._samples = 0
        self._flight: SingleFlight[tuple[str, str], Int16Array] = SingleFlight()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._audio)

    @property
    def audio_seconds(self) -> float:
        return self._samples / RATE

    def clear(self) -> None:
        self._audio.clear()
        self._samples = 0

    def get_cached(self, voice_id: str, text: str) -> Int16Array | None:
        key = (voice_id, text)
        pcm = self._audio.get(key)
        if pcm is not None:
            self._audio.move_to_end(key)
        return pcm

    async def get(self, voice_id: str, text: str, render: Callable[[str], Awaitable[Int16Array]]) -> Int16Array:
        """The sentence's audio: from memory, from a rendering already under way, or rendered now.

        A failed rendering is not kept, and every waiter on it sees the failure; a rendering given up
        (its caller barged in) leaves its waiters to render for themselves. The audio is shared, so
        it is read-only."""
        key = (voice_id, text)
        cached = self.get_cached(voice_id, text)
        if cached is not None:
            self.hits += 1
            return cached

        async def produce() -> Int16Array:
            # a waiter taking over an abandoned rendering may find it done by another waiter
            done = self._audio.get(key)
            if done is not None:
                return done
            pcm = await render(text)
            pcm.flags.writeable = False
            self._put(key, pcm)
            return pcm

        pcm, shared = await self._flight.run(key, produce)
        if shared:
            self.hits += 1
        else:
            self.misses += 1
        return pcm

    def _put(self, key: tuple[str, str], pcm: Int16Array) -> None:
        if pcm.size == 0 or pcm.size > self.max_samples:
            return
        old = self._audio.pop(key, None)
        if old is not None:
            self._samples -= old.size
        self._audio[key] = pcm
        self._samples += pcm.size
        while len(self._audio) > self.max_entries or self._samples > self.max_samples:
            _key, evicted = self._audio.popitem(last=False)
            self._samples -= evicted.size
