"""Several Asterisk servers: one ARI client and one :class:`CallManager` each, calls tagged by server.

``settings.asterisk.servers()`` lists them (the primary plus ``additional_servers``). A server whose
credentials or app name are refused is reported and left out; the others keep serving. The service
stops when ``stop`` is set: every manager drains (live calls get ``drain_s``) in parallel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ari_app.ari.client import AriClient
from ari_app.ari.errors import AriError
from ari_app.calls.call import CallOptions, Conversation
from ari_app.calls.manager import CallManager
from ari_app.calls.media import EndpointFactory

if TYPE_CHECKING:
    from ari_app.settings import AsteriskServer, Settings
    from models.store import CallStore

log = logging.getLogger("ari_app.calls.service")


class AllServersFailed(Exception):
    """Every configured Asterisk refused us permanently; the first reason is the message."""


def make_managers(
    settings: Settings,
    store: CallStore,
    conversation: Conversation,
    endpoint_factory: EndpointFactory,
    *,
    options: CallOptions | None = None,
    client_factory: Callable[[AsteriskServer], AriClient] | None = None,
) -> list[CallManager]:
    managers = []
    for server in settings.asterisk.servers():
        client = client_factory(server) if client_factory is not None else None
        managers.append(
            CallManager(
                settings, server, store, conversation, endpoint_factory, client=client, options=options
            )
        )
    return managers


async def serve_managers(managers: list[CallManager], stop: asyncio.Event, drain_s: float = 30.0) -> None:
    errors: list[AriError] = []

    async def one(manager: CallManager) -> None:
        try:
            await manager.run()
        except AriError as exc:
            log.error("Asterisk %s: %s (this server is left out)", manager.server_name, exc)
            errors.append(exc)
            if len(errors) == len(managers):
                stop.set()
        finally:
            await manager.client.close()

    async with asyncio.TaskGroup() as tg:
        for manager in managers:
            tg.create_task(one(manager), name=f"ari:{manager.server_name}")
        await stop.wait()
        await asyncio.gather(*(m.drain(drain_s) for m in managers))
    if errors and len(errors) == len(managers):
        raise AllServersFailed(str(errors[0])) from errors[0]
