"""Tokens, limits and messages are pure: checked here without sockets or clocks."""

from __future__ import annotations

import pytest

from ari_app.webrtc.call import limit_reached
from ari_app.webrtc.limits import CallLimiter, LimitReached
from ari_app.webrtc.signalling import Ice, Keys, Offer, SignallingError, answer_codec, parse_message
from ari_app.webrtc.token import TokenBook, TokenError, issue, verify

KEY = b"k" * 32


def test_given_a_fresh_token_when_verified_from_its_address_then_accepted_until_it_expires() -> None:
    tok = issue(KEY, "10.0.0.5", now=1000.0, ttl_s=60)
    assert verify(KEY, tok, "10.0.0.5", now=1059.0).expires == 1060
    with pytest.raises(TokenError) as exc:
        verify(KEY, tok, "10.0.0.5", now=1060.0)
    assert exc.value.code == "token_expired"


@pytest.mark.parametrize(
    ("token", "client", "code"),
    [
        (None, "10.0.0.5", "token_missing"),
        ("", "10.0.0.5", "token_missing"),
        ("v1.abc", "10.0.0.5", "token_malformed"),
        ("v2.2000.ab.cd", "10.0.0.5", "token_malformed"),
        ("GOOD", "10.0.0.6", "token_invalid"),
        ("ALTERED", "10.0.0.5", "token_invalid"),
    ],
)
def test_given_a_bad_token_when_verified_then_its_reason_is_named(token: str | None, client: str, code: str) -> None:
    good = issue(KEY, "10.0.0.5", now=1000.0, ttl_s=60, nonce="abcd")
    token = {"GOOD": good, "ALTERED": good.replace(".1060.", ".9999.")}.get(token or "", token)
    with pytest.raises(TokenError) as exc:
        verify(KEY, token, client, now=1001.0)
    assert exc.value.code == code


def test_given_a_token_book_when_a_token_is_redeemed_twice_then_the_second_is_refused() -> None:
    book = TokenBook(KEY, 60)
    tok = book.issue("10.0.0.5", 1000.0)
    book.redeem(tok, "10.0.0.5", 1001.0)
    with pytest.raises(TokenError) as exc:
        book.redeem(tok, "10.0.0.5", 1002.0)
    assert exc.value.code == "token_used"


def test_given_limits_when_calls_arrive_then_per_address_and_global_caps_hold_and_release_frees() -> None:
    lim = CallLimiter(max_calls=3, max_per_client=2)
    lim.acquire("a")
    lim.acquire("a")
    with pytest.raises(LimitReached) as exc:
        lim.acquire("a")
    assert exc.value.code == "too_many_calls"
    lim.acquire("b")
    with pytest.raises(LimitReached) as exc:
        lim.acquire("c")
    assert exc.value.code == "busy" and lim.in_use == 3
    lim.release("a")
    lim.acquire("c")
    assert lim.in_use == 3


def test_given_the_clock_when_limits_are_checked_then_duration_then_idle_decide() -> None:
    assert limit_reached(now=100, started=0, last_activity=90, idle_s=30, max_s=600) is None
    assert limit_reached(now=130, started=0, last_activity=100, idle_s=30, max_s=600) == "idle_timeout"
    assert limit_reached(now=600, started=0, last_activity=599, idle_s=30, max_s=600) == "max_duration"


OFFER = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"


def test_given_page_messages_when_parsed_then_typed_or_refused_with_a_code() -> None:
    assert parse_message('{"type":"offer","sdp":' + repr(OFFER).replace("'", '"') + "}") == Offer(OFFER)
    assert parse_message('{"type":"dtmf","digits":"12#"}') == Keys("12#")
    ice = parse_message('{"type":"ice","candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0"}')
    assert ice == Ice("1 1 udp 1 1.2.3.4 5 typ host", "0", None)
    for bad, code in [
        ('{"type":"dtmf","digits":"12a"}', "bad_message"),
        ('{"type":"offer","sdp":"v=0\\r\\nm=video 9 X 96\\r\\n"}', "bad_sdp"),
        ('{"type":"offer","sdp":"v=0\\r\\nm=audio 9 X 9\\r\\na=rtpmap:9 G722/8000\\r\\n"}', "bad_sdp"),
        ('{"type":"offer"}', "bad_sdp"),
        ("[1]", "bad_message"),
        ('{"type":"reboot"}', "bad_message"),
        ("[" * 30_000 + "]" * 30_000, "bad_message"),  # nested deep enough to break a recursive decoder
    ]:
        with pytest.raises(SignallingError) as exc:
            parse_message(bad)
        assert exc.value.code == code, bad


def test_given_an_answer_when_its_codec_is_read_then_the_first_audio_payload_names_it() -> None:
    assert answer_codec(OFFER) == "opus"
    assert answer_codec(OFFER.replace("111 0", "0 111")) == "pcmu"
