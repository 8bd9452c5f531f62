"""A browser call's audio as the conversation expects it: 20 ms PCM16 frames at 8 kHz in and out.

The conversation was built against the RTP endpoint (``ari_app.session.MediaPort``); this class
offers the same shape over an aiortc peer connection, so the speech loop, IVR, barge-in and
recording run unchanged. It is driven by the same :class:`~ari_app.media.clock.MediaClock` as the
RTP calls: each tick hands exactly one 20 ms frame (agent audio or silence) to the outgoing track,
so pacing, barge-in within one frame and the recording timeline behave as on a phone call, and
releases at most one received frame to the reader (two when a burst has piled up).

Browser audio arrives decoded by aiortc (Opus at 48 kHz stereo, or G.711 at 8 kHz) and goes
through the project's own streaming resampler; agent audio is resampled up to the rate of the
negotiated codec so aiortc's encoder has nothing left to convert.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ari_app.media.clock import MediaClock
from ari_app.media.endpoint import Utterance, UtteranceQueue
from ari_app.media.errors import EndpointClosed
from ari_app.media.g711 import ulaw_decode, ulaw_encode
from ari_app.media.mailbox import FrameMailbox
from ari_app.media.recorder import CallRecorder
from ari_app.media.resample import StreamResampler

log = logging.getLogger("ari_app.webrtc.media")

RATE = 8000
FRAME = 160  # samples in 20 ms at 8 kHz
FRAME_BYTES = FRAME * 2
Int16Array = npt.NDArray[np.int16]
SILENCE: Int16Array = np.zeros(FRAME, dtype=np.int16)
VOICE_LEVEL = 500  # peak above which a caller frame counts as activity (idle timeout)


class OutgoingTrack(MediaStreamTrack):
    """The agent's voice towards the browser: one frame per clock tick, nothing queued for long."""

    kind = "audio"

    def __init__(self, depth: int = 3) -> None:
        super().__init__()
        self._frames: asyncio.Queue[av.AudioFrame] = asyncio.Queue()
        self._depth = depth
        self.dropped = 0

    def put(self, frame: av.AudioFrame) -> None:
        # a sender that fell behind gets the newest audio, not an ever-growing delay
        while self._frames.qsize() >= self._depth:
            self._frames.get_nowait()
            self.dropped += 1
        self._frames.put_nowait(frame)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        return await self._frames.get()


def to_mono(frame: av.AudioFrame) -> Int16Array:
    """Mono int16 samples of a decoded frame (the first channel of interleaved stereo)."""
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.name != "s16":
        raise ValueError(f"expected s16 audio from the decoder, got {frame.format.name}")
    flat = arr.reshape(-1)
    if channels > 1 and not frame.format.is_planar:
        flat = flat.reshape(-1, channels)[:, 0]
    elif channels > 1:
        flat = arr[0]
    out: Int16Array = np.ascontiguousarray(flat, dtype=np.int16)
    return out


class WebRtcMedia:
    """``MediaPort`` + ``attach_recorder`` for one browser call (single reader)."""

    def __init__(
        self,
        clock: MediaClock | None = None,
        *,
        out_rate: int = 48000,
        read_queue_frames: int = 50,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self.track = OutgoingTrack()
        self._out_rate = out_rate
        self._out_resampler = StreamResampler(RATE, out_rate, "MQ")
        self._out_pts = 0
        self._in_resamplers: dict[int, StreamResampler] = {}
        self._in_pending: Int16Array = np.zeros(0, dtype=np.int16)
        self._inbox: collections.deque[Int16Array] = collections.deque(maxlen=100)
        self._readq: FrameMailbox[Int16Array] = FrameMailbox(read_queue_frames, "WebRTC media closed")
        self._queue = UtteranceQueue()
        self._recorder: CallRecorder | None = None
        self._rec_resamplers: tuple[StreamResampler, StreamResampler] | None = None
        self._started = False
        self._closed = False
        self._last_out: Int16Array = SILENCE
        self.last_activity = monotonic()
        self.on_first_voiced: list[Callable[[float], None]] = []  # bench hook: talk-spurt start times
        self._was_voiced = False
        self.frames_in = 0
        self.frames_out = 0
        self.voiced_out = 0
        self.inbox_overflow = 0

    # ---- lifecycle -------------------------------------------------------------------------------

    def set_out_rate(self, rate: int) -> None:
        """The negotiated codec's rate (48000 for Opus, 8000 for G.711); call before :meth:`start`."""
        if rate != self._out_rate:
            self._out_rate = rate
            self._out_resampler = StreamResampler(RATE, rate, "MQ")

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self._clock is None:
            self._clock = MediaClock.shared()
        self._clock.attach(self)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._readq.close()  # the reader gets what is left, then EndpointClosed
        if self._clock is not None and self._started:
            await self._clock.detach(self)
        self._queue.cancel_all()
        self.track.stop()
        if self._recorder is not None:
            self._recorder.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- from the browser --------------------------------------------------------------------------

    def push_decoded(self, frame: av.AudioFrame) -> None:
        """One frame from aiortc's decoder: to mono, to 8 kHz, cut into 20 ms frames."""
        if self._closed:
            return
        rate = int(frame.sample_rate)
        resampler = self._in_resamplers.get(rate)
        if resampler is None:
            resampler = self._in_resamplers[rate] = StreamResampler(rate, RATE, "MQ")
        pcm = resampler.process(to_mono(frame))
        buf = np.concatenate([self._in_pending, pcm]) if self._in_pending.size else pcm
        whole = len(buf) // FRAME * FRAME
        for chunk in buf[:whole].reshape(-1, FRAME):
            if len(self._inbox) == self._inbox.maxlen:
                self.inbox_overflow += 1
            self._inbox.append(chunk.copy())
            self.frames_in += 1
            if int(np.max(np.abs(chunk.astype(np.int32)))) > VOICE_LEVEL:
                self.last_activity = self._monotonic()
        self._in_pending = buf[whole:].copy()

    async def pump(self, track: MediaStreamTrack) -> None:
        """Read the browser's track until it ends (hang-up, ICE failure): then readers see the end."""
        try:
            while not self._closed:
                frame = await track.recv()
                if isinstance(frame, av.AudioFrame):
                    self.push_decoded(frame)
        except MediaStreamError:
            log.info("browser audio track ended")

    def note_activity(self) -> None:
        """A key press or message counts as the caller being there."""
        self.last_activity = self._monotonic()

    def on_tick_receive(self, tick: int) -> None:
        released: Int16Array | None = None
        for _ in range(2 if len(self._inbox) > 5 else 1):
            if not self._inbox:
                break
            released = self._inbox.popleft()
            self._readq.put(released)
        if self._recorder is not None and not self._recorder.closed:
            caller = released if released is not None else SILENCE
            agent = self._last_out
            if self._rec_resamplers is not None:
                caller = self._rec_resamplers[0].process(caller)
                agent = self._rec_resamplers[1].process(agent)
            self._recorder.write(caller, agent)

    async def read_frame(self) -> Int16Array:
        """Next 20 ms of the caller (8 kHz PCM16); raises :class:`EndpointClosed` once the call ends."""
        return await self._readq.get()

    async def read_payload(self) -> bytes:
        """The next caller frame as μ-law (what the Realtime bridge sends on)."""
        return ulaw_encode(await self.read_frame())

    # ---- to the browser ----------------------------------------------------------------------------

    def play(self, pcm: npt.ArrayLike) -> Utterance:
        arr = np.asarray(pcm)
        if np.issubdtype(arr.dtype, np.floating):
            raise TypeError("PCM16 integer samples expected")
        return self._enqueue(np.clip(arr, -32768, 32767).astype("<i2").tobytes())

    def play_ulaw(self, payload: bytes) -> Utterance:
        return self._enqueue(ulaw_decode(bytes(payload)).astype("<i2").tobytes())

    def _enqueue(self, data: bytes) -> Utterance:
        if self._closed:
            raise EndpointClosed("WebRTC media closed")
        return self._queue.add(Utterance(data, FRAME_BYTES, 0))

    def flush(self) -> int:
        return self._queue.flush()

    @property
    def is_playing(self) -> bool:
        return self._queue.is_playing

    def _next_out(self) -> tuple[Int16Array, bool]:
        frame = self._queue.next_frame()
        if frame is None:
            return SILENCE, False
        return np.frombuffer(frame, dtype="<i2").astype(np.int16), True

    def on_tick_send(self, tick: int, deadline: float) -> None:
        pcm, voiced = self._next_out()
        self._last_out = pcm
        if voiced and not self._was_voiced:
            now = self._monotonic()
            for hook in self.on_first_voiced:
                hook(now)
        self._was_voiced = voiced
        self.frames_out += 1
        self.voiced_out += int(voiced)
        out = self._out_resampler.process(pcm) if self._out_rate != RATE else pcm
        if out.size == 0:
            return  # the resampler's filter is still filling (first frame only)
        frame = av.AudioFrame.from_ndarray(out.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self._out_rate
        frame.pts = self._out_pts
        frame.time_base = fractions.Fraction(1, self._out_rate)
        self._out_pts += out.size
        self.track.put(frame)

    # ---- recording ---------------------------------------------------------------------------------

    def attach_recorder(self, recorder: CallRecorder) -> None:
        if self._closed:
            recorder.close()
            raise EndpointClosed("WebRTC media closed")
        if self._recorder is not None:
            raise RuntimeError(f"already recording to {self._recorder.path}")
        self._recorder = recorder
        if recorder.sample_rate != RATE:
            self._rec_resamplers = (
                StreamResampler(RATE, recorder.sample_rate, "MQ"),
                StreamResampler(RATE, recorder.sample_rate, "MQ"),
            )

    def describe(self) -> dict[str, Any]:
        return {"frames_in": self.frames_in, "frames_out": self.frames_out, "voiced_out": self.voiced_out,
                "dropped_out": self.track.dropped, "inbox_overflow": self.inbox_overflow}
