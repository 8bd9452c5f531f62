"""Encryption at rest: round trips of every size, and every way a file can fail to open."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from ari_app.recording.crypto import (
    HEADER_LEN,
    TAG,
    decrypt_file,
    decrypt_stream,
    encrypt_file,
    encrypt_stream,
    generate_key,
    parse_key,
)
from ari_app.recording.errors import DecryptError, RecordingKeyError

KEY = parse_key(generate_key())


def _enc(data: bytes, chunk: int = 64) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, KEY, chunk=chunk)
    return out.getvalue()


def _dec(blob: bytes, key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), out, key)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 128, 1000])
def test_given_any_size_when_encrypted_then_decrypts_to_same_bytes(size: int) -> None:
    data = os.urandom(size)
    blob = _enc(data)
    # a run of 16+ random plaintext bytes turning up in the ciphertext would mean it was not encrypted;
    # shorter runs can occur by chance (1 byte in a 40-byte blob: ~15 %), so they prove nothing
    assert size < 16 or data not in blob
    assert len(blob) == HEADER_LEN + size + TAG * max(1, -(-size // 64))
    assert _dec(blob) == data


def test_given_same_file_encrypted_twice_then_ciphertexts_differ() -> None:
    assert _enc(b"x" * 100) != _enc(b"x" * 100)  # fresh salt, fresh subkey


def test_given_wrong_key_when_decrypting_then_decrypt_error() -> None:
    with pytest.raises(DecryptError, match="wrong key"):
        _dec(_enc(b"secret audio"), parse_key(generate_key()))


def test_given_file_cut_at_chunk_boundary_when_decrypting_then_truncation_detected() -> None:
    blob = _enc(b"a" * 200)  # 4 chunks of 64 (last 8 bytes)
    cut = blob[: HEADER_LEN + 2 * (64 + TAG)]
    with pytest.raises(DecryptError):
        _dec(cut)


@pytest.mark.parametrize("where", [5, HEADER_LEN - 3, HEADER_LEN + 10, -1])
def test_given_one_byte_flipped_when_decrypting_then_refused(where: int) -> None:
    blob = bytearray(_enc(b"b" * 150))
    blob[where] ^= 0x01
    with pytest.raises(DecryptError):
        _dec(bytes(blob))


def test_given_not_an_encrypted_file_when_decrypting_then_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DecryptError, match="not an encrypted recording"):
        _dec(b"RIFF" + bytes(60))
    plain = tmp_path / "a.wav"
    plain.write_bytes(b"RIFF" + bytes(60))
    with pytest.raises(DecryptError):
        decrypt_file(plain, tmp_path / "out.wav", KEY)
    assert not (tmp_path / "out.wav").exists() and not (tmp_path / "out.wav.part").exists()


def test_given_files_when_encrypt_then_decrypt_file_then_identical(tmp_path: Path) -> None:
    plain = tmp_path / "p.wav"
    plain.write_bytes(os.urandom(200_000))
    enc = encrypt_file(plain, tmp_path / "p.wav.enc", KEY)
    out = decrypt_file(enc, tmp_path / "back.wav", KEY)
    assert out.read_bytes() == plain.read_bytes()
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("c2hvcnQ=", "decodes to 5 bytes"),
        ("not base64 at all!!", "not URL-safe base64"),
        (generate_key()[:-8], "bytes, not 32"),
    ],
    ids=["short", "not-base64", "truncated-random"],  # a random key must not name the test (xdist)
)
def test_given_bad_key_when_parsed_then_one_line_error_without_the_key(key: str, says: str) -> None:
    with pytest.raises(RecordingKeyError) as err:
        parse_key(key)
    message = str(err.value)
    assert says in message and "\n" not in message
    assert key not in message
    assert "recordings keygen" in message


def test_given_generated_key_when_parsed_with_or_without_padding_then_32_bytes() -> None:
    key = generate_key()
    assert len(key) == 44
    assert parse_key(key) == parse_key(key.rstrip("="))
    assert len(parse_key(key)) == 32
