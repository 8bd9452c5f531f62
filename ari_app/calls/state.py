"""The call lifecycle as an explicit table of states and allowed transitions.

An event that does not fit the current state raises :class:`IllegalTransition` naming both states,
instead of setting a stray flag (PRACTICES.md §2).

::

    NEW ──▶ ANSWERING ──▶ BRIDGING ──▶ WAITING_MEDIA ──▶ ACTIVE ◀──▶ TRANSFERRING ──▶ HANDED_OFF
     │          │            ▲ (re-adopted or             │                │               │
     │          │            │  outbound: already up)     │                │               │
     └──────────┴────────────┴────────────────────────────┴───▶ ENDING ◀───┴───────────────┘
                                                                   │
                                                                   ▼
                                                                 ENDED

* NEW: a caller channel entered Stasis; the call row is being written.
* ANSWERING: ``POST /channels/{id}/answer`` in flight (inbound calls only).
* BRIDGING: mixing bridge and local RTP endpoint being made.
* WAITING_MEDIA: externalMedia created; waiting for *its own* StasisStart, then bridging both.
* ACTIVE: audio flows; the conversation runs.
* TRANSFERRING: a blind or announced transfer is under way (the caller may come back to ACTIVE).
* HANDED_OFF: the caller talks to the desk in our bridge; our media is gone; we wait for a hang-up.
* ENDING: tasks cancelled, externalMedia channel and bridge being deleted, row being closed.
* ENDED: nothing of the call is left.
"""

from __future__ import annotations

import enum


class CallState(enum.Enum):
    NEW = "new"
    ANSWERING = "answering"
    BRIDGING = "bridging"
    WAITING_MEDIA = "waiting_media"
    ACTIVE = "active"
    TRANSFERRING = "transferring"
    HANDED_OFF = "handed_off"
    ENDING = "ending"
    ENDED = "ended"


S = CallState

TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    S.NEW: frozenset({S.ANSWERING, S.BRIDGING, S.ENDING}),
    S.ANSWERING: frozenset({S.BRIDGING, S.ENDING}),
    S.BRIDGING: frozenset({S.WAITING_MEDIA, S.ENDING}),
    S.WAITING_MEDIA: frozenset({S.ACTIVE, S.ENDING}),
    S.ACTIVE: frozenset({S.TRANSFERRING, S.ENDING}),
    S.TRANSFERRING: frozenset({S.ACTIVE, S.HANDED_OFF, S.ENDING}),
    S.HANDED_OFF: frozenset({S.ENDING}),
    S.ENDING: frozenset({S.ENDED}),
    S.ENDED: frozenset(),
}

#: states in which the call has not yet been handed to a conversation
SETUP_STATES = frozenset({S.NEW, S.ANSWERING, S.BRIDGING, S.WAITING_MEDIA})
#: states in which call-control verbs may act on the caller
LIVE_STATES = frozenset({S.ACTIVE, S.TRANSFERRING})
FINAL_STATES = frozenset({S.ENDING, S.ENDED})


class IllegalTransition(RuntimeError):
    """A lifecycle step that the current state does not allow (a bug, or an event out of order)."""

    def __init__(self, who: str, current: CallState, wanted: CallState) -> None:
        self.current = current
        self.wanted = wanted
        allowed = ", ".join(s.name for s in sorted(TRANSITIONS[current], key=lambda s: s.value)) or "none"
        super().__init__(f"call {who}: cannot go from {current.name} to {wanted.name} (allowed: {allowed})")


class Lifecycle:
    """Holds one call's state and enforces :data:`TRANSITIONS`."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.state = CallState.NEW
        self.history: list[CallState] = [CallState.NEW]

    def advance(self, to: CallState) -> None:
        if to not in TRANSITIONS[self.state]:
            raise IllegalTransition(self.who, self.state, to)
        self.state = to
        self.history.append(to)

    def can(self, to: CallState) -> bool:
        return to in TRANSITIONS[self.state]
