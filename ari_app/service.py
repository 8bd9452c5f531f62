"""The service process: every long-running part, started in order and stopped in the reverse order.

Start: database (migrated), speech models (loaded once, shared), menus, brain, then the listeners
(HTTP API, FastAGI, AMI monitor, workers) and finally the ARI managers, so that the first call finds
everything ready. Stop (SIGTERM/SIGINT) drains: no new calls, live calls get ``drain_s``; then the
listeners stop and the models and database close, in one fixed order. SIGHUP reloads the IVR menus;
a bad menu file keeps the old menus and logs why.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ari_app.brain.factory import make_brain
from ari_app.calls.manager import CallManager
from ari_app.calls.media import EndpointFactory, rtp_endpoint_factory
from ari_app.calls.service import AllServersFailed, make_managers, serve_managers
from ari_app.conversation import ConversationDeps, conversation_factory, default_sound_loader
from ari_app.http import ApiContext, build_app, make_runner
from ari_app.http.wiring import end_call_in, live_calls_of, place_call_via
from ari_app.ivr.config import MenuStore
from ari_app.metrics import Metrics, ServerView
from ari_app.settings import Settings
from ari_app.tools.facts import load_facts
from ari_app.tools.registry import ToolRegistry
from models import Callback
from models.db import make_engine, session_factory, warm_pool
from models.store import CallStore

log = logging.getLogger("ari_app.service")


class StartupRefused(Exception):
    """Every configured Asterisk refused us for good (credentials, app name): one line for the admin."""


class CallbackNotAnswered(Exception):
    """The guest did not pick up; the worker retries the callback later."""


@dataclass
class Service:
    """Everything one process runs; built by :func:`build_service`, run by :meth:`run`."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: CallStore
    metrics: Metrics
    menus: MenuStore
    deps: ConversationDeps
    managers: list[CallManager]
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    http_port: int | None = None
    drain_s: float = 30.0
    _closers: list[Callable[[], Any]] = field(default_factory=list)
    _side_tasks: set[asyncio.Task[None]] = field(default_factory=set)  # e.g. a SIGHUP reload under way

    def spawn(self, coro: Any, name: str) -> None:
        """A short side job owned by the service: awaited (or cancelled) when the service stops."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def reload_menus(self) -> str:
        tree = await asyncio.to_thread(self.menus.reload)
        return f"IVR menus reloaded ({len(tree.menus)} menus)"

    def server_views(self) -> list[ServerView]:
        return [
            ServerView(m.server_name, m.connected.is_set(), len(m.calls), m.stats.calls_started, m.stats.reconciles)
            for m in self.managers
        ]

    def health_ari(self) -> dict[str, Any]:
        servers = {m.server_name: ("connected" if m.connected.is_set() else "disconnected") for m in self.managers}
        return {"ok": all(v == "connected" for v in servers.values()), "servers": servers,
                "live_calls": sum(len(m.calls) for m in self.managers)}

    async def originate_callback(self, cb: Callback) -> None:
        """A due callback becomes an outbound call into our app, through the first connected Asterisk."""
        template = self.settings.asterisk.callback_endpoint
        manager = next((m for m in self.managers if m.connected.is_set()), None)
        if manager is None:
            raise CallbackNotAnswered("no Asterisk connected")
        result = await manager.originate(
            template.format(number=cb.phone),
            caller_id=self.settings.trunk.caller_id or None,
            called_number=cb.phone,
        )
        if not result.answered:
            raise CallbackNotAnswered(f"no answer (cause {result.cause})")

    def request_stop(self) -> None:
        log.info("stopping: draining live calls (up to %g s)", self.drain_s)
        self.stop_event.set()

    async def run(self) -> None:
        from agi.routes import server_from_settings
        from ari_app.ami.monitor import AmiMonitor
        from ari_app.recording.retention import RetentionSweeper
        from ari_app.workers.pool import WorkerPool
        from ari_app.workers.sync import SyncWorker

        settings = self.settings
        refused: AllServersFailed | None = None
        async with contextlib.AsyncExitStack() as stack:
            # HTTP API first: orchestrators can see the service come up
            api = ApiContext(
                sessions=self.sessions,
                metrics=self.metrics,
                tokens=[t.get_secret_value() for t in settings.http.api_tokens],
                health_parts={"ari": self.health_ari},
                reload_ivr=self.reload_menus,
                live_calls=live_calls_of(self.managers),
                end_call=end_call_in(self.managers),
                place_call=place_call_via(self.managers, settings, settings.voice_api.outbound_ring_timeout_s),
                timezone=settings.hotel.timezone,
                currency=settings.hotel.currency,
                recording_key=settings.recording.encryption_key.get_secret_value()
                if settings.recording.encryption_key else None,
                outbound_per_number_per_hour=settings.voice_api.outbound_per_number_per_hour,
            )
            app = build_app(api)
            if settings.webrtc.enabled:  # browser calls (issue 14): page, token and signalling routes
                from ari_app.webrtc import add_webrtc_routes

                add_webrtc_routes(app, settings, self.store, conversation_factory(self.deps), metrics=self.metrics)
                api.public_paths += ("/voice/call", "/voice/call.js", "/voice/webrtc")  # own call token
            runner = make_runner(app)  # malformed requests: rate-limited warnings, no tracebacks
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, settings.http.host, settings.http.port)
            await site.start()
            sockets = getattr(site._server, "sockets", None) or []  # noqa: SLF001 - aiohttp exposes no getter
            self.http_port = sockets[0].getsockname()[1] if sockets else settings.http.port
            log.info("HTTP API on %s:%s", settings.http.host, self.http_port)

            agi = server_from_settings(settings, lambda: self.menus.tree, self.sessions)
            await agi.start()
            stack.push_async_callback(agi.stop)
            log.info("FastAGI on %s:%s", settings.asterisk.agi_host, agi.bound_port)

            async with asyncio.TaskGroup() as tg:
                ami: AmiMonitor | None = None
                if settings.asterisk.ami_enabled:
                    ami = AmiMonitor.from_settings(settings.asterisk, settings.ivr)
                    api.health_parts["ami"] = ami.health
                    ami_task = tg.create_task(ami.run(), name="ami-monitor")
                else:
                    ami_task = None
                self.metrics.watch(self.server_views, ami.health if ami is not None else lambda: None)
                self.metrics.watch_storage(settings.recording.directory)
                workers = WorkerPool(self.sessions, settings, originate=self.originate_callback)
                await workers.start()
                sync = SyncWorker.from_settings(self.sessions, settings)  # None unless sync.enabled
                if sync is not None:
                    await sync.start()
                # recording retention runs even with recording off: old files must still go
                sweeper = RetentionSweeper(settings.recording, self.sessions)
                tg.create_task(sweeper.run(), name="recording-retention")
                log.info("%s", ready_line(settings, self.http_port, agi.bound_port))
                try:
                    await serve_managers(self.managers, self.stop_event, self.drain_s)
                except AllServersFailed as exc:
                    refused = exc  # stop everything in order below, then report in one line
                finally:
                    # managers drained (or failed): stop the rest in reverse order of start, once
                    await sweeper.stop()
                    if sync is not None:
                        await sync.stop()
                    await workers.stop()
                    if ami is not None and ami_task is not None:
                        await ami.stop()
                        ami_task.cancel()
        for task in list(self._side_tasks):
            task.cancel()
        await asyncio.gather(*self._side_tasks, return_exceptions=True)
        for close in reversed(self._closers):
            result = close()
            if asyncio.iscoroutine(result):
                await result
        log.info("stopped")
        if refused is not None:
            raise StartupRefused(
                f"Asterisk refused the ARI connection ({refused}); check asterisk.ari_url, ari_user, "
                "ari_password and app_name against ari.conf and http.conf"
            )


async def build_service(
    settings: Settings,
    *,
    load_speech: bool = True,
    endpoint_factory: EndpointFactory | None = None,
    speech: Any = None,
    ivr_clock: Callable[[], datetime] | None = None,
) -> Service:
    """Open the database (migrating it), load models, menus and the brain; build the ARI managers."""
    from models.migrate import upgrade

    if settings.database.auto_migrate:
        await asyncio.to_thread(upgrade, settings.database.url)
    engine = make_engine(settings.database.url, echo=settings.database.echo, pool_size=settings.database.pool_size)
    pooled = await warm_pool(engine)  # the first calls do not pay for opening connections
    sessions = session_factory(engine)
    store = CallStore(sessions)
    await store.warm_statements(pooled)  # nor for preparing their writes (PostgreSQL)
    metrics = Metrics()
    store.on_closed = metrics.call_ended
    menus = await asyncio.to_thread(MenuStore.from_settings, settings)
    # run in reverse: the turns still being written are committed before the engine closes
    closers: list[Callable[[], Any]] = [engine.dispose, store.drain]
    if speech is None and load_speech:
        from ari_app.speech.engines import SpeechEngines

        speech = await asyncio.to_thread(
            SpeechEngines.load, settings.speech, hotel_name=settings.hotel.name
        )
        closers.append(speech.aclose)
        await speech.warm()
    from ari_app.recording.manager import RecordingManager

    recordings = RecordingManager.from_settings(settings.recording)  # a bad key raises RecordingKeyError
    closers.append(recordings.aclose)  # after the calls drained: let their recordings finish
    deps = ConversationDeps(
        settings=settings,
        brain=make_brain(settings),
        menus=menus,
        speech=speech,
        registry=ToolRegistry(),
        facts=load_facts(settings.hotel),
        metrics=metrics,
        realtime=_realtime_runner(settings),
        sound_loader=default_sound_loader(settings),
        ivr_clock=ivr_clock,
        recordings=recordings,
    )
    managers = make_managers(
        settings, store, conversation_factory(deps), endpoint_factory or rtp_endpoint_factory(settings.media)
    )
    return Service(settings, engine, sessions, store, metrics, menus, deps, managers, _closers=closers)


def _realtime_runner(settings: Settings) -> Any:
    if settings.brain.mode != "realtime":
        return None
    from ari_app.realtime.runner import make_realtime_runner

    return make_realtime_runner(settings)


@contextlib.asynccontextmanager
async def _signals(service: Service) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def _hup() -> None:
        async def reload() -> None:
            try:
                log.info("%s", await service.reload_menus())
            except Exception as exc:  # keep the old menus; the admin reads why
                log.error("IVR menu reload failed, old menus kept: %s", exc)

        service.spawn(reload(), "ivr-reload")

    for sig, handler in ((signal.SIGTERM, service.request_stop), (signal.SIGINT, service.request_stop),
                         (signal.SIGHUP, _hup)):
        try:
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def freeze_startup_heap() -> int:
    """Move everything loaded at start (models, menus, SQLAlchemy, the ORM) out of the collector's
    view, after one collection, so the full collections a busy service runs every few seconds only
    walk what calls allocate. They had walked it all: ~40 ms pauses that stalled every call at once,
    the last turns over 100 ms in bench/turn_store.py (issue 16); frozen, ≤ 10 ms. Returns the
    objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


async def run_service(settings: Settings) -> None:
    service = await build_service(settings)
    freeze_startup_heap()
    async with _signals(service):
        await service.run()


def ready_line(settings: Any, http_port: int, agi_port: int) -> str:
    """The one line an IT person looks for after ``serve``: where to point a browser and the dialplan."""
    def where(host: str) -> str:
        return "<this host>" if host in ("0.0.0.0", "::", "") else host

    http = f"http://{where(settings.http.host)}:{http_port}"
    servers = ", ".join(s.ari_url for s in settings.asterisk.servers())
    return (
        f"ready: dashboard {http}/dashboard · health {http}/health · metrics {http}/metrics · "
        f"FastAGI agi://{where(settings.asterisk.agi_host)}:{agi_port}/ivr · "
        f"ARI app {settings.asterisk.app_name!r} on {servers}"
    )
