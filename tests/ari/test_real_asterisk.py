"""Against a real Asterisk 22, when one is reachable: the facts the stand-in is built on.

Set ``ARI_TEST_URL`` (e.g. ``http://127.0.0.1:8088``) and, if not ``hotel``/``hotel-secret``,
``ARI_TEST_USER``/``ARI_TEST_PASSWORD`` (an ``ari.conf`` user; app ``hotel-operator``). Without them
these tests skip, saying why. No SIP phone is needed: an externalMedia channel on its own shows the
race (POST returns ``Down`` before the channel's own StasisStart), the 422 of bridging too early,
``channelvars``, and the soft hang-up cause 32 of a DELETE.
"""

from __future__ import annotations

import asyncio
import os
import socket

import pytest
from arikit import eventually

from ari_app.ari.client import AriClient, StreamConnected
from ari_app.ari.errors import AriConflict, AriError
from ari_app.ari.events import ChannelHangupRequest, Event, StasisStart

URL = os.environ.get("ARI_TEST_URL", "")
USER = os.environ.get("ARI_TEST_USER", "hotel")
PASSWORD = os.environ.get("ARI_TEST_PASSWORD", "hotel-secret")


async def real_client() -> AriClient:
    if not URL:
        reason = "no real Asterisk: set ARI_TEST_URL=http://host:8088 to run these"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    client = AriClient(URL, USER, PASSWORD, "hotel-operator")
    try:
        await client.asterisk_info()
    except AriError as exc:
        await client.close()
        print(f"SKIP: Asterisk at {URL} does not answer: {exc}")
        pytest.skip(f"Asterisk at {URL} does not answer: {exc}")
    return client


async def test_given_a_real_asterisk_then_externalmedia_races_its_stasisstart_as_recorded() -> None:
    client = await real_client()
    events: list[Event] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    stream = client.events()
    try:
        assert isinstance(await anext(stream), StreamConnected)

        async def pump() -> None:
            async for item in stream:
                if isinstance(item, Event):
                    events.append(item)

        task = asyncio.get_running_loop().create_task(pump())
        bridge = await client.create_bridge(name="standin-check")
        em = await client.external_media(
            app="hotel-operator",
            channel_id="hotelop-check-1",
            external_host=f"127.0.0.1:{port}",
            format="ulaw",
        )
        assert em.state == "Down" and {"UNICASTRTP_LOCAL_ADDRESS", "UNICASTRTP_LOCAL_PORT"} <= set(
            em.channelvars
        )
        early_ok = True
        try:
            await client.add_channel(bridge.id, [em.id])
        except AriConflict as exc:
            early_ok = False
            assert exc.status == 422 and exc.message == "Channel not in Stasis application"
        await eventually(lambda: any(isinstance(e, StasisStart) and e.channel.id == em.id for e in events))
        if not early_ok:
            await client.add_channel(bridge.id, [em.id])
        await client.hangup(em.id)
        await eventually(
            lambda: any(isinstance(e, ChannelHangupRequest) and e.channel.id == em.id for e in events)
        )
        hangup = next(e for e in events if isinstance(e, ChannelHangupRequest) and e.channel.id == em.id)
        assert (hangup.cause, hangup.soft) == (32, True)
        await client.destroy_bridge(bridge.id)
        await client.stop_events()
        await task
    finally:
        sock.close()
        await client.close()
