"""The ARI client: typed errors from statuses, credentials only in a header, the events WebSocket with
reconnect (transient) and stop (permanent), and a reproducible backoff schedule."""

from __future__ import annotations

import asyncio
import logging
import random
import socket

import pytest
from arikit import eventually

from ari_app.ari import errors as E
from ari_app.ari.backoff import Backoff
from ari_app.ari.client import AriClient, StreamConnected, StreamDisconnected
from ari_app.ari.events import StasisStart, UnknownEvent
from ari_app.settings import AsteriskSettings
from ari_app.standin import AsteriskStandin


@pytest.mark.parametrize(
    ("status", "cls", "transient"),
    [
        (400, E.AriBadRequest, False),
        (401, E.AriAuthError, False),
        (403, E.AriAuthError, False),
        (404, E.AriNotFound, False),
        (409, E.AriConflict, False),
        (412, E.AriConflict, False),
        (422, E.AriConflict, False),
        (500, E.AriServerError, True),
        (503, E.AriServerError, True),
    ],
)
def test_given_an_http_status_then_the_error_type_says_whose_fault_and_whether_to_retry(
    status: int, cls: type[E.AriError], transient: bool
) -> None:
    err = E.error_for_status(status, "msg", method="POST", path="/ari/x")
    assert type(err) is cls and err.transient is transient and isinstance(err, E.AriError)
    assert str(err) == f"POST /ari/x -> {status}: msg"
    assert E.AriUnreachable("down").transient


def client_for(st: AsteriskStandin, password: str = "hotel-secret", app: str = "hotel-operator") -> AriClient:
    return AriClient(
        st.base_url, "hotel", password, app, backoff=Backoff(initial_s=0.05, cap_s=0.2, rng=random.Random(1))
    )


async def test_given_asterisk_when_calling_rest_then_typed_results_and_typed_errors(
    standin: AsteriskStandin,
) -> None:
    async with client_for(standin) as client:
        info = await client.asterisk_info()
        assert info.version == "22.10.1"
        with pytest.raises(E.AriNotFound, match="Channel not found"):
            await client.answer("no-such-channel")
        with pytest.raises(E.AriNotFound, match="Application not found"):
            await client.get_application()
        bridge = await client.create_bridge(name="b")
        assert bridge.bridge_type == "mixing" and bridge.channels == ()
        standin.fail_next("bridges.destroy", 503)
        with pytest.raises(E.AriServerError) as info_err:
            await client.destroy_bridge(bridge.id)
        assert info_err.value.transient and info_err.value.status == 503
        await client.destroy_bridge(bridge.id)
        with pytest.raises(ValueError, match="not one of"):
            await client.hangup("x", reason="tired")


async def test_given_a_wrong_password_then_rest_and_events_fail_permanently_without_retrying(
    standin: AsteriskStandin,
) -> None:
    async with client_for(standin, password="wrong") as client:
        with pytest.raises(E.AriAuthError) as info:
            await client.asterisk_info()
        assert not info.value.transient
        with pytest.raises(E.AriAuthError, match="ari_user / ari_password"):
            async for _ in client.events():
                pass
    attempts = [r for r in standin.request_log if r.path == "/ari/events"]
    assert len(attempts) == 1  # stopped at once, no loop


async def test_given_the_app_refused_then_events_stop_with_a_clear_message(standin: AsteriskStandin) -> None:
    async with client_for(standin, app="") as client:
        with pytest.raises(E.AriAppRefused, match="check asterisk.app_name"):
            async for _ in client.events():
                pass


async def test_given_another_client_takes_the_app_then_we_stop_instead_of_fighting_for_it(
    standin: AsteriskStandin,
) -> None:
    first, second = client_for(standin), client_for(standin)
    seen: list[object] = []

    async def consume() -> None:
        async for item in first.events():
            seen.append(item)

    task = asyncio.get_running_loop().create_task(consume())
    await eventually(lambda: standin.app_connected())
    stream = second.events()
    assert isinstance(await anext(stream), StreamConnected)
    with pytest.raises(E.AriAppRefused, match="another ARI client took over"):
        await task
    assert type(seen[-1]).__name__ == "ApplicationReplaced"
    await stream.aclose()
    await first.close()
    await second.close()


async def test_given_nothing_listening_then_unreachable_is_transient() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    async with AriClient(f"http://127.0.0.1:{port}", "hotel", "s3cret", "hotel-operator") as client:
        with pytest.raises(E.AriUnreachable) as info:
            await client.asterisk_info()
    assert info.value.transient and "s3cret" not in str(info.value)


async def test_given_credentials_then_they_travel_in_a_header_and_never_in_urls_or_logs(
    standin: AsteriskStandin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url_with_creds = standin.base_url.replace("http://", "http://hotel:hotel-secret@")
    async with AriClient(url_with_creds, "", "", "hotel-operator") as client:
        assert "hotel-secret" not in str(client.base_url)
        await client.asterisk_info()
        stream = client.events()
        assert isinstance(await anext(stream), StreamConnected)
        await client.get_application()
        await stream.aclose()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /ari/asterisk/info" in text
    assert "hotel-secret" not in text
    assert all("api_key" not in r.query for r in standin.request_log)


async def test_given_the_websocket_drops_then_the_client_reconnects_and_says_so(
    standin: AsteriskStandin,
) -> None:
    items: list[object] = []
    async with client_for(standin) as client:

        async def consume() -> None:
            async for item in client.events():
                items.append(item)

        task = asyncio.get_running_loop().create_task(consume())
        await eventually(lambda: any(isinstance(i, StreamConnected) for i in items))
        standin.refuse_websockets(503)  # Asterisk restarting: the next attempts are refused (transient)
        await standin.drop_websockets()
        await eventually(lambda: client.stats.failed_attempts >= 2)
        standin.refuse_websockets(None)
        await eventually(lambda: sum(isinstance(i, StreamConnected) for i in items) == 2)
        standin.place_call(args=())
        await eventually(lambda: any(isinstance(i, StasisStart) for i in items))
        standin.inject_raw('{"type": "SomethingNew", "application": "hotel-operator"}')
        standin.inject_raw("{broken")
        await eventually(lambda: client.stats.decode_errors == 1 and client.stats.unknown_events == 1)
        await client.stop_events()
        await task
    kinds = [type(i).__name__ for i in items]
    assert kinds[:2] == ["StreamConnected", "StreamDisconnected"]
    second = [i for i in items if isinstance(i, StreamConnected)][1]
    assert not second.first and second.attempts >= 3
    assert any(isinstance(i, UnknownEvent) for i in items)
    assert isinstance(items[1], StreamDisconnected)
    # every wait before reconnecting came from the capped backoff
    assert client.stats.reconnect_delays and max(client.stats.reconnect_delays) <= 0.2


def test_given_production_backoff_settings_then_reconnect_attempts_start_within_five_seconds() -> None:
    """Deterministic, not timed: with the default settings (cap = asterisk.reconnect_max_s) and any
    jitter, the first three reconnect attempts are all made within 3.5 s of the drop, the first within
    0.5 s; later waits never exceed the cap."""
    cap = AsteriskSettings().reconnect_max_s
    for seed in range(200):
        b = Backoff(cap_s=cap, rng=random.Random(seed))
        delays = [b.next_delay() for _ in range(12)]
        assert delays[0] <= 0.5
        assert sum(delays[:3]) <= 3.5 < 5.0
        assert max(delays) <= cap
        assert all(d >= 0.7 * min(cap, 0.5 * 2**i) for i, d in enumerate(delays))  # jitter is bounded
    b = Backoff(rng=random.Random(0))
    b.next_delay()
    b.next_delay()
    b.reset()
    assert b.next_delay() <= 0.5
