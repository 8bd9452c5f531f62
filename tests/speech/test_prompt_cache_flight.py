"""A cold prompt cache under a burst of first callers (issue 18 D9): one synthesis per text, and the
greeting rendered at warm-up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from speechsupport import FakeStt, FakeTts, make_engines

from ari_app.brain import embedded
from ari_app.speech.cache import PromptCache


class GatedTts(FakeTts):
    """Synthesis that blocks until released, so concurrent requests really overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.started = 0

    async def synthesize(self, text: str) -> np.ndarray:
        self.started += 1
        await self.release.wait()
        return await super().synthesize(text)


async def test_given_fifty_callers_asking_for_the_same_prompt_at_once_when_cold_then_it_is_synthesised_once(
    tmp_path: Path,
) -> None:
    cache = PromptCache(tmp_path / "prompts")
    tts = GatedTts()
    tasks = [asyncio.create_task(cache.get(tts, "Thank you for calling.")) for _ in range(50)]
    await asyncio.sleep(0.01)
    tts.release.set()
    results = await asyncio.gather(*tasks)
    assert tts.started == 1 and cache.syntheses == 1
    assert all(r is results[0] for r in results)
    assert cache.get_cached(tts.voice_id, "Thank you for calling.") is results[0]


async def test_given_the_first_requester_cancelled_when_others_wait_then_they_still_get_the_prompt(
    tmp_path: Path,
) -> None:
    cache = PromptCache(None)
    tts = GatedTts()
    first = asyncio.create_task(cache.get(tts, "Hello."))
    await asyncio.sleep(0)
    others = [asyncio.create_task(cache.get(tts, "Hello.")) for _ in range(3)]
    await asyncio.sleep(0)
    others[0].cancel()  # a caller hanging up while waiting
    tts.release.set()
    pcm = await first
    assert [await t for t in others[1:]] == [pcm, pcm] and tts.started == 1


async def test_given_the_call_that_started_the_rendering_hangs_up_when_others_wait_then_one_of_them_renders_it(
    tmp_path: Path,
) -> None:
    cache = PromptCache(None)
    tts = GatedTts()
    owner = asyncio.create_task(cache.get(tts, "Welcome."))
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(cache.get(tts, "Welcome.")) for _ in range(3)]
    await asyncio.sleep(0)
    owner.cancel()  # the first caller hangs up (or barges in) mid-rendering
    await asyncio.sleep(0)
    tts.release.set()
    results = await asyncio.gather(*waiters)
    assert owner.cancelled()
    assert all(r is results[0] for r in results) and results[0].size > 0
    assert tts.started == 2 and cache.syntheses == 2  # the abandoned one, then one for all waiters


async def test_given_a_failing_synthesis_when_many_wait_then_all_see_the_error_and_a_retry_synthesises_again(
    tmp_path: Path,
) -> None:
    cache = PromptCache(None)
    tts = GatedTts()
    tts.fail = True
    tasks = [asyncio.create_task(cache.get(tts, "Hi.")) for _ in range(3)]
    await asyncio.sleep(0)
    tts.release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, Exception) for o in outcomes) and tts.started == 1
    tts.fail = False
    assert (await cache.get(tts, "Hi.")).size > 0 and tts.started == 2


async def test_given_the_brain_words_its_greeting_when_warmed_then_the_greeting_is_already_rendered(
    tmp_path: Path,
) -> None:
    tts = FakeTts()
    engines = make_engines(tmp_path, stt=FakeStt(), tts=tts)
    await engines.warm(texts=["Press 1 for reservations."])
    voice_id = engines.voice_for("en").voice_id
    assert engines.cache.get_cached(voice_id, embedded.greeting_text("Harbour View Hotel")) is not None
    assert engines.cache.get_cached(voice_id, "Press 1 for reservations.") is not None
    assert engines.cache.get_cached(voice_id, engines.prompt_text("one_moment", "en")) is not None
