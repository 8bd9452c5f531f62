"""Call tokens: short-lived, single-use, HMAC-signed permissions to open one browser call.

The page asks for a token just before it calls; the signalling WebSocket refuses to start a call
without a valid one. A token is bound to the client address it was issued to (the address is in the
MAC, not in the token), so a token copied to another machine is useless, and each token opens one
call only, so a script cannot reuse a token it scraped from the page. Pure functions on strings
plus a small replay set: the clock is passed in, nothing sleeps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

VERSION = "v1"


class TokenError(Exception):
    """Why a token was refused; ``code`` is what the page shows a user-facing message for."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def _mac(key: bytes, expires: int, nonce: str, client: str) -> str:
    msg = f"{VERSION}.{expires}.{nonce}.{client}".encode()
    digest = hmac.new(key, msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(key: bytes, client: str, now: float, ttl_s: float, nonce: str | None = None) -> str:
    """A token for ``client`` (its IP address) good until ``now + ttl_s``."""
    expires = int(now + ttl_s)
    nonce = nonce or secrets.token_hex(8)
    return f"{VERSION}.{expires}.{nonce}.{_mac(key, expires, nonce, client)}"


@dataclass(frozen=True)
class TokenClaims:
    expires: int
    nonce: str


def verify(key: bytes, token: str | None, client: str, now: float) -> TokenClaims:
    """The token's claims, or :class:`TokenError` (missing, malformed, bad_signature, expired)."""
    if not token:
        raise TokenError("token_missing", "no call token: open the call page and press Call again")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION or not parts[1].isdigit() or len(token) > 200:
        raise TokenError("token_malformed", "the call token is not one this service issued")
    expires, nonce, mac = int(parts[1]), parts[2], parts[3]
    if not hmac.compare_digest(mac, _mac(key, expires, nonce, client)):
        raise TokenError("token_invalid", "the call token was not issued to this address or was altered")
    if now >= expires:
        raise TokenError("token_expired", "the call token has expired: press Call again")
    return TokenClaims(expires, nonce)


@dataclass
class TokenBook:
    """Issues and checks tokens with one key; remembers used nonces until they expire (single use)."""

    key: bytes
    ttl_s: float
    _used: dict[str, int] = field(default_factory=dict)

    def issue(self, client: str, now: float) -> str:
        return issue(self.key, client, now, self.ttl_s)

    def redeem(self, token: str | None, client: str, now: float) -> TokenClaims:
        claims = verify(self.key, token, client, now)
        for nonce, exp in list(self._used.items()):
            if exp <= now:
                del self._used[nonce]
        if claims.nonce in self._used:
            raise TokenError("token_used", "this call token was already used: press Call again")
        self._used[claims.nonce] = claims.expires
        return claims
