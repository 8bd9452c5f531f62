"""The stand-in's media side: real RTP on externalMedia legs while they share a bridge with a caller,
and ARI playbacks, which mute that stream while they play (as the records show).
"""

from __future__ import annotations

import asyncio
import logging

from ari_app.standin.events import StandinEvents
from ari_app.standin.model import (
    SBridge,
    SChannel,
    SPlayback,
)
from ari_app.standin.rtp import RtpLeg

log = logging.getLogger("ari_app.standin")


class StandinMedia(StandinEvents):
    """The media side: RTP on externalMedia legs and ARI playbacks (which mute that RTP)."""

    def _refresh_media(self, b: SBridge) -> None:
        """Send RTP on every externalMedia leg in ``b`` that shares it with a caller; mute it while a
        playback runs on that caller (as the records show)."""
        members = [self.channels[c] for c in b.channels if c in self.channels]
        for ch in members:
            if ch.kind != "unicast" or ch.leg is None:
                continue
            # a caller who sends no RTP gets nothing forwarded: the simple bridge passes on only the
            # frames it receives
            parties = [o for o in members if o is not ch and o.kind != "unicast" and not o.vanished]
            if parties and ch.send_task is None:
                ch.send_task = self._spawn(ch.leg.send_loop(), f"rtp:{ch.id}")
            elif not parties:
                self._stop_media(ch)
            playing = any(
                p.state in ("queued", "playing") and p.target in {f"channel:{o.id}" for o in parties}
                for p in self.playbacks.values()
            )
            ch.leg.muted = playing

    def _stop_media(self, ch: SChannel) -> None:
        if ch.send_task is not None:
            ch.send_task.cancel()
            ch.send_task = None

    def _finish_playback(self, pb: SPlayback, state: str) -> None:
        if pb.state in ("done", "failed", "canceled"):
            return
        pb.state = state
        target = self.channels.get(pb.target.split(":", 1)[1]) or self.ended_channels.get(
            pb.target.split(":", 1)[1]
        )
        if target is not None:
            self._emit(target.subscribed, "PlaybackFinished", {"playback": self.playback_json(pb)})
        self.playbacks.pop(pb.id, None)
        task = pb.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if target is not None and target.bridge in self.bridges:
            self._refresh_media(self.bridges[target.bridge])

    def _media_duration(self, media: str) -> float:
        total = 0.0
        for item in media.split(","):
            scheme, _, name = item.partition(":")
            if scheme in ("digits", "number", "characters"):
                total += 0.5 * max(1, len(name))
            else:
                total += self.sound_durations.get(name, self.default_sound_s)
        return total

    async def _run_playback(self, pb: SPlayback, duration: float) -> None:
        await asyncio.sleep(0.001)
        target = self.channels.get(pb.target.split(":", 1)[1])
        if target is None or pb.state != "queued":
            return
        pb.state = "playing"
        self._emit(target.subscribed, "PlaybackStarted", {"playback": self.playback_json(pb)})
        if target.bridge in self.bridges:
            self._refresh_media(self.bridges[target.bridge])
        await asyncio.sleep(duration)
        self._finish_playback(pb, "done")

    def leg(self, channel_id: str) -> RtpLeg | None:
        ch = self.channels.get(channel_id) or self.ended_channels.get(channel_id)
        return ch.leg if ch is not None else None
