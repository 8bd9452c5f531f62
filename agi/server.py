"""The FastAGI TCP server: a thin asyncio transport around :mod:`agi.protocol`.

Why not panoramisk's ``fast_agi.Application`` (1.4): its handler loops forever on ``reader.read``
when a peer closes before the blank line (busy loop on EOF), has no limit on line length or on the
number of environment lines, no idle timeout, drops bytes read past the blank line, and wraps plain
callables with ``asyncio.coroutine``, which Python 3.11 no longer has. Fixing that would mean
replacing the handler, which is all there is of it, so this server is our own: ~150 lines, every
connection a task the server owns and cancels on ``stop()``.

Per connection: read the ``agi_*`` block under an idle timeout, route on ``agi_network_script``,
run the route with an :class:`AgiChannel`, and close the socket ourselves (Asterisk waits for that
to continue its dialplan, and after its final ``HANGUP`` line it never closes first). Garbage, a
limit exceeded or a silent peer closes that one connection with a log line; the server goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from agi.protocol import (
    DEFAULT_MAX_ENV_LINES,
    DEFAULT_MAX_LINE,
    DEFAULT_MAX_USAGE_BYTES,
    DEFAULT_MAX_USAGE_LINES,
    AgiCommandFailed,
    AgiConnection,
    AgiEnvironment,
    AgiError,
    AgiHangup,
    AgiProtocolError,
    AgiSoundMissing,
    EnvironmentReceived,
    HangupReceived,
    NeedData,
    Reply,
    ReplyReceived,
)

log = logging.getLogger(__name__)

ESCAPE_ALL = "0123456789*#"
DEFAULT_EXEC_TIMEOUT_S = 4 * 3600.0
DEFAULT_MAX_CONNECTIONS = 200


class LogLimiter:
    """At most ``burst`` lines per ``window_s`` for one kind of noise (garbage sessions, refused
    connections), then one line saying how many were left out: a flood of junk connections must not
    become a flood of log lines (issue 18 L2)."""

    def __init__(self, burst: int = 5, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.window_s = window_s
        self._clock = clock
        self._start = -window_s
        self._count = 0
        self.suppressed = 0

    def allow(self) -> tuple[bool, int]:
        """(log this one?, how many were left out since the last line logged)."""
        now = self._clock()
        if now - self._start >= self.window_s:
            self._start = now
            self._count = 0
        if self._count < self.burst:
            self._count += 1
            left_out, self.suppressed = self.suppressed, 0
            return True, left_out
        self.suppressed += 1
        return False, 0


class AgiChannel:
    """The call as an AGI route sees it: send one command, get its typed reply."""

    def __init__(
        self,
        conn: AgiConnection,
        env: AgiEnvironment,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        reply_timeout_s: float,
        exec_timeout_s: float = DEFAULT_EXEC_TIMEOUT_S,
    ) -> None:
        self.conn = conn
        self.env = env
        self._reader = reader
        self._writer = writer
        self.reply_timeout_s = reply_timeout_s
        self.exec_timeout_s = exec_timeout_s
        self.hangup_sent = False
        self.commands = 0

    @property
    def hung_up(self) -> bool:
        return self.conn.hung_up

    async def command(self, *words: str | int, timeout_s: float | None = None, minus_one_ok: bool = False) -> Reply:
        """Send one command and wait for its reply, at most ``timeout_s`` (default
        ``reply_timeout_s``): every exchange is bounded, a peer that never answers costs one timeout.

        ``result=-1`` means a hang-up for most commands; with ``minus_one_ok`` the reply is returned
        for the caller to tell "failed" from "hung up" (``STREAM FILE`` of a missing sound).
        """
        if self.conn.hung_up:
            raise AgiHangup(f"channel {self.env.get('agi_channel')} hung up")
        data = self.conn.send_command(*words)
        self._writer.write(data)
        await self._writer.drain()
        self.commands += 1
        async with asyncio.timeout(self.reply_timeout_s if timeout_s is None else timeout_s):
            reply = await read_reply(self.conn, self._reader)
        if reply.code == 511:
            raise AgiHangup(reply.text or "dead channel")
        if not reply.ok:
            raise AgiCommandFailed(reply)
        if reply.result == "-1" and not minus_one_ok:
            raise AgiHangup(f"{data.decode().strip()} -> result=-1")
        return reply

    # Thin helpers for the commands the routes use; names follow the AGI command names.

    async def answer(self) -> Reply:
        return await self.command("ANSWER")

    async def get_variable(self, name: str) -> str | None:
        reply = await self.command("GET VARIABLE", name)
        return reply.data if reply.result == "1" else None

    async def set_variable(self, name: str, value: str) -> Reply:
        return await self.command("SET VARIABLE", name, value)

    async def stream_file(self, sound: str, escape_digits: str = "") -> str | None:
        """Play a sound; the key that cut it, or None when it played to its end.

        ``result=-1`` is "error or hang-up" (Asterisk's STREAM FILE documentation); the command sets
        ``PLAYBACKSTATUS``. A hung-up channel shows itself (a ``HANGUP`` line, or ``511`` to the next
        command); a channel that still answers had a sound Asterisk could not open:
        :class:`AgiSoundMissing`, which the IVR survives instead of ending the call as a hang-up.
        """
        reply = await self.command("STREAM FILE", sound, escape_digits, minus_one_ok=True)
        if reply.result != "-1":
            return reply.digit
        if self.conn.hung_up:
            raise AgiHangup(f"STREAM FILE {sound} -> result=-1 after HANGUP")
        status = await self.get_variable("PLAYBACKSTATUS")  # 511 on a dead channel -> AgiHangup
        if self.conn.hung_up:
            raise AgiHangup(f"STREAM FILE {sound} -> result=-1 after HANGUP")
        log.debug("STREAM FILE %s -> result=-1, PLAYBACKSTATUS=%s", sound, status)
        raise AgiSoundMissing(sound)

    async def get_data(self, sound: str, timeout_ms: int, max_digits: int) -> tuple[str, bool]:
        """Play ``sound`` and collect digits: (digits, timed out)."""
        reply = await self.command("GET DATA", sound, timeout_ms, max_digits)
        return reply.result, reply.timed_out

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        return (await self.command("WAIT FOR DIGIT", timeout_ms)).digit

    async def say_digits(self, digits: str, escape_digits: str = "") -> str | None:
        return (await self.command("SAY DIGITS", digits, escape_digits)).digit

    async def verbose(self, message: str, level: int = 1) -> Reply:
        return await self.command("VERBOSE", message, level)

    async def exec(self, application: str, options: str = "") -> Reply:
        """Run a dialplan application. ``Dial`` and ``Stasis`` last as long as the call they carry,
        so they get ``exec_timeout_s`` (hours), not the reply timeout, but never forever (issue 18 D6)."""
        words: tuple[str, ...] = ("EXEC", application, options) if options else ("EXEC", application)
        return await self.command(*words, timeout_s=self.exec_timeout_s)

    async def hangup(self) -> Reply:
        reply = await self.command("HANGUP")
        self.hangup_sent = True
        return reply


Route = Callable[[AgiChannel], Awaitable[object]]


async def _fill(conn: AgiConnection, reader: asyncio.StreamReader) -> None:
    chunk = await reader.read(4096)
    if not chunk:
        raise AgiHangup("Asterisk closed the connection")
    conn.receive_data(chunk)


async def read_environment(conn: AgiConnection, reader: asyncio.StreamReader) -> AgiEnvironment:
    while True:
        event = conn.next_event()
        if isinstance(event, EnvironmentReceived):
            return event.env
        if isinstance(event, NeedData):
            await _fill(conn, reader)


async def read_reply(conn: AgiConnection, reader: asyncio.StreamReader) -> Reply:
    while True:
        event = conn.next_event()
        if isinstance(event, ReplyReceived):
            return event.reply
        if isinstance(event, HangupReceived):
            continue  # the reply of the pending command still follows
        await _fill(conn, reader)


async def wait_for_hangup_line(conn: AgiConnection, reader: asyncio.StreamReader) -> None:
    """After our own HANGUP, Asterisk sends one more ``HANGUP`` line; read up to it."""
    while not conn.hung_up:
        event = conn.next_event()
        if isinstance(event, NeedData):
            await _fill(conn, reader)


@dataclass
class AgiStats:
    connections: int = 0
    active: int = 0
    protocol_errors: int = 0
    timeouts: int = 0
    route_errors: int = 0
    unknown_routes: int = 0
    refused: int = 0  # over max_connections
    peer_resets: int = 0
    by_route: dict[str, int] = field(default_factory=dict)


class FastAgiServer:
    def __init__(
        self,
        routes: Mapping[str, Route],
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        idle_timeout_s: float = 10.0,
        reply_timeout_s: float = 120.0,
        max_line: int = DEFAULT_MAX_LINE,
        max_env_lines: int = DEFAULT_MAX_ENV_LINES,
        linger_s: float = 5.0,
        exec_timeout_s: float = DEFAULT_EXEC_TIMEOUT_S,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_usage_lines: int = DEFAULT_MAX_USAGE_LINES,
        max_usage_bytes: int = DEFAULT_MAX_USAGE_BYTES,
        log_limiter: LogLimiter | None = None,
    ) -> None:
        self.routes = dict(routes)
        self.host = host
        self.port = port
        self.idle_timeout_s = idle_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self.max_line = max_line
        self.max_env_lines = max_env_lines
        self.linger_s = linger_s
        self.exec_timeout_s = exec_timeout_s
        self.max_connections = max_connections
        self.max_usage_lines = max_usage_lines
        self.max_usage_bytes = max_usage_bytes
        self.noise = log_limiter or LogLimiter()
        self.stats = AgiStats()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def bound_port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise AgiError("the FastAGI server is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port, limit=self.max_line + 2)
        log.info("FastAGI listening on %s:%d (routes: %s)", self.host, self.bound_port, ", ".join(sorted(self.routes)))

    async def stop(self) -> None:
        """Stop listening, cancel every live connection and wait until each has closed."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # the server owns each connection, so stop() can cancel and await it
        try:
            if self.stats.active >= self.max_connections:
                self.stats.refused += 1
                self._noisy(
                    logging.WARNING, "FastAGI from %s refused: %d connections open (ivr.agi_max_connections)",
                    writer.get_extra_info("peername"), self.stats.active,
                )
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
                return
            await self._serve(reader, writer)
        finally:
            self._tasks.discard(task)

    def _noisy(self, level: int, msg: str, *args: object) -> None:
        """Log one line about a junk or refused session, rate-limited (see :class:`LogLimiter`)."""
        ok, left_out = self.noise.allow()
        if not ok:
            return
        if left_out:
            msg += " (%d similar line(s) left out)"
            args = (*args, left_out)
        log.log(level, msg, *args)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        conn = AgiConnection(
            max_line=self.max_line,
            max_env_lines=self.max_env_lines,
            max_usage_lines=self.max_usage_lines,
            max_usage_bytes=self.max_usage_bytes,
        )
        self.stats.connections += 1
        self.stats.active += 1
        script = "?"
        try:
            async with asyncio.timeout(self.idle_timeout_s):
                env = await read_environment(conn, reader)
            script = env.script
            route = self.routes.get(script)
            if route is None:
                self.stats.unknown_routes += 1
                self._noisy(logging.WARNING, "FastAGI from %s asked for unknown route %r; closing", peer, script[:80])
                return
            self.stats.by_route[script] = self.stats.by_route.get(script, 0) + 1
            channel = AgiChannel(conn, env, reader, writer, self.reply_timeout_s, self.exec_timeout_s)
            log.info("FastAGI %s for %s (%s)", script, env.get("agi_channel"), env.get("agi_uniqueid"))
            try:
                await route(channel)
            except AgiHangup as exc:
                log.info("FastAGI %s: channel gone (%s)", script, exc)
            except AgiProtocolError:
                raise
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                # the peer reset or closed the socket mid-route: Asterisk's business, not a bug of ours
                self.stats.peer_resets += 1
                log.info("FastAGI %s: connection lost mid-route (%s)", script, type(exc).__name__)
                return
            except TimeoutError:
                self.stats.timeouts += 1
                log.warning("FastAGI %s for %s: no reply from Asterisk in time; closing", script, env.get("agi_channel"))
                return
            except AgiError as exc:
                self.stats.route_errors += 1
                log.warning("FastAGI %s failed: %s", script, exc)
            except Exception:  # a bug in one route must not take the server or other calls down
                self.stats.route_errors += 1
                log.exception("FastAGI route %s raised", script)
            if channel.hangup_sent and not conn.hung_up:
                with contextlib.suppress(AgiError, TimeoutError, ConnectionError):
                    async with asyncio.timeout(self.linger_s):
                        await wait_for_hangup_line(conn, reader)
        except AgiProtocolError as exc:
            self.stats.protocol_errors += 1
            self._noisy(logging.WARNING, "FastAGI from %s (%s): protocol error, closing: %s", peer, script, exc)
        except TimeoutError:
            self.stats.timeouts += 1
            self._noisy(logging.WARNING, "FastAGI from %s (%s): idle timeout, closing", peer, script)
        except AgiHangup as exc:
            log.info("FastAGI from %s (%s): %s", peer, script, exc)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("FastAGI from %s (%s): connection lost: %s", peer, script, exc)
        finally:
            self.stats.active -= 1
            conn.close()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
