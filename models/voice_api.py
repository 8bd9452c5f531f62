"""Tables of the voice API: call events, outbound requests, do-not-call list, recording audit,
and the cloud-sync outbox.

Each is written as things happen: an outbound call's state changes become ``call_events`` rows
the session page shows, every recording access is an audit row before a byte leaves, and each
finished call is queued once in ``sync_outbox`` (its idempotency key is unique, so two instances
queueing the same call leave one row).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class OutboundStatus:
    QUEUED = "queued"
    DIALING = "dialing"
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    ALL = (QUEUED, DIALING, ANSWERED, NO_ANSWER, FAILED)


class CallEvent(Base):
    """One state change of a call or an outbound request (``session_id`` links it to the call)."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    outbound_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_calls.id", ondelete="CASCADE"), index=True, default=None
    )
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboundCall(Base):
    __tablename__ = "outbound_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(32), unique=True)
    number: Mapped[str] = mapped_column(String(16), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(16), default="en")
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=OutboundStatus.QUEUED)
    session_id: Mapped[str | None] = mapped_column(String(64), default=None)
    requested_by: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DoNotCall(Base):
    __tablename__ = "do_not_call"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    note: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecordingAccess(Base):
    """Who fetched which recording, when, and what they got (HTTP status, byte range)."""

    __tablename__ = "recording_access"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), index=True)
    who: Mapped[str] = mapped_column(String(64))
    remote: Mapped[str] = mapped_column(String(64), default="")
    byte_range: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncOutbox(Base):
    """A signed push to the cloud, claimed and delivered exactly once like the other workers' rows."""

    __tablename__ = "sync_outbox"
    __table_args__ = (Index("ix_sync_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(96), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("voice_calls.id", ondelete="SET NULL"), index=True, default=None
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_by: Mapped[str | None] = mapped_column(String(64), default=None)
    locked_at: Mapped[datetime | None] = mapped_column(default=None)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(String(500), default="")
