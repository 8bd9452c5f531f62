"""G.711 μ-law and A-law through numpy lookup tables (``audioop`` is gone in Python 3.13).

The tables follow the ITU-T G.191 reference implementation (STL ``g711.c``) bit for bit: 16-bit input
is truncated to the 14-bit (μ-law) or 13-bit (A-law) uniform code the standard defines, negative samples
through the one's complement, so encoder output matches what the ITU reference produces for every one
of the 65536 inputs. Tables are built once at import with vectorised integer arithmetic.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5

Int16Array = npt.NDArray[np.int16]


def _bit_length(values: npt.NDArray[np.int32], max_bits: int) -> npt.NDArray[np.int32]:
    out = np.zeros_like(values)
    for k in range(max_bits):
        out += (values >= (1 << k)).astype(np.int32)
    return out


def _build_ulaw_decode() -> Int16Array:
    code = np.arange(256, dtype=np.int32)
    inv = (~code) & 0xFF
    exponent = (inv >> 4) & 0x07
    mantissa = inv & 0x0F
    step = 4 << (exponent + 1)
    magnitude = (0x80 << exponent) + step * mantissa + step // 2 - 4 * 33
    return np.where(code < 0x80, -magnitude, magnitude).astype(np.int16)


def _build_alaw_decode() -> Int16Array:
    code = np.arange(256, dtype=np.int32)
    ix = (code ^ 0x55) & 0x7F
    exponent = ix >> 4
    mantissa = ix & 0x0F
    mantissa = np.where(exponent > 0, mantissa + 16, mantissa)
    mantissa = (mantissa << 4) + 8
    mantissa = np.where(exponent > 1, mantissa << np.maximum(exponent - 1, 0), mantissa)
    return np.where(code > 127, mantissa, -mantissa).astype(np.int16)


def _all_int16() -> npt.NDArray[np.int32]:
    # Index i of an encode table is the int16 sample whose uint16 bit pattern is i.
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    x = _all_int16()
    absno = np.where(x < 0, (~x) >> 2, x >> 2) + 33
    absno = np.minimum(absno, 0x1FFF)
    segno = _bit_length(absno >> 6, 8) + 1
    high = 8 - segno
    low = 15 - ((absno >> segno) & 0x0F)
    code = (high << 4) | low
    code = np.where(x >= 0, code | 0x80, code)
    out: npt.NDArray[np.uint8] = code.astype(np.uint8)
    return out


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    x = _all_int16()
    ix = np.where(x < 0, (~x) >> 4, x >> 4)
    exponent = np.maximum(_bit_length(ix, 12) - 4, 0)
    shifted = ix >> np.maximum(exponent - 1, 0)
    code = np.where(ix > 15, (exponent << 4) + shifted - 16, ix)
    code = np.where(x >= 0, code | 0x80, code)
    return (code ^ 0x55).astype(np.uint8)


ULAW_DECODE: Int16Array = _build_ulaw_decode()
ALAW_DECODE: Int16Array = _build_alaw_decode()
ULAW_ENCODE: npt.NDArray[np.uint8] = _build_ulaw_encode()
ALAW_ENCODE: npt.NDArray[np.uint8] = _build_alaw_encode()
for _t in (ULAW_DECODE, ALAW_DECODE, ULAW_ENCODE, ALAW_ENCODE):
    _t.flags.writeable = False


def _as_int16(pcm: npt.ArrayLike) -> Int16Array:
    arr = np.asarray(pcm)
    if arr.dtype == np.int16:
        out: Int16Array = arr
        return out
    if np.issubdtype(arr.dtype, np.floating):
        raise TypeError("G.711 encode wants integer PCM16 samples, not floats; scale and convert first")
    clipped: Int16Array = np.clip(arr, -32768, 32767).astype(np.int16)
    return clipped


def ulaw_decode(data: bytes) -> Int16Array:
    """μ-law bytes to PCM16 samples (one sample per byte)."""
    return ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(pcm: npt.ArrayLike) -> bytes:
    """PCM16 samples to μ-law bytes; wider integer input is clipped to the int16 range first."""
    return ULAW_ENCODE[_as_int16(pcm).view(np.uint16)].tobytes()


def alaw_decode(data: bytes) -> Int16Array:
    """A-law bytes to PCM16 samples."""
    return ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def alaw_encode(pcm: npt.ArrayLike) -> bytes:
    """PCM16 samples to A-law bytes."""
    return ALAW_ENCODE[_as_int16(pcm).view(np.uint16)].tobytes()
