"""What a call needs from the media plane: one RTP endpoint per call, made by an injected factory.

The media plane's ``ari_app.media.endpoint.RtpEndpoint`` is the production implementation
(``RtpEndpoint(allocator, codec=settings.media.codec)``); tests may inject any object with this shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ari_app.session import MediaPort


@runtime_checkable
class MediaEndpoint(MediaPort, Protocol):
    """A started endpoint has a local UDP address for ``external_host``; ``set_remote`` gets the address
    Asterisk sends from (``UNICASTRTP_LOCAL_ADDRESS``/``PORT``)."""

    async def start(self) -> None: ...

    @property
    def local_host(self) -> str: ...

    @property
    def local_port(self) -> int: ...

    def set_remote(self, host: str, port: int) -> None: ...

    async def close(self) -> None: ...


EndpointFactory = Callable[[], MediaEndpoint]
