"""Caller voices that are not the operator's: flite (voices slt, rms, awb, kal), 8 kHz, seeded noise.

Real callers are not our Piper voice, so tests and benches that "hear" a caller use flite. Each
rendering is kept under ``tests/fixtures/flite/`` (committed), named by a hash of voice and text, so
the suite runs where flite is not installed; a text not yet rendered there is rendered when flite is
present and skipped with a printed reason when it is not.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import soxr

VOICES = ("slt", "rms", "awb", "kal")
CACHE = Path(__file__).parent / "fixtures" / "flite"
RATE = 8000


class FliteUnavailable(RuntimeError):
    """The text has no committed rendering and flite is not installed to make one."""


def _cache_path(text: str, voice: str) -> Path:
    digest = hashlib.sha1(f"{voice}\n{text}".encode()).hexdigest()[:16]
    return CACHE / f"{voice}-{digest}.wav"


def _render_with_flite(text: str, voice: str, out: Path) -> None:
    flite = shutil.which("flite")
    if flite is None:
        raise FliteUnavailable(f"flite is not installed (apt-get install flite) and {out.name} is not committed")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run([flite, "-voice", voice, "-t", text, "-o", str(raw)], check=True, capture_output=True)
        with wave.open(str(raw), "rb") as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    audio = soxr.resample(pcm.astype(np.float32) / 32768.0, rate, RATE)
    samples = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
    CACHE.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())


def speak(text: str, voice: str = "slt") -> np.ndarray:
    """The text spoken by a flite voice: int16 mono at 8 kHz (raises FliteUnavailable)."""
    if voice not in VOICES:
        raise ValueError(f"unknown flite voice {voice!r}; one of {VOICES}")
    path = _cache_path(text, voice)
    if not path.exists():
        _render_with_flite(text, voice, path)
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).copy()


def add_noise(samples: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """White noise at ``snr_db`` against the speech's RMS, from a fixed seed (the same every run)."""
    speech = samples.astype(np.float64)
    rms = float(np.sqrt(np.mean(speech**2))) if speech.size else 0.0
    noise_rms = rms / (10.0 ** (snr_db / 20.0))
    noise = np.random.default_rng(seed).normal(0.0, noise_rms, size=speech.shape)
    return np.clip(np.round(speech + noise), -32768, 32767).astype(np.int16)


def with_pause(parts: list[np.ndarray], pause_s: float) -> np.ndarray:
    """Utterance parts joined by silences of ``pause_s`` (a caller who pauses mid-sentence)."""
    gap = np.zeros(int(RATE * pause_s), dtype=np.int16)
    out: list[np.ndarray] = []
    for i, part in enumerate(parts):
        if i:
            out.append(gap)
        out.append(part)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)


def speak_or_skip(text: str, voice: str = "slt") -> np.ndarray:
    """``speak`` for tests: a missing rendering without flite skips with a printed reason."""
    import pytest

    try:
        return speak(text, voice)
    except FliteUnavailable as exc:
        print(f"SKIP: {exc}")
        pytest.skip(str(exc))
