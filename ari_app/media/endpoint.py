"""UDP RTP endpoint of one call: port allocation, symmetric RTP, jitter buffer, paced playout, barge-in.

The socket side is thin: every datagram goes through the pure :func:`parse_rtp` and
:class:`JitterBuffer`; malformed, foreign or unexpected packets are counted and dropped, never raised.
Timing comes from a :class:`MediaClock` (shared by all calls of the process unless one is injected):
each tick sends exactly one frame (agent audio, or silence when idle so Asterisk's stream never stops)
and releases at most one received frame to the reader.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import ipaddress
import logging
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ari_app.media.clock import MediaClock
from ari_app.media.dtmf import TelephoneEvent, parse_telephone_event
from ari_app.media.errors import DtmfParseError, EndpointClosed, MediaError, PortsExhausted, RtpParseError
from ari_app.media.g711 import ULAW_SILENCE, ulaw_decode, ulaw_encode
from ari_app.media.jitter import JitterBuffer
from ari_app.media.mailbox import FrameMailbox
from ari_app.media.recorder import CallRecorder
from ari_app.media.resample import StreamResampler
from ari_app.media.rtp import build_rtp_header, parse_rtp

log = logging.getLogger(__name__)

Codec = Literal["ulaw", "slin16"]
SourceCheck = Literal["address", "host", "any"]
FOREIGN_LOG_INTERVAL_S = 10.0
Int16Array = npt.NDArray[np.int16]
Address = tuple[str, int]

PT_PCMU = 0
PT_CN = 13
PT_SLIN16_DEFAULT = 118  # Asterisk's dynamic payload type for slin16


@dataclass(frozen=True, slots=True)
class _CodecInfo:
    rate: int
    frame_bytes: int
    payload_type: int
    silence: bytes


_CODECS: dict[str, _CodecInfo] = {
    "ulaw": _CodecInfo(8000, 160, PT_PCMU, bytes([ULAW_SILENCE]) * 160),
    "slin16": _CodecInfo(16000, 640, PT_SLIN16_DEFAULT, bytes(640)),
}


def _host_key(host: str) -> str:
    """One spelling per address: ``::ffff:127.0.0.1`` (a dual-stack socket) is ``127.0.0.1``."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host.lower()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _host_keys(host: str) -> frozenset[str]:
    """The addresses a hinted host stands for. Asterisk gives an IP; a name (the ARI host used when
    Asterisk reported 0.0.0.0) is resolved once, here, through the hosts file or DNS."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return frozenset({_host_key(host)})
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError:
        return frozenset({host.lower()})
    return frozenset({_host_key(str(info[4][0])) for info in infos})


class PortAllocator:
    """Hands out UDP ports of a configured range; freed ports go to the back of the queue.

    First-in-first-out reuse keeps a just-freed port idle as long as possible, so stray packets of the
    previous call are unlikely to reach the next one (and symmetric RTP drops them if they do).
    """

    def __init__(self, host: str, port_min: int, port_max: int) -> None:
        if not 0 < port_min <= port_max <= 65535:
            raise ValueError(f"bad RTP port range {port_min}-{port_max}")
        self.host = host
        self.port_min = port_min
        self.port_max = port_max
        self._free: collections.deque[int] = collections.deque(range(port_min, port_max + 1))
        self._used: set[int] = set()

    @property
    def size(self) -> int:
        return self.port_max - self.port_min + 1

    @property
    def in_use(self) -> int:
        return len(self._used)

    def allocate(self) -> int:
        """Take a free port; raises :class:`PortsExhausted` when none is left."""
        if not self._free:
            raise PortsExhausted(self.host, self.port_min, self.port_max)
        port = self._free.popleft()
        self._used.add(port)
        return port

    def release(self, port: int) -> None:
        """Give a port back; releasing a port that is not in use is a no-op (close is idempotent)."""
        if port in self._used:
            self._used.remove(port)
            self._free.append(port)


class UtteranceState(enum.Enum):
    QUEUED = "queued"
    PLAYING = "playing"
    DONE = "done"
    CANCELLED = "cancelled"


class Utterance:
    """A queued piece of agent audio (already in the wire codec), awaitable until played or cancelled."""

    def __init__(self, payload: bytes, frame_bytes: int, fill: int) -> None:
        self._data = payload
        self._frame_bytes = frame_bytes
        self._fill = fill
        self._offset = 0
        self.frames_total = -(-len(payload) // frame_bytes)
        self.frames_sent = 0
        self.state = UtteranceState.QUEUED
        self._done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    @property
    def done(self) -> bool:
        return self.state in (UtteranceState.DONE, UtteranceState.CANCELLED)

    def cancel(self) -> bool:
        """Stop this utterance; at the next tick the endpoint plays the following one or silence."""
        if self.done:
            return False
        self._finish(UtteranceState.CANCELLED)
        return True

    async def wait(self) -> bool:
        """True once played to the end, False if cancelled (by :meth:`cancel`, flush or close)."""
        return await asyncio.shield(self._done)

    @property
    def frames_left(self) -> int:
        return self.frames_total - self.frames_sent

    def _take(self) -> bytes:
        self.state = UtteranceState.PLAYING
        end = self._offset + self._frame_bytes
        frame = self._data[self._offset : end]
        self._offset = end
        self.frames_sent += 1
        if len(frame) < self._frame_bytes:
            frame += bytes([self._fill]) * (self._frame_bytes - len(frame))
        return frame

    def _finish(self, state: UtteranceState) -> None:
        self.state = state
        if not self._done.done():
            self._done.set_result(state is UtteranceState.DONE)


class UtteranceQueue:
    """Agent audio waiting to go out, one frame taken per clock tick.

    Frames leave the queue only at the tick that sends them, so after :meth:`flush` no further agent
    frame is sent: barge-in stops the voice within one frame on every kind of call media.
    """

    def __init__(self) -> None:
        self._queue: collections.deque[Utterance] = collections.deque()

    def add(self, utt: Utterance) -> Utterance:
        if utt.frames_total == 0:
            utt._finish(UtteranceState.DONE)
        else:
            self._queue.append(utt)
        return utt

    def flush(self) -> int:
        """Cancel everything queued; returns the frames that will not be sent."""
        dropped = 0
        for utt in self._queue:
            if not utt.done:
                dropped += utt.frames_left
                utt._finish(UtteranceState.CANCELLED)
        self._queue.clear()
        return dropped

    def cancel_all(self) -> None:
        """The media is closing: every waiter learns its audio was not played."""
        for utt in self._queue:
            utt._finish(UtteranceState.CANCELLED)
        self._queue.clear()

    @property
    def is_playing(self) -> bool:
        return any(not u.done for u in self._queue)

    @property
    def queued_frames(self) -> int:
        return sum(u.frames_left for u in self._queue if not u.done)

    def next_frame(self) -> bytes | None:
        """This tick's agent frame, or ``None`` when nothing is left to say."""
        q = self._queue
        while q:
            utt = q[0]
            if utt.done:
                q.popleft()
                continue
            frame = utt._take()
            if utt.frames_left == 0:
                q.popleft()
                utt._finish(UtteranceState.DONE)
            return frame
        return None


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """Snapshot of one endpoint's counters; ``jitter_ms`` is the RFC 3550 interarrival jitter."""

    datagrams_in: int
    packets_in: int
    bytes_in: int
    packets_out: int
    bytes_out: int
    bad_packets: int
    foreign_packets: int
    non_audio_packets: int
    wrong_size_packets: int
    send_errors: int
    lost: int
    late: int
    duplicates: int
    concealed: int
    underruns: int
    resyncs: int
    jitter_ms: float
    reader_overflow: int
    dtmf_events: int


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, ep: RtpEndpoint) -> None:
        self._ep = ep
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        # the socket is really closed only now; the port may be handed out again after this
        if not self.lost.done():
            self.lost.set_result(None)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._ep._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the peer is gone or not there yet; counted, not fatal.
        self._ep._send_errors += 1


class RtpEndpoint:
    """One call's RTP leg to Asterisk's externalMedia channel.

    Owns a UDP socket from ``allocator`` and subscribes to ``clock`` (the shared process ticker by
    default). Takes ownership of ``recorder`` and closes it on :meth:`close`. Single reader: one task
    at a time may await :meth:`read_frame` / iterate :meth:`payloads`.
    """

    def __init__(
        self,
        allocator: PortAllocator,
        codec: Codec = "ulaw",
        recorder: CallRecorder | None = None,
        clock: MediaClock | None = None,
        *,
        jitter_depth: int = 3,
        jitter_max: int = 50,
        read_queue_frames: int = 50,
        payload_type: int | None = None,
        dtmf_payload_type: int = 101,
        rng: random.Random | None = None,
        source_check: SourceCheck = "address",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if codec not in _CODECS:
            raise ValueError(f"unsupported codec {codec!r}; use 'ulaw' or 'slin16'")
        if source_check not in ("address", "host", "any"):
            raise ValueError(f"unsupported source_check {source_check!r}; use 'address', 'host' or 'any'")
        info = _CODECS[codec]
        self.source_check: SourceCheck = source_check
        self._monotonic = monotonic
        self._expected: Address | None = None  # where Asterisk said it sends from (set_remote)
        self._expected_hosts: frozenset[str] = frozenset()
        # the source last found to be Asterisk's: its packets skip the address parsing (hot path)
        self._checked_source: Address | None = None
        self._foreign_logged_at: float | None = None
        self._foreign_since_log = 0
        self.codec: Codec = codec
        self.sample_rate = info.rate
        self.frame_bytes = info.frame_bytes
        self.payload_type = info.payload_type if payload_type is None else payload_type
        self.dtmf_payload_type = dtmf_payload_type
        self._silence = info.silence
        self._fill = info.silence[0]
        self._allocator = allocator
        self._clock = clock
        self._recorder: CallRecorder | None = None
        self._rec_resamplers: tuple[StreamResampler, StreamResampler] | None = None
        if recorder is not None:
            self._set_recorder(recorder)
        self._jb = JitterBuffer(jitter_depth, jitter_max, silence=self._silence, clock_rate=info.rate)
        # A caller frame is popped (and recorded) jitter_depth - 1 ticks after it arrived; delaying the
        # agent side as much keeps both channels of the recording on one timeline.
        self._rec_agent_delay: collections.deque[bytes] = collections.deque(
            [self._silence] * (jitter_depth - 1)
        )
        rng = rng or random.SystemRandom()
        self.ssrc = rng.getrandbits(32)
        self._seq = rng.getrandbits(16)
        self._ts_base = rng.getrandbits(32)
        self._first_tick: int | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _Protocol | None = None
        self._port: int | None = None
        self._remote: Address | None = None
        self._remote_locked = False
        self._queue = UtteranceQueue()
        self._was_voiced = False
        self._last_sent: bytes | None = None
        self._readq: FrameMailbox[bytes] = FrameMailbox(read_queue_frames, "RTP endpoint closed")
        self._dtmf: collections.deque[TelephoneEvent] = collections.deque(maxlen=64)
        self._started = False
        self._closed = False
        # counters
        self._datagrams_in = 0
        self._packets_in = 0
        self._bytes_in = 0
        self._packets_out = 0
        self._bytes_out = 0
        self._bad = 0
        self._foreign = 0
        self._non_audio = 0
        self._wrong_size = 0
        self._send_errors = 0
        self._dtmf_count = 0
        self.bad_reasons: collections.Counter[str] = collections.Counter()

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind a UDP port from the range and start pacing; raises :class:`PortsExhausted`."""
        if self._started:
            raise MediaError("RtpEndpoint.start() called twice")
        loop = asyncio.get_running_loop()
        host = self._allocator.host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock: socket.socket | None = None
        for _ in range(self._allocator.size):
            port = self._allocator.allocate()
            candidate = socket.socket(family, socket.SOCK_DGRAM)
            try:
                candidate.setblocking(False)
                candidate.bind((host, port))
            except OSError:
                # taken by another process: put it back (at the end) and try the next one
                candidate.close()
                self._allocator.release(port)
                continue
            sock, self._port = candidate, port
            break
        if sock is None:
            raise PortsExhausted(host, self._allocator.port_min, self._allocator.port_max)
        transport, protocol = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self._transport = transport
        self._protocol = protocol
        if self._clock is None:
            self._clock = MediaClock.shared()
        self._started = True
        self._clock.attach(self)

    async def close(self) -> None:
        """Stop sending and receiving, cancel queued audio, free the port, close the recorder."""
        if self._closed:
            return
        self._closed = True
        self._readq.close()  # the reader gets what is left, then EndpointClosed
        if self._clock is not None and self._started:
            await self._clock.detach(self)
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            if self._protocol is not None:
                await self._protocol.lost
        if self._port is not None:
            self._allocator.release(self._port)
        self._queue.cancel_all()
        if self._recorder is not None:
            self._recorder.close()

    async def __aenter__(self) -> RtpEndpoint:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def local_host(self) -> str:
        return self._allocator.host

    @property
    def local_port(self) -> int:
        if self._port is None:
            raise MediaError("endpoint not started")
        return self._port

    @property
    def remote(self) -> Address | None:
        """Where packets go: the learnt source once a packet arrived, else the :meth:`set_remote` hint."""
        return self._remote

    def set_remote(self, host: str, port: int) -> None:
        """Where Asterisk sends from and listens: ``UNICASTRTP_LOCAL_ADDRESS``/``PORT`` of the
        externalMedia channel (the records show its RTP arriving from exactly that address).

        With ``source_check="address"`` (the default) this is also the only source whose packets are
        accepted: a packet from anywhere else is dropped and counted as foreign, so a stranger spraying
        the port range can neither take the call's audio over nor receive the agent's voice (issue 18
        D3). Packets that arrive before this hint are foreign too: nothing can be trusted yet.
        ``"host"`` accepts any port of that host (a NAT between us that rewrites ports) and latches on
        the first one; ``"any"`` is plain symmetric RTP (first well-formed packet wins; tests, benches).
        """
        self._expected = (host, port)
        self._expected_hosts = _host_keys(host)
        self._checked_source = None
        if self.source_check == "address" or not self._remote_locked:
            self._remote = (host, port)

    def _accepts(self, addr: Address) -> bool:
        # Normalising the sender's address (ipaddress) costs more than the rest of the receive path,
        # so it is done once per source: once the call's source is settled (the hinted address, or
        # the latched one in "host" mode) the answer depends only on the address and the hint, and a
        # new hint forgets it.
        if addr == self._checked_source:
            return True
        if self.source_check == "any":
            return not self._remote_locked or addr == self._remote
        if self._expected is None:
            return False
        if self.source_check == "address":
            ok = addr[1] == self._expected[1] and _host_key(addr[0]) in self._expected_hosts
            if ok:
                self._checked_source = addr
            return ok
        if _host_key(addr[0]) not in self._expected_hosts:
            return False
        if not self._remote_locked:
            return True  # the first well-formed packet latches (then its address is remembered)
        ok = addr == self._remote
        if ok:
            self._checked_source = addr
        return ok

    def _note_foreign(self, addr: Address) -> None:
        self._foreign += 1
        self._foreign_since_log += 1
        now = self._monotonic()
        last = self._foreign_logged_at
        if last is not None and now - last < FOREIGN_LOG_INTERVAL_S:
            return
        expected = "no address from Asterisk yet" if self._expected is None else (
            f"Asterisk sends from {self._expected[0]}:{self._expected[1]}"
        )
        log.warning(
            "RTP port %s: dropped %d packet(s) from %s:%s, not the call's media source (%s); %d foreign in all",
            self._port, self._foreign_since_log, addr[0], addr[1], expected, self._foreign,
        )
        self._foreign_logged_at = now
        self._foreign_since_log = 0

    # ---- receive ---------------------------------------------------------------------------------

    def _on_datagram(self, data: bytes, addr: Address) -> None:
        self._datagrams_in += 1
        if self._closed:
            return
        if not self._accepts(addr):
            self._note_foreign(addr)
            return
        try:
            pkt = parse_rtp(data)
        except RtpParseError as exc:
            self._bad += 1
            self.bad_reasons[exc.reason.value] += 1
            return
        if not self._remote_locked:
            # only a well-formed packet may claim the call, so garbage cannot hijack the stream
            self._remote = (addr[0], addr[1])
            self._remote_locked = True
        self._packets_in += 1
        self._bytes_in += len(data)
        pt = pkt.payload_type
        if pt == self.dtmf_payload_type:
            try:
                self._dtmf.append(parse_telephone_event(pkt.payload))
                self._dtmf_count += 1
            except DtmfParseError:
                self._bad += 1
                self.bad_reasons["bad_dtmf"] += 1
            return
        if pt == PT_CN or (self.codec == "ulaw" and pt != PT_PCMU):
            self._non_audio += 1
            return
        if len(pkt.payload) != self.frame_bytes:
            self._wrong_size += 1
            return
        assert self._clock is not None
        self._jb.push(pkt, self._clock.time_fn())

    def on_tick_receive(self, tick: int) -> None:
        """Clock callback: release at most one frame to the reader and the recorder."""
        payload = self._jb.pop()
        if payload is not None:
            self._readq.put(payload)
        if self._recorder is not None:
            self._record(payload)

    def decode(self, payload: bytes) -> Int16Array:
        """Wire payload to PCM16 at the codec rate."""
        if self.codec == "ulaw":
            return ulaw_decode(payload)
        return np.frombuffer(payload, dtype=">i2").astype(np.int16)

    def encode(self, pcm: npt.ArrayLike) -> bytes:
        """PCM16 at the codec rate to wire payload."""
        if self.codec == "ulaw":
            return ulaw_encode(pcm)
        arr = np.asarray(pcm)
        if np.issubdtype(arr.dtype, np.floating):
            raise TypeError("PCM16 integer samples expected")
        wire: bytes = np.clip(arr, -32768, 32767).astype(">i2").tobytes()
        return wire

    async def read_frame(self) -> Int16Array:
        """Next 20 ms of caller audio (PCM16 at the codec rate) after the jitter buffer.

        Concealment frames are included, so time stays continuous; raises :class:`EndpointClosed`.
        """
        return self.decode(await self._readq.get())

    async def read_payload(self) -> bytes:
        """Like :meth:`read_frame` but the raw wire payload (μ-law bytes untouched for ``ulaw``)."""
        return await self._readq.get()

    def read_payload_nowait(self) -> bytes | None:
        """A buffered payload, or ``None`` if none is ready."""
        return self._readq.get_nowait()

    async def payloads(self) -> AsyncIterator[bytes]:
        """Raw payloads until the endpoint closes."""
        while True:
            try:
                yield await self._readq.get()
            except EndpointClosed:
                return

    def dtmf_nowait(self) -> TelephoneEvent | None:
        """An RFC 4733 event received in-band, if any (Asterisk's externalMedia leg sends none)."""
        return self._dtmf.popleft() if self._dtmf else None

    # ---- send ------------------------------------------------------------------------------------

    def play(self, pcm: npt.ArrayLike) -> Utterance:
        """Queue agent audio (PCM16 at the codec rate: 8 kHz for ``ulaw``) after what is queued."""
        return self._enqueue(self.encode(pcm))

    def play_ulaw(self, data: bytes) -> Utterance:
        """Queue μ-law bytes as they are (OpenAI Realtime output); only for the ``ulaw`` codec."""
        if self.codec != "ulaw":
            raise MediaError(f"play_ulaw on a {self.codec} endpoint; decode and resample first")
        return self._enqueue(bytes(data))

    def _enqueue(self, payload: bytes) -> Utterance:
        if self._closed:
            raise EndpointClosed("RTP endpoint closed")
        return self._queue.add(Utterance(payload, self.frame_bytes, self._fill))

    def flush(self) -> int:
        """Barge-in: cancel everything queued; returns the frames that will not be sent.

        Frames are taken from the queue only at the tick that sends them, so after this returns no
        further agent frame leaves (a frame already handed to the kernel is the only one in flight).
        """
        return self._queue.flush()

    @property
    def is_playing(self) -> bool:
        return self._queue.is_playing

    @property
    def queued_frames(self) -> int:
        return self._queue.queued_frames

    def _next_out(self) -> tuple[bytes, bool]:
        frame = self._queue.next_frame()
        return (self._silence, False) if frame is None else (frame, True)

    def on_tick_send(self, tick: int, deadline: float) -> None:
        """Clock callback: send exactly one frame (agent audio or silence) to the remote."""
        if self._first_tick is None:
            self._first_tick = tick
        remote = self._remote
        transport = self._transport
        if remote is None or transport is None:
            # nobody to talk to yet: keep queued audio for later; the RTP timestamp still advances
            self._last_sent = None
            return
        frame, voiced = self._next_out()
        self._last_sent = frame
        marker = voiced and not self._was_voiced
        self._was_voiced = voiced
        ts = (self._ts_base + (tick - self._first_tick) * self.sample_rate // 50) & 0xFFFFFFFF
        data = build_rtp_header(marker, self.payload_type, self._seq, ts, self.ssrc) + frame
        transport.sendto(data, remote)
        self._seq = (self._seq + 1) & 0xFFFF
        self._packets_out += 1
        self._bytes_out += len(data)
        clock = self._clock
        if clock is not None and clock.send_lateness is not None:
            clock.send_lateness.append(clock.time_fn() - deadline)

    # ---- recording -------------------------------------------------------------------------------

    def attach_recorder(self, recorder: CallRecorder) -> None:
        """Start recording a call that is already running; the endpoint then owns and closes it.

        Whether a call is recorded is decided by the conversation (site settings, call kind), which
        starts after the endpoint; the recorder's first frame is the next tick, on the same timeline
        as the caller and agent audio from then on.
        """
        if self._closed:
            recorder.close()
            raise EndpointClosed("RTP endpoint closed")
        if self._recorder is not None:
            raise MediaError(f"endpoint already records to {self._recorder.path}")
        self._set_recorder(recorder)

    def _set_recorder(self, recorder: CallRecorder) -> None:
        self._recorder = recorder
        if recorder.sample_rate != self.sample_rate:
            self._rec_resamplers = (
                StreamResampler(self.sample_rate, recorder.sample_rate, "MQ"),
                StreamResampler(self.sample_rate, recorder.sample_rate, "MQ"),
            )

    @property
    def recorder(self) -> CallRecorder | None:
        return self._recorder

    def _record(self, caller_payload: bytes | None) -> None:
        rec = self._recorder
        assert rec is not None
        if rec.closed:
            return
        caller = self.decode(caller_payload if caller_payload is not None else self._silence)
        self._rec_agent_delay.append(self._last_sent if self._last_sent is not None else self._silence)
        agent = self.decode(self._rec_agent_delay.popleft())
        if self._rec_resamplers is not None:
            caller = self._rec_resamplers[0].process(caller)
            agent = self._rec_resamplers[1].process(agent)
        rec.write(caller, agent)

    # ---- stats -----------------------------------------------------------------------------------

    @property
    def stats(self) -> EndpointStats:
        jb = self._jb.stats
        return EndpointStats(
            datagrams_in=self._datagrams_in,
            packets_in=self._packets_in,
            bytes_in=self._bytes_in,
            packets_out=self._packets_out,
            bytes_out=self._bytes_out,
            bad_packets=self._bad,
            foreign_packets=self._foreign,
            non_audio_packets=self._non_audio,
            wrong_size_packets=self._wrong_size,
            send_errors=self._send_errors,
            lost=jb.lost,
            late=jb.late,
            duplicates=jb.duplicates,
            concealed=jb.concealed,
            underruns=jb.underruns,
            resyncs=jb.resyncs,
            jitter_ms=self._jb.jitter_ms,
            reader_overflow=self._readq.overflow,
            dtmf_events=self._dtmf_count,
        )

    @property
    def jitter_buffer(self) -> JitterBuffer:
        return self._jb
