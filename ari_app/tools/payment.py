"""Signed, expiring payment-link tokens.

The token carries the reservation, amount and expiry, signed with HMAC-SHA256 under the hotel's
secret, so the payment page can trust it without a database round trip and nobody can raise or
lower an amount by editing the URL. Card details are only ever typed on that page, never spoken.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ari_app.tools.errors import InvalidArguments


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_payment_token(
    secret: str, *, reservation_id: int, amount: Decimal, currency: str, expires_at: datetime
) -> str:
    payload = {
        "r": reservation_id,
        "a": str(amount),
        "c": currency,
        "e": int(expires_at.timestamp()),
        "n": secrets.token_urlsafe(8),
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    sig = hmac.new(secret.encode(), body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(sig)}"


def verify_payment_token(secret: str, token: str, now: datetime | None = None) -> dict[str, Any]:
    """The token's payload if the signature holds and it has not expired; else InvalidArguments."""
    body, _, sig = token.partition(".")
    if not body or not sig:
        raise InvalidArguments("Malformed payment token.")
    expected = hmac.new(secret.encode(), body.encode("ascii"), hashlib.sha256).digest()
    try:
        given = _unb64(sig)
        payload: dict[str, Any] = json.loads(_unb64(body))
    except (ValueError, json.JSONDecodeError):
        raise InvalidArguments("Malformed payment token.") from None
    if not hmac.compare_digest(expected, given):
        raise InvalidArguments("Payment token signature does not match.")
    if int(payload["e"]) < int((now or datetime.now(UTC)).timestamp()):
        raise InvalidArguments("Payment link has expired.")
    return payload
