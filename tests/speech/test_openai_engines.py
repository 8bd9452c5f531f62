"""OpenAiStt and OpenAiTts through the real ``openai`` package against a LOCAL aiohttp server that
speaks OpenAI's documented audio wire protocol (no network, no key):

- ``POST /v1/audio/transcriptions``: multipart form (``file``, ``model``, ``language``, ``prompt``)
  → ``{"text": ...}``
- ``POST /v1/audio/speech``: JSON (``model``, ``voice``, ``input``, ``response_format``) → audio bytes;
  ``pcm`` is raw 24 kHz 16-bit little-endian mono.
"""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from aiohttp import BodyPartReader, web
from speechsupport import voice

from ari_app.speech import OpenAiStt, OpenAiTts, SpeechConfigError, SpeechEngineError
from ari_app.speech.tts import text_chunks


@dataclass
class OpenAiStandIn:
    """Records what each request carried; ``fail_with`` makes the next requests return that status."""

    transcriptions: list[dict[str, Any]] = field(default_factory=list)
    speeches: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    fail_with: int | None = None
    text: str = "I would like a double room for two guests."

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/audio/transcriptions", self.transcriptions_endpoint)
        app.router.add_post("/v1/audio/speech", self.speech_endpoint)
        return app

    def _error(self) -> web.Response:
        assert self.fail_with is not None
        body = {"error": {"message": "the stand-in was told to fail", "type": "server_error", "code": None}}
        return web.json_response(body, status=self.fail_with)

    async def transcriptions_endpoint(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization", ""))
        if self.fail_with is not None:
            return self._error()
        assert request.content_type == "multipart/form-data"
        form: dict[str, Any] = {}
        async for part in await request.multipart():
            assert isinstance(part, BodyPartReader)
            if part.filename:
                form[part.name or ""] = {
                    "filename": part.filename,
                    "type": part.headers.get("Content-Type"),
                    "data": await part.read(),
                }
            else:
                form[part.name or ""] = await part.text()
        self.transcriptions.append(form)
        return web.json_response({"text": self.text})

    async def speech_endpoint(self, request: web.Request) -> web.StreamResponse:
        self.auth.append(request.headers.get("Authorization", ""))
        if self.fail_with is not None:
            return self._error()
        body = await request.json()
        self.speeches.append(body)
        # 100 ms of 24 kHz tone per word, so the length of what comes back says what was said
        n = 2400 * len(str(body["input"]).split())
        pcm = (np.sin(2 * np.pi * 300 * np.arange(n) / 24000) * 12000).astype("<i2").tobytes()
        if body.get("response_format") == "pcm":
            return web.Response(body=pcm, content_type="application/octet-stream")
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(24000)
            w.writeframes(pcm)
        return web.Response(body=buf.getvalue(), content_type="audio/wav")


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[OpenAiStandIn, str]]:
    server = OpenAiStandIn()
    runner = web.AppRunner(server.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield server, f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


async def test_given_a_turn_when_transcribed_then_a_wav_is_posted_as_multipart_and_text_comes_back(
    stand_in: tuple[OpenAiStandIn, str],
) -> None:
    server, base = stand_in
    stt = OpenAiStt(base_url=base, api_key="sk-test", model="whisper-1", prompt="Harbour View Hotel.")
    try:
        pcm = voice(1.5)
        result = await stt.transcribe(pcm, "en")
    finally:
        await stt.aclose()
    assert result.text == server.text and not result.empty and result.language == "en"
    assert result.duration_s == pytest.approx(1.5)
    (form,) = server.transcriptions
    assert (
        form["model"] == "whisper-1" and form["language"] == "en" and form["prompt"] == "Harbour View Hotel."
    )
    assert form["file"]["filename"] == "turn.wav"
    with wave.open(io.BytesIO(form["file"]["data"])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        sent = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    np.testing.assert_array_equal(sent, pcm)
    assert server.auth == ["Bearer sk-test"]


async def test_given_a_click_when_transcribed_then_nothing_is_sent(
    stand_in: tuple[OpenAiStandIn, str],
) -> None:
    server, base = stand_in
    stt = OpenAiStt(base_url=base, api_key="sk-test", model="whisper-1")
    try:
        result = await stt.transcribe(np.zeros(400, dtype=np.int16))
    finally:
        await stt.aclose()
    assert result.empty and result.rejected == "too short" and server.transcriptions == []


async def test_given_an_empty_transcript_when_returned_then_rejected_as_no_speech(
    stand_in: tuple[OpenAiStandIn, str],
) -> None:
    server, base = stand_in
    server.text = "  "
    stt = OpenAiStt(base_url=base, api_key="sk-test", model="whisper-1")
    try:
        result = await stt.transcribe(voice(1.0))
    finally:
        await stt.aclose()
    assert result.empty and result.rejected == "no speech"


async def test_given_the_server_failing_when_transcribing_then_transient_engine_error(
    stand_in: tuple[OpenAiStandIn, str],
) -> None:
    server, base = stand_in
    server.fail_with = 500
    stt = OpenAiStt(base_url=base, api_key="sk-test", model="whisper-1")
    try:
        with pytest.raises(SpeechEngineError) as info:
            await stt.transcribe(voice(1.0))
    finally:
        await stt.aclose()
    assert info.value.engine == "openai-stt" and info.value.transient
    assert len(server.auth) == 1  # max_retries=0: a failing call is not retried behind the caller's back


async def test_given_a_sentence_when_synthesised_then_pcm_24k_is_requested_and_resampled_to_8k(
    stand_in: tuple[OpenAiStandIn, str],
) -> None:
    server, base = stand_in
    tts = OpenAiTts(base_url=base, api_key="sk-test", model="tts-1", voice="alloy")
    try:
        pcm = await tts.synthesize("Your room is ready.")
    finally:
        await tts.aclose()
    assert server.speeches == [
        {"model": "tts-1", "voice": "alloy", "input": "Your room is ready.", "response_format": "pcm"}
    ]
    assert pcm.dtype == np.int16 and len(pcm) == pytest.approx(4 * 800, abs=8)  # 4 words x 100 ms at 8 kHz
    assert 8000 < int(np.max(np.abs(pcm))) <= 12100  # the level survives resampling
    assert tts.voice_id == "openai:tts-1:alloy"


async def test_given_a_streamed_reply_when_spoken_then_one_request_per_sentence_in_order(
    stand_in: tuple[OpenAiStandIn, str],
) -> None:
    server, base = stand_in
    tts = OpenAiTts(base_url=base, api_key="sk-test", model="tts-1", voice="alloy")
    try:
        chunks = [pcm async for pcm in tts.speak(text_chunks(["Certainly.", "Breakfast is ", "from seven."]))]
    finally:
        await tts.aclose()
    assert [s["input"] for s in server.speeches] == ["Certainly.", "Breakfast is from seven."]
    assert [len(c) // 800 for c in chunks] == [1, 4]


async def test_given_the_server_failing_when_synthesising_then_transient_engine_error(
    stand_in: tuple[OpenAiStandIn, str],
) -> None:
    server, base = stand_in
    server.fail_with = 503
    tts = OpenAiTts(base_url=base, api_key="sk-test", model="tts-1", voice="alloy")
    try:
        with pytest.raises(SpeechEngineError) as info:
            await tts.synthesize("Hello.")
    finally:
        await tts.aclose()
    assert info.value.engine == "openai-tts" and info.value.transient


def test_given_no_api_key_when_configuring_openai_engines_then_config_error() -> None:
    with pytest.raises(SpeechConfigError, match="openai_api_key"):
        OpenAiStt(base_url=None, api_key=None, model="whisper-1")
    with pytest.raises(SpeechConfigError, match="openai_api_key"):
        OpenAiTts(base_url=None, api_key=None, model="tts-1", voice="alloy")
