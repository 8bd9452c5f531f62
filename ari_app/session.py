"""The contract between call control (ARI, AGI) and what talks to the caller.

A conversation (IVR engine, speech loop, brain) sees a call only through :class:`CallSession`: audio
in and out, digits, a few call-control verbs, and the store. The ARI ``Call`` implements it for real
calls; tests implement it over loopback RTP or in memory. Keeping it this small is what lets the
same IVR engine and brains run under the ARI app, the FastAGI server and the test harness.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ari_app.settings import Settings
    from models.store import CallStore


@dataclass(frozen=True)
class CallInfo:
    session_id: str  # correlation id in logs and voice_calls.session_id
    call_row_id: int  # voice_calls.id
    channel_id: str
    caller_number: str = ""
    caller_name: str = ""
    called_number: str = ""  # the DID, from Stasis args or dialplan exten
    language: str = "en"
    asterisk_server: str = "pbx1"
    direction: str = "inbound"
    stasis_args: tuple[str, ...] = field(default_factory=tuple)
    adopted: bool = False  # taken over after a restart or outage: the caller was greeted already
    # caller screening (ari_app.screening): "answer", "menu_only" or "reject", and the end reason
    # to store when it is not "answer" ("blocked", "rate_limited", "anonymous_…")
    screening: str = "answer"
    screening_reason: str = ""


@runtime_checkable
class Utterance(Protocol):
    """One queued piece of agent audio; await ``wait()`` for it to finish playing or be cancelled."""

    async def wait(self) -> None: ...

    def cancel(self) -> None: ...

    @property
    def frames_sent(self) -> int: ...


@runtime_checkable
class MediaPort(Protocol):
    """The call's audio, as the media plane's ``RtpEndpoint`` offers it (PCM16 at 8 kHz)."""

    async def read_frame(self) -> npt.NDArray[np.int16]: ...

    def play(self, pcm: npt.NDArray[np.int16]) -> Utterance: ...

    def play_ulaw(self, payload: bytes) -> Utterance: ...

    def flush(self) -> int: ...

    @property
    def is_playing(self) -> bool: ...


class CallControl(Protocol):
    """Call-control verbs a conversation may use; each raises ``CallGone`` if the caller left."""

    async def transfer(self, extension: str, context: str | None = None) -> None: ...

    async def start_hold_music(self, moh_class: str = "default") -> None: ...

    async def stop_hold_music(self) -> None: ...

    async def play_sound(self, media: str) -> None: ...

    async def hangup(self, cause: str = "normal") -> None: ...

    async def set_variable(self, name: str, value: str) -> None: ...


class CallGone(Exception):
    """The caller hung up (or the channel vanished) while a conversation was still acting on it."""


class CallSession(Protocol):
    info: CallInfo
    media: MediaPort
    control: CallControl
    store: CallStore
    settings: Settings
    dtmf: asyncio.Queue[str]  # one item per ChannelDtmfReceived digit, in order
