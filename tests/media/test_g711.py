"""G.711 tables against an independent scalar transcription of the ITU-T G.191 reference and known values."""

from __future__ import annotations

import numpy as np
import pytest

from ari_app.media.g711 import (
    ALAW_SILENCE,
    ULAW_SILENCE,
    alaw_decode,
    alaw_encode,
    ulaw_decode,
    ulaw_encode,
)


def ref_ulaw_compress(x: int) -> int:
    """ITU-T G.191 ulaw_compress for one sample, written as plain scalar Python."""
    absno = ((-x - 1) >> 2) + 33 if x < 0 else (x >> 2) + 33
    absno = min(absno, 0x1FFF)
    i = absno >> 6
    segno = 1
    while i:
        segno += 1
        i >>= 1
    code = ((8 - segno) << 4) | (15 - ((absno >> segno) & 0xF))
    return code | 0x80 if x >= 0 else code


def ref_ulaw_expand(code: int) -> int:
    """Classic biased μ-law decoder (a different formulation from the table builder's)."""
    u = ~code & 0xFF
    magnitude = ((((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 7)) - 0x84
    return -magnitude if u & 0x80 else magnitude


def ref_alaw_compress(x: int) -> int:
    """ITU-T G.191 alaw_compress for one sample."""
    ix = (-x - 1) >> 4 if x < 0 else x >> 4
    if ix > 15:
        iexp = 1
        while ix > 31:
            ix >>= 1
            iexp += 1
        ix = ix - 16 + (iexp << 4)
    if x >= 0:
        ix |= 0x80
    return ix ^ 0x55


def ref_alaw_expand(code: int) -> int:
    """A-law decoder from the segment/step description of G.711 table 1a."""
    a = code ^ 0x55
    seg = (a >> 4) & 7
    level = a & 0x0F
    value = level * 16 + 8 if seg == 0 else (level * 16 + 264) << (seg - 1)
    return value if a & 0x80 else -value


ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


def test_given_every_int16_sample_when_ulaw_encoded_then_matches_itu_reference() -> None:
    expected = bytes(ref_ulaw_compress(int(x)) for x in ALL_INT16)
    assert ulaw_encode(ALL_INT16) == expected


def test_given_every_ulaw_code_when_decoded_then_matches_reference() -> None:
    codes = bytes(range(256))
    assert ulaw_decode(codes).tolist() == [ref_ulaw_expand(c) for c in codes]


def test_given_every_int16_sample_when_alaw_encoded_then_matches_itu_reference() -> None:
    expected = bytes(ref_alaw_compress(int(x)) for x in ALL_INT16)
    assert alaw_encode(ALL_INT16) == expected


def test_given_every_alaw_code_when_decoded_then_matches_reference() -> None:
    codes = bytes(range(256))
    assert alaw_decode(codes).tolist() == [ref_alaw_expand(c) for c in codes]


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xFF, 0), (0x7F, 0), (0x00, -32124), (0x80, 32124), (0xFE, 8), (0x7E, -8), (0xEF, 132), (0xF0, 120)],
)
def test_given_well_known_ulaw_codes_when_decoded_then_table_values(code: int, value: int) -> None:
    assert int(ulaw_decode(bytes([code]))[0]) == value


@pytest.mark.parametrize(
    ("code", "value"), [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256), (0xD4, 24), (0xC5, 264)]
)
def test_given_well_known_alaw_codes_when_decoded_then_table_values(code: int, value: int) -> None:
    assert int(alaw_decode(bytes([code]))[0]) == value


def test_given_silence_and_extremes_when_encoded_then_expected_codes() -> None:
    assert ulaw_encode(np.array([0, 32767, -32768], dtype=np.int16)) == bytes([ULAW_SILENCE, 0x80, 0x00])
    assert alaw_encode(np.array([0, 32767, -32768], dtype=np.int16)) == bytes([ALAW_SILENCE, 0xAA, 0x2A])


def test_given_decoded_codes_when_reencoded_then_same_codes_except_negative_zero() -> None:
    codes = bytes(c for c in range(256) if c != 0x7F)  # 0x7F decodes to 0, which encodes as 0xFF
    assert ulaw_encode(ulaw_decode(codes)) == codes
    acodes = bytes(range(256))
    assert alaw_encode(alaw_decode(acodes)) == acodes


def test_given_wider_ints_when_encoded_then_clipped_and_floats_refused() -> None:
    assert ulaw_encode(np.array([40000, -40000], dtype=np.int32)) == bytes([0x80, 0x00])
    with pytest.raises(TypeError):
        ulaw_encode(np.array([0.5]))


def test_given_a_frame_when_decoded_then_int16_array_of_same_length() -> None:
    out = ulaw_decode(b"\xff" * 160)
    assert out.dtype == np.int16 and out.shape == (160,) and not out.any()
