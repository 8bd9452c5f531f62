"""The in-memory cache of reply sentences: replayed, bounded, shared while rendering, never stale."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from speechsupport import FakeTts, make_engines

from ari_app.speech.sentence_cache import SentenceCache
from ari_app.speech.tts import text_chunks


def _pcm(n: int, value: int = 1) -> np.ndarray:
    return np.full(n, value, dtype=np.int16)


class Renderer:
    def __init__(self, samples: int = 800, delay: float = 0.0, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.samples = samples
        self.delay = delay
        self.fail = fail

    async def __call__(self, text: str) -> np.ndarray:
        self.calls.append(text)
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("voice broke")
        return _pcm(self.samples, len(text))


async def test_given_a_sentence_said_before_when_asked_again_then_it_is_replayed_without_synthesis() -> None:
    cache, render = SentenceCache(), Renderer()
    first = await cache.get("v", "How many guests?", render)
    again = await cache.get("v", "How many guests?", render)
    assert render.calls == ["How many guests?"]
    assert again is first and (cache.hits, cache.misses) == (1, 1)
    assert not again.flags.writeable  # shared between calls: nobody may change it in place
    await cache.get("other-voice", "How many guests?", render)  # another voice is another rendering
    assert len(render.calls) == 2


async def test_given_the_entry_bound_when_full_then_the_least_recently_used_sentence_goes() -> None:
    cache, render = SentenceCache(max_entries=2), Renderer()
    for text in ("a", "b"):
        await cache.get("v", text, render)
    await cache.get("v", "a", render)  # "a" is now the most recent
    await cache.get("v", "c", render)
    assert cache.get_cached("v", "b") is None
    assert cache.get_cached("v", "a") is not None and cache.get_cached("v", "c") is not None
    assert len(cache) == 2


async def test_given_the_audio_bound_when_exceeded_then_old_sentences_go_and_a_huge_one_is_not_kept() -> None:
    cache = SentenceCache(max_entries=100, max_audio_s=1.0)  # 8000 samples
    await cache.get("v", "one", Renderer(samples=5000))
    await cache.get("v", "two", Renderer(samples=5000))
    assert cache.get_cached("v", "one") is None and cache.audio_seconds == pytest.approx(5000 / 8000)
    await cache.get("v", "long", Renderer(samples=9000))
    assert cache.get_cached("v", "long") is None and cache.get_cached("v", "two") is not None


async def test_given_two_calls_asking_at_once_when_rendering_then_one_synthesis_serves_both() -> None:
    cache, render = SentenceCache(), Renderer(delay=0.05)
    a, b = await asyncio.gather(cache.get("v", "Welcome.", render), cache.get("v", "Welcome.", render))
    assert render.calls == ["Welcome."] and a is b


async def test_given_a_failed_rendering_when_asked_then_the_failure_is_raised_to_all_and_nothing_kept() -> None:
    cache, render = SentenceCache(), Renderer(delay=0.02, fail=True)
    results = await asyncio.gather(cache.get("v", "x", render), cache.get("v", "x", render), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert cache.get_cached("v", "x") is None
    render.fail = False
    assert (await cache.get("v", "x", render)).size == 800


async def test_given_the_owner_barges_out_when_another_call_waits_then_the_waiter_renders_for_itself() -> None:
    cache, render = SentenceCache(), Renderer(delay=0.05)
    owner = asyncio.create_task(cache.get("v", "Sure.", render))
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(cache.get("v", "Sure.", render))
    await asyncio.sleep(0.01)
    owner.cancel()
    pcm = await waiter
    assert pcm.size == 800 and render.calls == ["Sure.", "Sure."]
    assert owner.cancelled()


def test_given_no_room_when_made_then_it_is_refused() -> None:
    with pytest.raises(ValueError):
        SentenceCache(max_entries=0)


async def test_given_a_voice_with_the_cache_when_a_reply_repeats_then_its_sentences_are_not_synthesised_again() -> None:
    tts = FakeTts()
    tts.sentence_cache = SentenceCache()
    said = [s async for s, _ in tts.speak_sentences(text_chunks(["Certainly. ", "How many guests?"]))]
    again = [s async for s, _ in tts.speak_sentences(text_chunks(["Certainly. ", "Anything else?"]))]
    assert said == ["Certainly.", "How many guests?"] and again == ["Certainly.", "Anything else?"]
    assert tts.texts == ["Certainly.", "How many guests?", "Anything else?"]
    assert tts.sentence_cache.hits == 1 and tts.sentence_cache.misses == 3


def test_given_settings_when_engines_load_then_the_voices_share_one_cache_or_none_when_off(tmp_path: Path) -> None:
    tts = FakeTts()
    engines = make_engines(tmp_path, tts=tts, sentence_cache_entries=3)
    assert engines.sentences is not None and tts.sentence_cache is engines.sentences
    assert engines.sentences.max_entries == 3
    off = FakeTts()
    assert make_engines(tmp_path, tts=off, sentence_cache_entries=0).sentences is None
    assert off.sentence_cache is None
