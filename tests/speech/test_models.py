"""Real models: start-up errors for bad model files, and accuracy of the bundled Whisper on the
bundled Piper voice through 8 kHz μ-law (the phone line), clean and with noise."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest
from speechsupport import FakeStt, frames, noise, silence
from wer import normalize, wer

from ari_app.media.g711 import ulaw_decode, ulaw_encode
from ari_app.settings import SpeechSettings
from ari_app.speech import SpeechConfigError, SpeechEngines, WhisperStt
from ari_app.speech.engines import bundled_piper_paths, bundled_whisper_path
from ari_app.speech.pool import InferencePool
from ari_app.speech.tts import PiperTts
from ari_app.speech.vad import Endpointer, WebRtcClassifier

PHRASES = [
    "I'd like to book a double room for two guests.",
    "We arrive on March fifth and leave on March eighth.",
    "Do you have a suite available on July twelfth?",
    "My name is Sarah Johnson.",
    "My phone number is five five five, zero one four two.",
    "Is breakfast included with the king room?",
    "I need a twin room for three nights.",
    "Can I check in early, around ten in the morning?",
    "What time is check-out?",
    "There will be four adults and two children.",
    "I want to cancel my reservation for December twenty second.",
    "The booking is under the name Michael Brown.",
    "Could you send the payment link to my phone?",
    "Do you have parking for guests?",
    "We need two rooms from August first to August fourth.",
    "Please call me back at eight one two, three three four, seven seven nine one.",
    "Is the single room available tomorrow night?",
    "I would like to speak to the front desk.",
    "How much is a double room per night in October?",
    "My reservation number is four seven two nine.",
    "We are a family of five arriving on June third.",
    "Can I change my booking to a suite with a sea view?",
]


def phone_line(pcm: np.ndarray) -> np.ndarray:
    return ulaw_decode(ulaw_encode(pcm))


def with_noise(pcm: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    x = pcm.astype(np.float64)
    voiced = x[np.abs(x) > 0.01 * np.max(np.abs(x))]
    p_signal = float(np.mean(np.square(voiced)))
    rng = np.random.default_rng(seed)
    n = rng.normal(0, np.sqrt(p_signal / 10 ** (snr_db / 10)), x.size)
    return np.clip(x + n, -32768, 32767).astype(np.int16)


# Piper's VITS voice draws random noise on every synthesis, so each run heard slightly different
# audio and the WER moved between 2.5 % and 4.5 % on the same code. A fixed onnxruntime seed, set
# before a fresh voice is loaded and rendered in a fixed order, makes the clips identical run to run.
# The seed was fixed before looking at its score. Over seeds 0-4 the shipped settings scored clean
# 1.0/2.0/2.0/2.0/2.5 % and noisy 3.5/3.5/5.5/7.0/3.0 % (bench/README.md): seed 0 is at the good end
# for clean audio, and every seed is within the targets.
VOICE_SEED = 0


@pytest.fixture(scope="module")
def rendered(real_engines: SpeechEngines) -> list[np.ndarray]:
    import onnxruntime

    onnxruntime.set_seed(VOICE_SEED)
    tts = PiperTts(*bundled_piper_paths(), real_engines.pool, gain=real_engines.settings.tts_gain)

    async def render() -> list[np.ndarray]:
        return [await tts.synthesize(p) for p in PHRASES]

    return asyncio.run(render())


def transcribe_all(engines: SpeechEngines, clips: list[np.ndarray]) -> list[str]:
    async def go() -> list[str]:
        return [(await engines.stt.transcribe(c)).text for c in clips]

    return asyncio.run(go())


@pytest.mark.slow
def test_given_hotel_phrases_through_ulaw_when_transcribed_then_wer_at_most_3_percent(
    real_engines: SpeechEngines, rendered: list[np.ndarray]
) -> None:
    hyps = transcribe_all(real_engines, [phone_line(c) for c in rendered])
    score = wer(PHRASES, hyps)
    bad = [(r, h) for r, h in zip(PHRASES, hyps, strict=True) if normalize(r) != normalize(h)]
    print(f"\nclean WER {score:.3%}; mismatches: {bad}")
    assert len(PHRASES) >= 20
    assert score <= 0.03, bad


@pytest.mark.slow
def test_given_white_noise_at_15db_snr_when_transcribed_then_wer_at_most_8_percent(
    real_engines: SpeechEngines, rendered: list[np.ndarray]
) -> None:
    clips = [phone_line(with_noise(c, 15.0, seed=i)) for i, c in enumerate(rendered)]
    hyps = transcribe_all(real_engines, clips)
    score = wer(PHRASES, hyps)
    bad = [(r, h) for r, h in zip(PHRASES, hyps, strict=True) if normalize(r) != normalize(h)]
    print(f"\n15 dB SNR WER {score:.3%}; mismatches: {bad}")
    assert score <= 0.08, bad


@pytest.mark.slow
@pytest.mark.parametrize(
    "clip",
    [
        pytest.param(lambda: silence(5.0), id="digital-silence"),
        pytest.param(lambda: noise(5.0, -55, seed=1), id="line-hiss-55dBFS"),
        pytest.param(lambda: noise(5.0, -40, seed=2), id="line-noise-40dBFS"),
        pytest.param(
            lambda: (np.sin(2 * np.pi * 60 * np.arange(40000) / 8000) * 600).astype(np.int16) + noise(5.0, -50),
            id="mains-hum",
        ),
    ],
)
def test_given_5s_of_silence_or_line_noise_when_heard_then_zero_words(real_engines: SpeechEngines, clip: object) -> None:
    pcm = phone_line(clip())  # type: ignore[operator]
    # 1) the endpointer never opens a turn, so nothing would be sent to Whisper on a call
    c = WebRtcClassifier(2, -45)
    ep = Endpointer(real_engines.endpointer_config())
    events = [e for f in frames(pcm) if (e := ep.push(f, c.is_speech(f))) is not None]
    # 2) even forced through Whisper, the no-speech guard returns no words
    text = transcribe_all(real_engines, [pcm])[0]
    assert text.split() == [], text
    assert all(type(e).__name__ != "EndOfTurn" for e in events)


@pytest.mark.slow
@pytest.mark.parametrize(
    "clip",
    [
        pytest.param(lambda: noise(5.0, -40, seed=2), id="line-noise-40dBFS"),
        pytest.param(lambda: noise(5.0, -40, seed=7), id="line-noise-40dBFS-b"),
        pytest.param(lambda: noise(5.0, -30, seed=3), id="loud-noise-30dBFS"),  # webrtcvad calls this speech
    ],
)
def test_given_noise_past_the_vad_gate_when_transcribed_then_whispers_own_guard_returns_zero_words(
    real_engines: SpeechEngines, clip: object
) -> None:
    """The no-speech/log-prob guard alone, for noise our VAD lets through (loud hiss is "speech" to it)."""
    stt = real_engines.stt
    assert isinstance(stt, WhisperStt)
    gate, stt.min_voiced_frames = stt.min_voiced_frames, 0
    try:
        result = transcribe_all(real_engines, [phone_line(clip())])[0]  # type: ignore[operator]
    finally:
        stt.min_voiced_frames = gate
    assert result.split() == [], result


# ---- bad model files: clear error at start-up ----------------------------------------------------


def test_given_missing_whisper_path_when_loading_then_speech_config_error_names_the_setting(tmp_path: Path) -> None:
    settings = SpeechSettings(whisper_model=str(tmp_path / "nope"), prompt_cache_dir=str(tmp_path / "p"))
    with pytest.raises(SpeechConfigError, match=r"speech\.whisper_model: .*nope does not exist"):
        SpeechEngines.load(settings, voices={})


def test_given_broken_whisper_model_file_when_loading_then_speech_config_error(tmp_path: Path) -> None:
    broken = tmp_path / "whisper"
    shutil.copytree(bundled_whisper_path(), broken, ignore=shutil.ignore_patterns("model.bin"))
    (broken / "model.bin").write_bytes(b"\x00not a ctranslate2 model" * 100)
    pool = InferencePool(1)
    try:
        with pytest.raises(SpeechConfigError, match=r"speech\.whisper_model: cannot load"):
            WhisperStt(str(broken), pool)
    finally:
        pool.close()


def test_given_missing_piper_voice_when_loading_then_speech_config_error(tmp_path: Path) -> None:
    settings = SpeechSettings(piper_model=str(tmp_path / "voice.onnx"), prompt_cache_dir=str(tmp_path / "p"))
    with pytest.raises(SpeechConfigError, match=r"speech\.piper_model: .*voice\.onnx does not exist"):
        SpeechEngines.load(settings, stt=FakeStt())


def test_given_broken_piper_onnx_when_loading_then_speech_config_error(tmp_path: Path) -> None:
    model, config = bundled_piper_paths()
    bad = tmp_path / "voice.onnx"
    bad.write_bytes(b"garbage" * 1000)
    shutil.copy(config, tmp_path / "voice.onnx.json")
    settings = SpeechSettings(piper_model=str(bad), prompt_cache_dir=str(tmp_path / "p"))
    with pytest.raises(SpeechConfigError, match=r"speech\.piper_model: cannot load"):
        SpeechEngines.load(settings, stt=FakeStt())


def test_given_voice_for_unknown_language_file_when_loading_then_speech_config_error(tmp_path: Path) -> None:
    settings = SpeechSettings(voices={"xx": "/nonexistent.onnx"}, prompt_cache_dir=str(tmp_path / "p"))
    with pytest.raises(SpeechConfigError, match=r"no phrase file .*xx\.toml"):
        SpeechEngines.load(settings, stt=FakeStt())
