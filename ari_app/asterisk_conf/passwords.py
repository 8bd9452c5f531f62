"""What counts as an unacceptable password in a configuration we hand to Asterisk.

Render refuses these and check reports them, with the same rule, so a file that renders also
checks clean and a hand-edited file that slips back to a default is caught before reload.
"""

from __future__ import annotations

import hashlib
import hmac

MIN_LENGTH = 12

# Values seen in sample configs, tutorials and the recorded test setup: the first things an
# attacker scanning SIP/AMI ports tries.
KNOWN_DEFAULTS = frozenset(
    {
        "hotel-secret",
        "guest-secret",
        "secret",
        "password",
        "passw0rd",
        "changeme",
        "change-me",
        "admin",
        "asterisk",
        "amp111",
        "default",
        "letmein",
        "test",
        "1234",
        "123456",
        "12345678",
        "123456789012",
    }
)


def weakness(password: str, *, username: str = "") -> str | None:
    """Why ``password`` must not be used, or None when it is acceptable; never echoes the value."""
    if not password:
        return "is empty"
    if password.strip().lower() in KNOWN_DEFAULTS:
        return "is a well-known default password"
    if username and password == username:
        return "is the same as the user name"
    if len(password) < MIN_LENGTH:
        return f"is shorter than {MIN_LENGTH} characters"
    return None


def derive_phone_password(seed: str, name: str) -> str:
    """A phone's own SIP password, derived from the shared seed.

    Each handset gets a different secret (one leaked phone config does not open every room),
    while the IT person keeps a single value in the settings and can re-render at any time.
    """
    digest = hmac.new(seed.encode(), f"pjsip-phone:{name}".encode(), hashlib.sha256).hexdigest()
    return digest[:20]
