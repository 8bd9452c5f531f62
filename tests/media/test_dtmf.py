"""RFC 4733 telephone-event payloads on bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ari_app.media.dtmf import (
    TelephoneEvent,
    build_telephone_event,
    digit_to_event,
    event_to_digit,
    parse_telephone_event,
)
from ari_app.media.errors import DtmfParseError, MediaError


def test_given_rfc4733_example_bytes_when_parsed_then_digit_end_volume_duration() -> None:
    # digit 5, end bit set, volume 10 (-10 dBm0), duration 1600 (200 ms at 8 kHz)
    ev = parse_telephone_event(bytes([0x05, 0x8A, 0x06, 0x40]))
    assert ev == TelephoneEvent(event=5, end=True, volume=10, duration=1600)
    assert ev.digit == "5"


@given(
    ev=st.builds(
        TelephoneEvent,
        event=st.integers(0, 255),
        end=st.booleans(),
        volume=st.integers(0, 63),
        duration=st.integers(0, 0xFFFF),
        reserved=st.booleans(),
    )
)
def test_given_any_event_when_built_and_parsed_then_round_trips(ev: TelephoneEvent) -> None:
    wire = build_telephone_event(ev)
    assert len(wire) == 4
    assert parse_telephone_event(wire) == ev
    assert build_telephone_event(parse_telephone_event(wire)) == wire


@pytest.mark.parametrize("payload", [b"", b"\x01", b"\x01\x02\x03"])
def test_given_short_payload_when_parsed_then_typed_error(payload: bytes) -> None:
    with pytest.raises(DtmfParseError) as info:
        parse_telephone_event(payload)
    assert isinstance(info.value, MediaError) and info.value.reason == "too_short"


@pytest.mark.parametrize(("digit", "code"), [("0", 0), ("9", 9), ("*", 10), ("#", 11), ("A", 12), ("d", 15)])
def test_given_dtmf_key_when_mapped_then_rfc4733_event_code_and_back(digit: str, code: int) -> None:
    assert digit_to_event(digit) == code
    assert event_to_digit(code) == digit.upper()


@pytest.mark.parametrize("bad", ["E", "", "12"])
def test_given_non_dtmf_key_when_mapped_then_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        digit_to_event(bad)
    with pytest.raises(ValueError):
        event_to_digit(16)


@pytest.mark.parametrize(
    "bad",
    [TelephoneEvent(event=256), TelephoneEvent(event=1, volume=64), TelephoneEvent(event=1, duration=65536)],
)
def test_given_out_of_range_event_when_built_then_value_error(bad: TelephoneEvent) -> None:
    with pytest.raises(ValueError):
        build_telephone_event(bad)
