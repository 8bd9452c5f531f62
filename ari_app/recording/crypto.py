"""Encryption at rest for finished recordings: streamed AES-256-GCM in chunks, one subkey per file.

Why not Fernet: it has no streaming API, so a one-hour call (about 115 MB of stereo 8 kHz WAV) would
sit in memory whole, base64 would grow it by a third on disk, and it is AES-128-CBC plus HMAC. Chunked
AES-GCM (the construction of Tink's streaming AEAD / the STREAM scheme of Hoang, Reyhanitabar, Rogaway
and Vizár) keeps memory flat at one chunk and still authenticates everything:

- the key from the settings is never used directly: each file gets a random 16-byte salt and its own
  AES-256 key from HKDF-SHA256, so nonces can simply count chunks without any risk of reuse across
  files, however many recordings one key protects;
- nonce = 11-byte big-endian chunk index + 1 byte "last chunk" flag, so chunks cannot be reordered,
  dropped, or the file cut at a chunk boundary without the last tag failing;
- the header (magic, version, chunk size, salt) is the associated data of every chunk, so it cannot be
  altered either.

File layout: ``HOTELREC`` | version (1 byte) | chunk size (4 bytes, big-endian) | salt (16 bytes) |
chunks, each ``chunk size`` bytes of plaintext (the last may be shorter, possibly empty) + 16-byte tag.

Key format: 32 random bytes in URL-safe base64 (44 characters with ``=`` padding, which may be left
out), as ``hotel-operator recordings keygen`` prints; a Fernet key has the same format and works.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ari_app.media.recorder import open_private
from ari_app.recording.errors import DecryptError, RecordingKeyError

MAGIC = b"HOTELREC"
VERSION = 1
CHUNK = 64 * 1024
TAG = 16
KEY_BYTES = 32
_HEAD = struct.Struct(">8sBI16s")
HEADER_LEN = _HEAD.size  # 29
ENC_SUFFIX = ".enc"
KEY_HELP = "32 random bytes in URL-safe base64 (make one with `hotel-operator recordings keygen`)"


def generate_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def parse_key(text: str) -> bytes:
    """The 32 key bytes, or :class:`RecordingKeyError` that never echoes the key itself."""
    value = text.strip()
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise RecordingKeyError(
            f"recording.encryption_key is not allowed: not URL-safe base64; expected {KEY_HELP}"
        ) from None
    if len(raw) != KEY_BYTES:
        raise RecordingKeyError(
            f"recording.encryption_key is not allowed: it decodes to {len(raw)} bytes, not {KEY_BYTES}; "
            f"expected {KEY_HELP}"
        )
    return raw


def _subkey(key: bytes, salt: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"hotel-operator recording v1")
    return AESGCM(hkdf.derive(key))


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _read_full(f: BinaryIO, n: int) -> bytes:
    parts: list[bytes] = []
    while n > 0:
        part = f.read(n)
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def encrypt_stream(src: BinaryIO, dst: BinaryIO, key: bytes, *, chunk: int = CHUNK) -> None:
    salt = os.urandom(16)
    header = _HEAD.pack(MAGIC, VERSION, chunk, salt)
    aead = _subkey(key, salt)
    dst.write(header)
    index = 0
    current = _read_full(src, chunk)
    while True:
        following = _read_full(src, chunk)
        last = not following
        dst.write(aead.encrypt(_nonce(index, last), current, header))
        if last:
            return
        current = following
        index += 1


def decrypt_stream(src: BinaryIO, dst: BinaryIO, key: bytes) -> None:
    header = _read_full(src, HEADER_LEN)
    if len(header) < HEADER_LEN:
        raise DecryptError("not an encrypted recording (file too short)")
    magic, version, chunk, salt = _HEAD.unpack(header)
    if magic != MAGIC:
        raise DecryptError("not an encrypted recording (unknown file header)")
    if version != VERSION:
        raise DecryptError(f"encrypted recording format version {version} is not supported")
    if not 0 < chunk <= 64 * 1024 * 1024:
        raise DecryptError("encrypted recording header is damaged")
    aead = _subkey(key, salt)
    index = 0
    current = _read_full(src, chunk + TAG)
    while True:
        following = _read_full(src, chunk + TAG)
        last = not following
        try:
            dst.write(aead.decrypt(_nonce(index, last), current, header))
        except InvalidTag:
            raise DecryptError(
                f"chunk {index} does not authenticate: wrong key, or the file was truncated or altered"
            ) from None
        if last:
            return
        current = following
        index += 1


def _atomic(out: Path) -> Path:
    return out.with_name(out.name + ".part")


def encrypt_file(plain: Path, out: Path, key: bytes) -> Path:
    """Write ``out`` whole or not at all (``.part`` then rename, after fsync), so a crash never leaves
    a half-written encrypted file next to a deleted plain one."""
    part = _atomic(out)
    try:
        with open(plain, "rb") as src, open_private(part) as dst:
            encrypt_stream(src, dst, key)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(part, out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return out


def decrypt_file(enc: Path, out: Path, key: bytes) -> Path:
    part = _atomic(out)
    try:
        with open(enc, "rb") as src, open_private(part) as dst:
            decrypt_stream(src, dst, key)
        os.replace(part, out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return out
