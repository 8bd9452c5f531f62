"""The background workers one ``serve`` process runs: callbacks and the outbox, started and
stopped together, each loop owned by the pool and awaited on stop."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.settings import Settings
from ari_app.workers.jobs import CallbackRunner, Clock, Originate, OutboxWorker, stop_loop_task, utc_now
from ari_app.workers.providers import LogProvider, MessageProvider, TwilioProvider

log = logging.getLogger(__name__)


def providers_from_settings(settings: Settings) -> dict[str, MessageProvider]:
    """One provider per channel. E-mail has no sending provider yet: it goes to the log."""
    sms = settings.sms
    sms_provider: MessageProvider
    if sms.provider == "twilio":
        sms_provider = TwilioProvider(
            account_sid=sms.twilio_account_sid,
            auth_token=sms.twilio_auth_token.get_secret_value(),
            from_number=sms.from_number,
            base_url=sms.twilio_base_url,
        )
    else:
        sms_provider = LogProvider()
    return {"sms": sms_provider, "email": LogProvider()}


class WorkerPool:
    """Runs :class:`CallbackRunner` and :class:`OutboxWorker` until :meth:`stop`.

    ``originate`` is how a callback becomes a call (the ARI side supplies it); without one the
    pool runs only the outbox, and callbacks wait for an instance that can place calls.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        originate: Originate | None = None,
        providers: dict[str, MessageProvider] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.providers = providers if providers is not None else providers_from_settings(settings)
        self.callbacks = (
            CallbackRunner(sessions, originate, settings.worker, clock=clock) if originate else None
        )
        self.outbox = OutboxWorker(sessions, self.providers, settings.worker, settings.sms, clock=clock)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Run every loop until :meth:`stop` (or cancellation); providers are closed on the way out."""
        self._stop.clear()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.outbox.run(self._stop), name="worker-outbox")
                if self.callbacks is not None:
                    tg.create_task(self.callbacks.run(self._stop), name="worker-callbacks")
        finally:
            for provider in self.providers.values():
                await provider.close()

    async def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.create_task(self.run(), name="worker-pool")
        log.info("workers started as instance %s", self.settings.worker.instance_name)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the loops to finish their current item, then wait; cancel what overstays."""
        task, self._task = self._task, None
        await stop_loop_task(self._stop, task, timeout_s)

    async def __aenter__(self) -> WorkerPool:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
