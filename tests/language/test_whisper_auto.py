"""WhisperStt's side of detection, on a stand-in for the CTranslate2 model (no model is loaded):
"auto" reaches faster-whisper as no language on a multilingual model, an English-only model stays
pinned to English, and the detected language and its probability come back in the transcript."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from ari_app.speech.pool import InferencePool
from ari_app.speech.stt import AUTO_LANGUAGE, WhisperStt


@dataclass
class _Segment:
    text: str = "Quisiera una habitación."
    no_speech_prob: float = 0.01
    avg_logprob: float = -0.2


@dataclass
class _Info:
    language: str
    language_probability: float


class _Model:
    window = threading.local()

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    def transcribe(self, audio: Any, language: str | None = None, **_: Any) -> tuple[list[_Segment], _Info]:
        self.asked.append(language)
        return [_Segment()], _Info(language or "es", 1.0 if language else 0.91)


def _stt(multilingual: bool, pool: InferencePool) -> tuple[WhisperStt, _Model]:
    stt = WhisperStt.__new__(WhisperStt)  # skip loading: only the decode path is under test
    model = _Model()
    stt.pool, stt._model, stt.multilingual = pool, model, multilingual
    stt.language = "en"
    stt.min_voiced_frames, stt.window_frames = 0, 0
    stt.beam_size, stt.initial_prompt, stt.hotwords = 1, None, None
    stt.no_speech_threshold, stt.logprob_threshold = 0.4, -1.0
    return stt, model


@pytest.mark.parametrize(("multilingual", "asked", "language", "probability"), [
    (True, None, "es", 0.91),  # multilingual: Whisper detects
    (False, "en", "en", 1.0),  # *.en (the bundled tiny.en): English, as before
])
async def test_given_auto_when_transcribing_then_only_a_multilingual_model_detects(
    multilingual: bool, asked: str | None, language: str, probability: float
) -> None:
    pool = InferencePool(1)
    try:
        stt, model = _stt(multilingual, pool)
        audio = (np.sin(np.arange(8000) / 3) * 8000).astype(np.int16)
        result = await stt.transcribe(audio, AUTO_LANGUAGE)
        fixed = await stt.transcribe(audio)
    finally:
        pool.close()
    assert model.asked == [asked, "en"]
    assert (result.language, result.language_probability) == (language, probability)
    assert fixed.language_probability == 1.0
