"""One service instance's cloud-sync worker, as its own process (run by test_sync.py).

argv: database URL, PostgreSQL schema ("" for none), receiver URL, secret, instance name.
Runs until nothing is left to queue or deliver, then prints how many pushes it delivered.
"""

from __future__ import annotations

import asyncio
import sys

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine

from ari_app.settings import SyncSettings, WorkerSettings
from ari_app.workers.jobs import pending_count
from ari_app.workers.sync import SyncWorker, queue_finished_calls
from models import SyncOutbox
from models.db import session_factory


async def main(url: str, schema: str, receiver: str, secret: str, instance: str) -> int:
    args = {"connect_args": {"server_settings": {"search_path": schema}}} if schema else {}
    engine = create_async_engine(url, **args)
    sessions = session_factory(engine)
    worker = SyncWorker(
        sessions,
        SyncSettings(enabled=True, url=receiver, secret=SecretStr(secret), timeout_s=5),
        WorkerSettings(instance_name=instance, batch_size=7, poll_interval_s=0.05, retry_base_s=0.2,
                       retry_max_s=0.8, lock_timeout_s=60),
    )
    try:
        async with asyncio.timeout(120):
            while True:
                await worker.run_once()
                left = await pending_count(sessions, [SyncOutbox])
                if left == 0 and await queue_finished_calls(sessions, limit=1, now=worker.clock()) == 0:
                    break
                await asyncio.sleep(0.05)
    finally:
        if worker._http is not None:  # noqa: SLF001 - the loop's own client
            await worker._http.close()  # noqa: SLF001
        await engine.dispose()
    print(worker.delivered, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:6])))
