"""Pure receive-side jitter buffer and RFC 3550 interarrival jitter estimator.

No clock and no I/O: the endpoint pushes packets as they arrive and pops one frame per 20 ms tick, so
every decision (reorder, late, duplicate, loss, concealment) can be tested packet by packet.

Policy, chosen for a voice bot listening to Asterisk on the same host or LAN:

* Playout starts once ``depth_frames`` frames are buffered (prefetch), trading that much latency for
  tolerance to reordering and arrival jitter.
* A missing frame with later frames already buffered is *lost*: the last good frame is repeated once
  (smooths a single loss), then silence is played.
* An empty buffer is an *underrun*: nothing is released (``None``) and playout re-buffers without
  skipping ahead, so a stall of the sender loses no audio (it only adds delay). Readers therefore get
  exactly one frame per sequence number: received audio, or concealment where a packet was lost.
* A packet behind the playout point is *late* (or a *duplicate* if that sequence number was already
  received); both are dropped.
* The buffer never holds more than ``max_frames``: a packet that far ahead (a stalled reader, or a new
  stream after a sequence jump or SSRC change) resynchronises playout on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ari_app.media.rtp import RtpPacket, seq_diff, ts_diff


@dataclass(slots=True)
class JitterStats:
    """Counters since creation; ``jitter`` is RFC 3550 interarrival jitter in timestamp units."""

    received: int = 0
    played: int = 0
    lost: int = 0
    late: int = 0
    duplicates: int = 0
    concealed: int = 0
    underruns: int = 0
    resyncs: int = 0
    overflow_dropped: int = 0
    max_fill: int = 0
    jitter: float = 0.0


class JitterEstimator:
    """RFC 3550 section 6.4.1 / A.8 running interarrival jitter, in RTP timestamp units."""

    __slots__ = ("_clock_rate", "_last_arrival", "_last_ts", "jitter")

    def __init__(self, clock_rate: int) -> None:
        self._clock_rate = clock_rate
        self._last_arrival: float | None = None
        self._last_ts = 0
        self.jitter = 0.0

    def update(self, arrival_s: float, rtp_timestamp: int) -> float:
        """Feed one packet (arrival on any monotonic clock, in seconds); returns the updated estimate."""
        # transit = arrival in timestamp units minus RTP timestamp; only differences matter, so the
        # 32-bit wrap of the timestamp is handled by taking the difference modulo 2**32.
        arrival_units = arrival_s * self._clock_rate
        if self._last_arrival is not None:
            d = (arrival_units - self._last_arrival) - ts_diff(rtp_timestamp, self._last_ts)
            self.jitter += (abs(d) - self.jitter) / 16.0
        self._last_arrival = arrival_units
        self._last_ts = rtp_timestamp
        return self.jitter

    def reset(self) -> None:
        """Forget the previous packet (new stream after an SSRC change)."""
        self._last_arrival = None


class JitterBuffer:
    """Reorders RTP payloads by sequence number and releases one frame per tick."""

    def __init__(
        self,
        depth_frames: int = 3,
        max_frames: int = 50,
        *,
        silence: bytes = b"\xff" * 160,
        clock_rate: int = 8000,
    ) -> None:
        if depth_frames < 1:
            raise ValueError("depth_frames must be at least 1")
        if max_frames < depth_frames:
            raise ValueError("max_frames must be >= depth_frames")
        self.depth_frames = depth_frames
        self.max_frames = max_frames
        self.silence = silence
        self.stats = JitterStats()
        self._estimator = JitterEstimator(clock_rate)
        self._clock_rate = clock_rate
        self._frames: dict[int, bytes] = {}
        self._next: int | None = None  # sequence number of the next frame to play
        self._ssrc: int | None = None
        self._primed = False
        self._started = False
        self._last_played: bytes | None = None
        self._repeats = 0
        # bit k set: sequence (next - 1 - k) was received; separates duplicates from late packets
        self._history = 0

    @property
    def fill(self) -> int:
        """Frames currently buffered."""
        return len(self._frames)

    @property
    def jitter_ms(self) -> float:
        """Interarrival jitter in milliseconds."""
        return self.stats.jitter * 1000.0 / self._clock_rate

    def _resync(self, seq: int) -> None:
        self.stats.overflow_dropped += len(self._frames)
        self._frames.clear()
        self._next = seq
        self._primed = False
        self._started = False
        self._history = 0

    def push(self, pkt: RtpPacket, now: float | None = None) -> None:
        """Offer one received packet; ``now`` (seconds, monotonic) feeds the jitter estimate."""
        st = self.stats
        st.received += 1
        seq = pkt.sequence
        if self._ssrc != pkt.ssrc:
            if self._ssrc is not None:
                st.resyncs += 1
                self._estimator.reset()
            self._ssrc = pkt.ssrc
            self._resync(seq)
        if now is not None:
            st.jitter = self._estimator.update(now, pkt.timestamp)
        assert self._next is not None
        d = seq_diff(seq, self._next)
        if d < 0 and not self._started and len(self._frames) - d <= self.max_frames:
            # reordered before playout began: move the start back instead of calling it late
            self._next = seq
            d = 0
        if d < 0:
            if -d <= 64 and self._history >> (-d - 1) & 1:
                st.duplicates += 1
            else:
                st.late += 1
            return
        if d >= self.max_frames:
            st.resyncs += 1
            self._resync(seq)
        if seq in self._frames:
            st.duplicates += 1
            return
        self._frames[seq] = pkt.payload
        if len(self._frames) > st.max_fill:
            st.max_fill = len(self._frames)

    def _conceal(self) -> bytes:
        self.stats.concealed += 1
        if self._last_played is not None and self._repeats == 0:
            self._repeats += 1
            return self._last_played
        return self.silence

    def pop(self) -> bytes | None:
        """One frame for this tick: audio, concealment of a lost packet, or ``None`` while (re)buffering."""
        if self._next is None:
            return None
        if not self._primed:
            if len(self._frames) < self.depth_frames:
                return None
            self._primed = True
        frame = self._frames.pop(self._next, None)
        if frame is not None:
            self._advance(received=True)
            self.stats.played += 1
            self._last_played = frame
            self._repeats = 0
            return frame
        if self._frames:
            self.stats.lost += 1
            self._advance(received=False)
            return self._conceal()
        self.stats.underruns += 1
        self._primed = False
        return None

    def _advance(self, received: bool) -> None:
        assert self._next is not None
        self._started = True
        self._next = (self._next + 1) & 0xFFFF
        self._history = ((self._history << 1) | int(received)) & ((1 << 64) - 1)
