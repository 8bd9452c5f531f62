"""Running an AMI monitor against the fake Asterisk in tests (importable as ``amikit``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ari_app.ami import AmiMonitor


@contextlib.asynccontextmanager
async def running(monitor: AmiMonitor) -> AsyncIterator[AmiMonitor]:
    task = asyncio.create_task(monitor.run(), name="test-ami-monitor")
    try:
        yield monitor
    finally:
        await monitor.stop()
        async with asyncio.timeout(5):
            await task


def make_monitor(port: int, **kwargs: Any) -> AmiMonitor:
    opts: dict[str, Any] = {"ping_interval_s": 3600, "poll_interval_s": 3600, "reconnect_min_s": 0.01, "reconnect_max_s": 0.05}
    opts.update(kwargs)
    return AmiMonitor("127.0.0.1", port, "hotel", "hotel-secret", **opts)
