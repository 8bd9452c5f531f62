"""Browser calls (WebRTC): a page served by the service, signalling over a WebSocket and media through
aiortc, feeding the same conversation as a phone call (see docs/webrtc.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ari_app.webrtc.gateway import WebRtcGateway


def add_webrtc_routes(app: Any, *args: Any, **kwargs: Any) -> WebRtcGateway:
    """Register /voice/call, /voice/call/token and /voice/webrtc on an aiohttp app (see gateway)."""
    from ari_app.webrtc.gateway import add_webrtc_routes as add

    return add(app, *args, **kwargs)


__all__ = ["add_webrtc_routes"]
