"""The RTP source check remembers the source it has already checked (the hot path skips the address
parsing); a new hint from Asterisk must make it forget, or the old source would still be heard."""

from __future__ import annotations

from typing import Any

from ari_app.media.clock import MediaClock
from ari_app.media.endpoint import PortAllocator, RtpEndpoint
from ari_app.media.rtp import RtpPacket, build_rtp


async def test_given_an_accepted_source_when_asterisk_hints_another_then_the_old_one_is_foreign(
    allocator: PortAllocator, peer_factory: Any, until: Any
) -> None:
    ep = RtpEndpoint(allocator, clock=MediaClock(manual=True))
    await ep.start()
    first, second = peer_factory(), peer_factory()
    dest = ("127.0.0.1", ep.local_port)
    ep.set_remote(*first.addr)
    for i in range(3):
        first.send(build_rtp(RtpPacket(0, i, 160 * i, 7, b"\x11" * 160)), dest)
    await until(lambda: ep.stats.datagrams_in == 3)
    assert ep.stats.packets_in == 3 and ep.stats.foreign_packets == 0
    ep.set_remote(*second.addr)  # e.g. the channel was re-created: Asterisk now sends from elsewhere
    first.send(build_rtp(RtpPacket(0, 3, 480, 7, b"\x11" * 160)), dest)
    second.send(build_rtp(RtpPacket(0, 0, 0, 8, b"\x22" * 160)), dest)
    await until(lambda: ep.stats.datagrams_in == 5)
    assert ep.stats.foreign_packets == 1 and ep.stats.packets_in == 4
    # and a source on the same host but another port is refused even after one was accepted
    third = peer_factory()
    third.send(build_rtp(RtpPacket(0, 1, 160, 9, b"\x33" * 160)), dest)
    await until(lambda: ep.stats.datagrams_in == 6)
    assert ep.stats.foreign_packets == 2
    await ep.close()
