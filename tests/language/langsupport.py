"""Two-language speech doubles: a voice per language that records what it said, a Spanish phrase
file written to tmp_path (only English ships), and an STT that reports a detected language.

Imported as `langsupport` (this folder is put on sys.path by its conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ari_app.brain.context import CallContext
from ari_app.brain.events import BrainEvent, Say
from ari_app.settings import SpeechSettings
from ari_app.speech import SpeechEngines
from ari_app.speech.phrases import BUNDLED_DIR
from ari_app.speech.stt import Transcript
from ari_app.speech.tts import SentenceTts

Int16Array = npt.NDArray[np.int16]

ES_TOML = """
[prompts]
one_moment = "Un momento, por favor."
apology = "Lo siento, tengo un problema técnico."
didnt_catch = "Perdone, no le he entendido."

[stt]
vocabulary = ["habitación", "reserva"]
prompt = "Un huésped llama a {hotel}."
"""


class LangTts(SentenceTts):
    """A fake voice for one language that records its texts; its own ``voice_id`` keeps the prompt
    cache apart per voice (two voices with one id would serve each other's audio)."""

    name = "fake-lang-tts"

    def __init__(self, language: str) -> None:
        self.language = language
        self.texts: list[str] = []

    @property
    def voice_id(self) -> str:
        return f"fake:{self.language}"

    async def synthesize(self, text: str) -> Int16Array:
        self.texts.append(text)
        t = np.arange(max(1, len(text.split())) * 2 * 160) / 8000
        return (np.sin(2 * np.pi * 300 * t) * 6000).astype(np.int16)


class DetectingStt:
    """A multilingual STT double: without a fixed language it reports ``detected`` with ``probability``."""

    name = "fake-detecting-stt"

    def __init__(self, text: str, detected: str, probability: float = 0.95, multilingual: bool = True) -> None:
        self.text = text
        self.detected = detected
        self.probability = probability
        self.multilingual = multilingual  # what WhisperStt reads from its model; False for *.en
        self.languages: list[str | None] = []  # the language asked for, per call

    async def transcribe(self, pcm8k: Int16Array, language: str | None = None) -> Transcript:
        self.languages.append(language)
        if language == "auto":
            return Transcript(self.text, self.detected, len(pcm8k) / 8000, language_probability=self.probability)
        return Transcript(self.text, language or "en", len(pcm8k) / 8000)


def phrases_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "lang"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "en.toml").write_text((BUNDLED_DIR / "en.toml").read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "es.toml").write_text(ES_TOML, encoding="utf-8")
    return folder


def two_language_engines(
    tmp_path: Path, stt: Any | None = None, **overrides: Any
) -> tuple[SpeechEngines, LangTts, LangTts]:
    en, es = LangTts("en"), LangTts("es")
    # the synthetic voice's syllable troughs read as 160-180 ms pauses to webrtcvad: keep the guess
    # trigger above them, so the tests see guesses only at the pauses they feed
    overrides.setdefault("vad_pause_ms", 200)
    settings = SpeechSettings(
        prompt_cache_dir=str(tmp_path / "prompts"),
        phrases_dir=str(phrases_dir(tmp_path)),
        voices={"es": str(tmp_path / "es_ES-fake.onnx")},  # never loaded: the voices are injected
        **overrides,
    )
    engines = SpeechEngines.load(
        settings,
        hotel_name="Harbour View Hotel",
        stt=stt or DetectingStt("Hello.", "en", multilingual=False),
        voices={"en": en, "es": es},
    )
    return engines, en, es


class StoreWithSessions:
    """Records turns and metrics; ``sessions`` exists because the conversation builds a brain
    context from it, which these tests never query."""

    sessions: Any = None

    def __init__(self) -> None:
        self.turns: list[tuple[str, str]] = []
        self.metrics: list[tuple[str, float, dict[str, Any]]] = []

    async def add_turn(self, call_id: int, role: str, content: str, **kw: Any) -> int:
        self.turns.append((role, content))
        return len(self.turns)

    async def add_metric(self, call_id: int | None, name: str, value: float, labels: Any = None) -> None:
        self.metrics.append((name, value, labels or {}))


@dataclass
class FakeControl:
    variables: dict[str, str] = field(default_factory=dict)
    transfers: list[str] = field(default_factory=list)

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value

    async def transfer(self, extension: str, context: str | None = None) -> None:
        self.transfers.append(extension)

    async def hangup(self, cause: str = "normal") -> None:
        pass

    async def start_hold_music(self, moh_class: str = "default") -> None:
        pass

    async def stop_hold_music(self) -> None:
        pass

    async def play_sound(self, media: str) -> None:
        pass


class RecordingBrain:
    """Greets with a fixed sentence and notes the context's language at each call."""

    name = "embedded"

    def __init__(self, greeting: str = "Hola, bienvenido.") -> None:
        self.greeting = greeting
        self.languages: list[str] = []

    async def greet(self, ctx: CallContext) -> AsyncIterator[BrainEvent]:
        self.languages.append(ctx.language)
        yield Say(self.greeting)

    async def respond(self, ctx: CallContext, text: str, mode: str = "speech") -> AsyncIterator[BrainEvent]:
        self.languages.append(ctx.language)
        yield Say("De acuerdo.")


async def wait_until(predicate: Any, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - the state lives in fakes fed by other tasks
            await asyncio.sleep(0.005)
