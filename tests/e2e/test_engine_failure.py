"""A speech engine that fails mid-call: the caller hears an apology and gets the keypad menu, and
the failure stays with that call (the next call still gets the spoken operator)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from e2e_support import running_stack, wait_for, wait_until
from sqlalchemy import select
from testsupport import FIXTURES

from ari_app.settings import SpeechSettings
from ari_app.speech import SpeechEngines
from ari_app.speech.errors import SpeechEngineError
from ari_app.speech.stt import Transcript
from ari_app.speech.tts import SentenceTts
from models import VoiceAnalytics, VoiceCall

Pcm = npt.NDArray[np.int16]


class BrokenStt:
    """A model that crashes on every utterance (say, a corrupted model file found mid-call)."""

    name = "broken-stt"

    async def transcribe(self, pcm8k: Pcm, language: str | None = None) -> Transcript:
        raise SpeechEngineError(self.name, "model crashed")


class ToneTts(SentenceTts):
    """A tone per sentence (50 ms a word: the apology plays out before the menu), remembering what it was asked to say."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    @property
    def voice_id(self) -> str:
        return "tone"

    async def synthesize(self, text: str) -> Pcm:
        self.texts.append(text)
        t = np.arange(8000 * max(1, len(text.split())) // 20) / 8000.0
        out: Pcm = (np.sin(2 * np.pi * 300 * t) * 8000).astype(np.int16)
        return out


@pytest.fixture
def broken(tmp_path: Path) -> Iterator[tuple[SpeechEngines, ToneTts]]:
    tts = ToneTts()
    engines = SpeechEngines.load(
        SpeechSettings(prompt_cache_dir=str(tmp_path / "prompts")), stt=BrokenStt(), voices={"en": tts}
    )
    yield engines, tts
    engines.pool.close()


async def test_given_stt_failing_mid_call_when_caller_speaks_then_apology_then_keypad_menu_and_next_call_talks(
    tmp_path: Path, broken: tuple[SpeechEngines, ToneTts]
) -> None:
    engines, tts = broken
    await engines.warm()
    # the first second of the recorded caller ("I would like to book a room…"), then silence
    speech = (FIXTURES / "asterisk" / "basic-rtp-in.ulaw").read_bytes()[:8000]
    async with running_stack(tmp_path, speech=engines) as stack:
        ch = stack.standin.place_call(caller_number="+15556660001")
        await wait_for(lambda: stack.media_leg(ch) is not None, 10, "bridged")
        leg = stack.media_leg(ch)
        assert leg is not None
        await wait_for(lambda: len(tts.texts) >= 1, 10, "greeting rendered")
        leg.say(speech)
        await wait_for(lambda: not leg.saying, 30, "caller spoke")

        async def failure_noted() -> bool:
            async with stack.service.sessions() as db:
                return bool(
                    (
                        await db.execute(
                            select(VoiceAnalytics).where(VoiceAnalytics.metric_name == "speech.engine_error")
                        )
                    ).first()
                )

        # the end of the caller's turn, the failing STT, the apology
        await wait_until(failure_noted, 10, "speech failure noted")
        # after the apology (a cached prompt) the keypad menu is offered: 2 reaches the front desk
        stack.standin.send_dtmf(ch, "2")

        def continued(channel: str) -> bool:
            return any(f"/channels/{channel}/" in r.path for r in stack.standin.requests("channels.continueInDialplan"))

        await wait_for(lambda: continued(ch), 20, "transferred from the fallback menu")
        await wait_for(lambda: not stack.service.managers[0].calls, 10, "call released")
        async with stack.service.sessions() as db:
            call = (await db.execute(select(VoiceCall).where(VoiceCall.channel_id == ch))).scalar_one()
            errors = (
                await db.execute(select(VoiceAnalytics).where(VoiceAnalytics.metric_name == "speech.engine_error"))
            ).scalars().all()
        assert call.status == "transferred"
        assert errors and errors[0].call_id == call.id
        assert any("having trouble understanding" in t for t in tts.texts)  # the apology was rendered

        # the next caller still gets the spoken operator: the failure switched only that call
        second = stack.standin.place_call(caller_number="+15556660002")
        await wait_for(lambda: stack.media_leg(second) is not None, 10, "second call bridged")
        leg2 = stack.media_leg(second)
        assert leg2 is not None
        await wait_for(lambda: any(p.payload.count(0xFF) != len(p.payload) for p in leg2.captured), 10, "spoken")
        assert not any(f"/channels/{second}/" in r.path for r in stack.standin.requests("channels.continueInDialplan"))
        # the caller hangs up: a call left live would hold the service's stop for its whole drain time
        stack.standin.hangup_caller(second)
        await wait_for(lambda: not stack.service.managers[0].calls, 10, "second call released")
