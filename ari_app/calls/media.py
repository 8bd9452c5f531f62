"""What a call needs from the media plane: one RTP endpoint per call, made by an injected factory.

The media plane's ``ari_app.media.endpoint.RtpEndpoint`` is the production implementation
(``RtpEndpoint(allocator, codec=settings.media.codec)``); tests may inject any object with this shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from ari_app.session import MediaPort

if TYPE_CHECKING:
    from ari_app.settings import MediaSettings


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


def rtp_endpoint_factory(media: MediaSettings) -> EndpointFactory:
    """The production factory: one :class:`ari_app.media.endpoint.RtpEndpoint` per call, ports from
    ``media.port_min``–``port_max`` on ``media.rtp_host``, codec ``media.codec``."""
    from ari_app.media.endpoint import PortAllocator, RtpEndpoint

    allocator = PortAllocator(media.rtp_host, media.port_min, media.port_max)

    def make() -> MediaEndpoint:
        # RtpEndpoint names play_ulaw's argument ``data`` where session.MediaPort says ``payload``;
        # conversations pass it positionally, so the cast is safe
        return cast(
            MediaEndpoint, RtpEndpoint(
                allocator, codec=media.codec, jitter_depth=media.jitter_frames,
                source_check=media.rtp_source_check,
            )
        )

    return make
