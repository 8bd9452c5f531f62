"""STT in noise, one change at a time: the bare model vs the product path, with and without the
hotel prompt, 10 s vs 30 s window, on flite callers clean and at 15 dB SNR (seeded white noise).

    .venv/bin/python bench/stt_noise.py

Prints WER per configuration and how many transcripts had a phrase loop dropped (a loop the
product path collapsed, or that the bare model left in).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "speech"))

from flitevoice import VOICES, add_noise, speak  # noqa: E402
from speechsupport import frames  # noqa: E402
from test_accuracy_flite import PHRASES, bare  # noqa: E402
from wer import wer  # noqa: E402

from ari_app.media.g711 import ulaw_decode, ulaw_encode  # noqa: E402
from ari_app.settings import SpeechSettings  # noqa: E402
from ari_app.speech import SpeechEngines, WhisperStt  # noqa: E402
from ari_app.speech.stt import collapse_loops  # noqa: E402
from ari_app.speech.vad import EndOfTurn, Endpointer  # noqa: E402


def product(engines: SpeechEngines, pcm: np.ndarray) -> str:
    line = ulaw_decode(ulaw_encode(np.concatenate([np.zeros(8000, np.int16), pcm, np.zeros(12000, np.int16)])))
    classifier = engines.classifier()
    ep = Endpointer(engines.endpointer_config())
    turns = [e.audio for f in frames(line) if isinstance(e := ep.push(f, classifier.is_speech(f)), EndOfTurn)]

    async def go() -> list[str]:
        return [(await engines.stt.transcribe(t)).text for t in turns]

    return " ".join(t for t in asyncio.run(go()) if t).strip()


def main() -> None:
    engines = SpeechEngines.load(SpeechSettings(prompt_cache_dir="/tmp/hotel-operator-bench-prompts"),
                                 hotel_name="Harbour View Hotel")
    stt = engines.stt
    assert isinstance(stt, WhisperStt)
    clean = [speak(p, VOICES[i % len(VOICES)]) for i, p in enumerate(PHRASES)]
    noisy = [add_noise(c, 15.0, seed=100 + i) for i, c in enumerate(clean)]
    prompt, window = stt.initial_prompt, stt.window_frames
    configs = [
        ("bare (beam 5, 30 s, no prompt)", None, None),
        ("product (10 s window, hotel prompt)", prompt, window),
        ("product, no prompt", None, window),
        ("product, 30 s window", prompt, 0),
    ]
    print(f"{len(PHRASES)} phrases, voices {VOICES}")
    print("| configuration | clean WER | 15 dB WER | loops in noisy output | seconds |")
    print("|---|---|---|---|---|")
    for label, p, w in configs:
        t0 = time.perf_counter()
        scores = []
        loops = 0
        for audio in (clean, noisy):
            if w is None:
                hyps = [bare(stt, a) for a in audio]
            else:
                stt.initial_prompt, stt.window_frames = p, w
                hyps = [product(engines, a) for a in audio]
            scores.append(wer(PHRASES, hyps))
            loops = sum(1 for h in hyps if collapse_loops(h) != h)
        stt.initial_prompt, stt.window_frames = prompt, window
        print(f"| {label} | {scores[0]:.1%} | {scores[1]:.1%} | {loops} | {time.perf_counter() - t0:.1f} |")
    engines.pool.close()


if __name__ == "__main__":
    main()
