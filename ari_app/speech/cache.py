"""Rendered fixed prompts (greeting, menus, "one moment"), kept in memory and on disk.

Keyed by voice and text, so changing the voice or the wording renders afresh and never plays a stale
recording. The disk copy lets a restarted process answer its first call without synthesising, and
the memory copy is what a call plays when every inference worker is busy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ari_app.speech.single_flight import SingleFlight
from ari_app.speech.tts import TtsEngine

log = logging.getLogger(__name__)

Int16Array = npt.NDArray[np.int16]


def prompt_key(voice_id: str, text: str) -> str:
    return hashlib.sha256(f"{voice_id}\x00{text}".encode()).hexdigest()[:40]


class PromptCache:
    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self.directory = Path(directory) if directory else None
        self._memory: dict[str, Int16Array] = {}
        # callers asking for a prompt that is being rendered wait for that rendering
        self._flight: SingleFlight[str, Int16Array] = SingleFlight()
        self.hits = 0
        self.misses = 0
        self.syntheses = 0

    def _path(self, voice_id: str, key: str) -> Path | None:
        if self.directory is None:
            return None
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", voice_id)
        return self.directory / safe / f"{key}.s16"

    def get_cached(self, voice_id: str, text: str) -> Int16Array | None:
        """Memory, then disk; ``None`` if the prompt was never rendered for this voice."""
        key = prompt_key(voice_id, text)
        pcm = self._memory.get(key)
        if pcm is not None:
            return pcm
        path = self._path(voice_id, key)
        if path is not None and path.is_file():
            try:
                pcm = np.frombuffer(path.read_bytes(), dtype="<i2").astype(np.int16)
            except OSError as exc:
                log.warning("prompt cache: cannot read %s: %s", path, exc)
                return None
            self._memory[key] = pcm
            return pcm
        return None

    def put(self, voice_id: str, text: str, pcm: Int16Array) -> None:
        key = prompt_key(voice_id, text)
        pcm = np.asarray(pcm, dtype=np.int16)
        self._memory[key] = pcm
        path = self._path(voice_id, key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # write then rename: a crash never leaves a truncated prompt that would play as a cut-off
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(pcm.astype("<i2").tobytes())
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("prompt cache: cannot write %s: %s (kept in memory)", path, exc)

    async def get(self, tts: TtsEngine, text: str) -> Int16Array:
        pcm = self.get_cached(tts.voice_id, text)
        if pcm is not None:
            self.hits += 1
            return pcm
        self.misses += 1

        async def produce() -> Int16Array:
            # a waiter taking over an abandoned rendering may find it done by another waiter
            done = self.get_cached(tts.voice_id, text)
            if done is not None:
                return done
            self.syntheses += 1
            rendered = await tts.synthesize(text)
            self.put(tts.voice_id, text, rendered)
            return rendered

        pcm, _shared = await self._flight.run(prompt_key(tts.voice_id, text), produce)
        return pcm
