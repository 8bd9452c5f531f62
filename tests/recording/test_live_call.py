"""Recording on live calls through the whole stack: stand-in Asterisk, ARI, real RTP, SQLite, the CLI.

Keypad-only (no speech models): our prompts are 440 Hz tones, the caller's side is the recorded
Asterisk capture ``basic-rtp-in.ulaw`` sent by the stand-in's RTP leg.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from e2e_support import Stack, running_stack, wait_for
from recording_support import read_wav
from sqlalchemy import select

from ari_app.media.g711 import ulaw_decode
from ari_app.recording.crypto import encrypt_file, generate_key
from ari_app.recording.manager import RecordingManager
from ari_app.standin.rtp import load_ulaw_source
from models import VoiceCall

SOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "basic-rtp-in.ulaw"
EXE = Path(sys.executable).with_name("hotel-operator")


def _env(tmp_path: Path, menu: Path, **more: str) -> dict[str, str]:
    return {
        "HOTEL_OPERATOR_IVR__MENU_FILE": str(menu),
        "HOTEL_OPERATOR_IVR__START_IN_MENU": "true",
        "HOTEL_OPERATOR_RECORDING__ENABLED": "true",
        "HOTEL_OPERATOR_RECORDING__DIRECTORY": str(tmp_path / "recordings"),
        **more,
    }


async def _row(stack: Stack, channel: str) -> VoiceCall:
    async with stack.service.sessions() as db:
        row: VoiceCall = (await db.execute(select(VoiceCall).where(VoiceCall.channel_id == channel))).scalar_one()
    return row


async def _call_until_transferred(stack: Stack) -> tuple[str, VoiceCall]:
    """A caller who listens to the menu prompt, then presses 2 (front desk): the conversation ends."""
    stack.standin.rtp_source = load_ulaw_source(SOURCE)
    ch = stack.standin.place_call(caller_number="+15550042")
    await wait_for(lambda: stack.media_leg(ch) is not None, 10, "bridged")
    leg = stack.media_leg(ch)
    assert leg is not None

    def voiced() -> int:
        return sum(1 for p in leg.captured if np.abs(ulaw_decode(p.payload)).max() > 1000)

    await wait_for(lambda: voiced() >= 10, 10, "prompt tone heard by the caller")
    mark = len(leg.captured)
    await wait_for(lambda: len(leg.captured) > mark + 25, 10, "half a second more of the call")
    stack.standin.send_dtmf(ch, "2")
    await wait_for(lambda: not stack.service.managers[0].calls, 10, "call released")
    recordings = stack.service.deps.recordings
    assert isinstance(recordings, RecordingManager)
    await recordings.drain()
    return ch, await _row(stack, ch)


def _assert_call_audio(path: Path) -> None:
    params, data = read_wav(path)
    assert (params.nchannels, params.framerate, params.sampwidth) == (2, 8000, 2)
    left = data[:, 0].reshape(-1, 160)
    right = data[:, 1].reshape(-1, 160)
    source = SOURCE.read_bytes()
    heard = {ulaw_decode(source[i : i + 160]).tobytes() for i in range(0, len(source) - 159, 160)}
    loud_left = [row for row in left if np.abs(row).max() > 500]
    assert len(loud_left) >= 25, "no caller audio on the left channel"
    assert sum(row.tobytes() in heard for row in loud_left) == len(loud_left)  # exactly what was sent
    loud_right = np.concatenate([row for row in right if np.abs(row).max() > 3000])
    assert len(loud_right) >= 10 * 160, "no prompt on the right channel"
    spectrum = np.abs(np.fft.rfft(loud_right.astype(np.float64)))
    peak_hz = np.argmax(spectrum) * 8000 / len(loud_right)
    assert abs(peak_hz - 440) < 15  # our prompt tone, not the caller
    for row in right:  # the caller never leaks into our channel
        assert row.tobytes() not in heard or not row.any()


async def test_given_recording_enabled_when_call_ends_then_stereo_wav_with_caller_left_prompt_right_is_stored(
    tmp_path: Path, menu_file: Path
) -> None:
    async with running_stack(tmp_path, env=_env(tmp_path, menu_file)) as stack:
        _ch, row = await _call_until_transferred(stack)
        assert row.status == "transferred"
        assert row.recording_path is not None
        path = Path(row.recording_path)
        assert path.name == f"{row.session_id}.wav" and path.exists()
        day = path.parent
        assert day.parent.parent.parent == (tmp_path / "recordings").resolve()
        assert (len(day.parent.parent.name), len(day.parent.name), len(day.name)) == (4, 2, 2)
        _assert_call_audio(path)


async def test_given_key_when_call_ends_then_only_encrypted_file_remains_and_cli_decrypts_it_byte_identical(
    tmp_path: Path, menu_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_key()
    snapshots: list[bytes] = []
    def snapshot_then_encrypt(plain: Path, out: Path, k: bytes) -> Any:
        snapshots.append(plain.read_bytes())  # what was recorded, after redaction, before encryption
        return encrypt_file(plain, out, k)

    monkeypatch.setattr("ari_app.recording.manager.encrypt_file", snapshot_then_encrypt)
    env = _env(tmp_path, menu_file, HOTEL_OPERATOR_RECORDING__ENCRYPTION_KEY=key)
    async with running_stack(tmp_path, env=env) as stack:
        _ch, row = await _call_until_transferred(stack)
    assert row.recording_path is not None and row.recording_path.endswith(".wav.enc")
    enc = Path(row.recording_path)
    files = [p for p in (tmp_path / "recordings").rglob("*") if p.is_file()]
    assert files == [enc]
    assert b"RIFF" not in enc.read_bytes()[:64]
    out = tmp_path / "back.wav"
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("HOTEL_OPERATOR_")}
    run_env.update(HOTEL_OPERATOR_RECORDING__ENCRYPTION_KEY=key)
    done = await asyncio.to_thread(
        subprocess.run, [str(EXE), "recordings", "decrypt", str(enc), "--out", str(out)],
        cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert snapshots and out.read_bytes() == snapshots[0]
    _assert_call_audio(out)
    shutil.rmtree(tmp_path / "recordings")


async def test_given_caller_hangs_up_mid_menu_when_call_torn_down_then_recording_still_finished_and_stored(
    tmp_path: Path, menu_file: Path
) -> None:
    async with running_stack(tmp_path, env=_env(tmp_path, menu_file)) as stack:
        stack.standin.rtp_source = load_ulaw_source(SOURCE)
        ch = stack.standin.place_call(caller_number="+15550043")
        await wait_for(lambda: stack.media_leg(ch) is not None, 10, "bridged")
        leg = stack.media_leg(ch)
        assert leg is not None
        await wait_for(lambda: len(leg.captured) > 40, 10, "almost a second of the call")
        stack.standin.hangup_caller(ch)
        await wait_for(lambda: not stack.service.managers[0].calls, 10, "call released")
        recordings = stack.service.deps.recordings
        assert isinstance(recordings, RecordingManager)
        await recordings.drain()
        row = await _row(stack, ch)
        assert row.recording_path is not None
        params, data = read_wav(Path(row.recording_path))
        assert params.nframes >= 30 * 160 and data[:, 0].any()  # closed cleanly, caller audio inside
