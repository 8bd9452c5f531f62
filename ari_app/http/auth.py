"""Who may see guest data, and the headers that keep it out of caches and frames.

``/api/``, ``/voice/`` and ``/dashboard`` show callers' numbers, transcripts and recordings, so
they need a token from ``http.api_tokens``; with none configured they answer only on the loopback
interface, so a fresh install is never open to the network.

How a token is given: ``Authorization: Bearer <token>`` (the scheme in any case, RFC 7235 says
schemes are case-insensitive), or Basic with any user name and the token as password, which is what
a browser sends after a Basic challenge. A bare token without a scheme is refused: RFC 6750 requires
the scheme, and accepting both would make a mistyped header ("Bearer: x") silently valid for some
clients and not others. Tokens are compared as bytes, so a header with non-ASCII characters is just
a wrong token (401), never a server error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

from ari_app.http.context import CTX, WHO

PROTECTED = ("/api/", "/voice/", "/dashboard")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def is_loopback(request: web.Request) -> bool:
    peer = request.remote or ""
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


def _raw(value: str) -> bytes:
    # aiohttp decodes header bytes as UTF-8 with surrogate escapes: get the bytes the client sent back
    return value.encode("utf-8", "surrogateescape")


def given_token(request: web.Request) -> bytes | None:
    """The token the client sent, as bytes; None when there is no usable Authorization header."""
    header = request.headers.get("Authorization", "")
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    rest = rest.strip()
    if scheme == "bearer" and rest:
        return _raw(rest)
    if scheme == "basic" and rest:
        try:
            decoded = base64.b64decode(_raw(rest), validate=True)
        except (binascii.Error, ValueError):
            return None
        _user, sep, password = decoded.partition(b":")
        return password if sep else None
    return None


def fingerprint(token: bytes) -> str:
    """A short, stable name for a token in audit rows: never the token itself."""
    return "token:" + hashlib.sha256(token).hexdigest()[:8]


def _wants_basic(request: web.Request) -> bool:
    """Browsers only answer a Basic challenge; API clients expect Bearer."""
    return request.path.startswith("/dashboard") or "text/html" in request.headers.get("Accept", "")


def is_protected(request: web.Request, public: tuple[str, ...]) -> bool:
    path = request.path
    if not (path == "/voice" or path.startswith(PROTECTED)):
        return False
    return not any(path == p or path.startswith(p.rstrip("/") + "/") for p in public)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx = request.app[CTX]
    if not is_protected(request, ctx.public_paths):
        return await handler(request)
    if not ctx.tokens:
        if is_loopback(request):
            request[WHO] = "loopback"
            return await handler(request)
        raise web.HTTPForbidden(text="set http.api_tokens to use the API from another host")
    token = given_token(request)
    if token is None or not any(hmac.compare_digest(token, _raw(t)) for t in ctx.tokens):
        scheme = "Basic" if _wants_basic(request) else "Bearer"
        reason = (
            "a valid token is required"
            if token is not None or not request.headers.get("Authorization")
            else "a valid token is required (send 'Authorization: Bearer <token>')"
        )
        raise web.HTTPUnauthorized(
            text=reason, headers={"WWW-Authenticate": f'{scheme} realm="hotel-operator", charset="UTF-8"'}
        )
    request[WHO] = fingerprint(token)
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, errors and streams included (an ``on_response_prepare`` signal)."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Content-Security-Policy", CSP)
    if request.path.startswith("/dashboard/static/"):
        headers.setdefault("Cache-Control", "private, max-age=3600")
    else:
        headers.setdefault("Cache-Control", "no-store")
