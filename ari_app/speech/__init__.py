"""Local speech for calls: VAD/endpointing, STT, TTS, prompt cache and the per-call voice loop.

DESIGN.md section 4. Models are loaded once per process with :meth:`SpeechEngines.load`; each call
runs a :class:`SpeechLoop` over its :class:`~ari_app.session.CallSession`.
"""

from ari_app.speech.cache import PromptCache
from ari_app.speech.engines import SpeechEngines
from ari_app.speech.errors import SpeechConfigError, SpeechEngineError, SpeechError
from ari_app.speech.loop import LoopResult, Respond, SpeechLoop, TurnResult
from ari_app.speech.phrases import Phrases
from ari_app.speech.pool import InferencePool
from ari_app.speech.stt import OpenAiStt, SttEngine, Transcript, WhisperStt
from ari_app.speech.tts import OpenAiTts, PiperTts, SentenceSplitter, SentenceTts, TtsEngine
from ari_app.speech.vad import Endpointer, EndpointerConfig, FrameClassifier, WebRtcClassifier

__all__ = [
    "Endpointer",
    "EndpointerConfig",
    "FrameClassifier",
    "InferencePool",
    "LoopResult",
    "OpenAiStt",
    "OpenAiTts",
    "Phrases",
    "PiperTts",
    "PromptCache",
    "Respond",
    "SentenceSplitter",
    "SentenceTts",
    "SpeechConfigError",
    "SpeechEngineError",
    "SpeechEngines",
    "SpeechError",
    "SpeechLoop",
    "SttEngine",
    "Transcript",
    "TtsEngine",
    "TurnResult",
    "WebRtcClassifier",
    "WhisperStt",
]
