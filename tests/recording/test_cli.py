"""The recordings commands and the key check, as an IT person runs them: real processes, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ari_app.recording.crypto import encrypt_file, generate_key, parse_key

EXE = Path(sys.executable).with_name("hotel-operator")


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("HOTEL_OPERATOR_")}
    full.update(HOTEL_OPERATOR_DATABASE__URL=f"sqlite+aiosqlite:///{cwd / 'h.db'}", **env)
    return subprocess.run([str(EXE), *args], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=60, check=False)


def test_given_keygen_when_run_then_prints_a_usable_key(tmp_path: Path) -> None:
    out = run(["recordings", "keygen"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(parse_key(out.stdout.strip())) == 32


@pytest.mark.parametrize("key", ["tooshort", "A" * 43 + "!"], ids=["short", "not-base64"])
def test_given_bad_key_when_config_check_then_one_line_naming_the_setting_and_exit_2(
    tmp_path: Path, key: str
) -> None:
    out = run(["config", "check"], tmp_path, HOTEL_OPERATOR_RECORDING__ENABLED="true",
              HOTEL_OPERATOR_RECORDING__DIRECTORY=str(tmp_path / "rec"),
              HOTEL_OPERATOR_RECORDING__ENCRYPTION_KEY=key)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert "recording.encryption_key" in lines[0] and "keygen" in lines[0]
    assert key not in lines[0]


def test_given_good_key_when_config_check_then_it_says_so(tmp_path: Path) -> None:
    out = run(["config", "check"], tmp_path, HOTEL_OPERATOR_RECORDING__ENCRYPTION_KEY=generate_key())
    assert out.returncode == 0, out.stderr
    assert "recording encryption key is valid" in out.stdout


def test_given_wrong_key_when_decrypt_then_one_line_and_exit_2_and_no_output_file(tmp_path: Path) -> None:
    plain = tmp_path / "a.wav"
    plain.write_bytes(b"RIFF" + bytes(1000))
    enc = encrypt_file(plain, tmp_path / "a.wav.enc", parse_key(generate_key()))
    out = run(["recordings", "decrypt", str(enc), "--out", str(tmp_path / "b.wav")], tmp_path,
              HOTEL_OPERATOR_RECORDING__ENCRYPTION_KEY=generate_key())
    assert out.returncode == 2
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "wrong key" in lines[0]
    assert not (tmp_path / "b.wav").exists()
    missing = run(["recordings", "decrypt", str(enc), "--out", str(tmp_path / "b.wav")], tmp_path)
    assert missing.returncode == 2 and "encryption_key is not set" in missing.stderr
