"""What happened on each call: the call itself, its turns, tool runs and metrics.

Rows are written as events happen (a call row at answer, each turn as spoken), so a crash or a
restart never loses a conversation that was already under way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow


class CallStatus:
    ACTIVE = "active"
    COMPLETED = "completed"
    TRANSFERRED = "transferred"
    FAILED = "failed"
    ABANDONED = "abandoned"
    ALL = (ACTIVE, COMPLETED, TRANSFERRED, FAILED, ABANDONED)


class VoiceCall(Base):
    __tablename__ = "voice_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    asterisk_server: Mapped[str] = mapped_column(String(64), default="pbx1")
    channel_id: Mapped[str] = mapped_column(String(128), index=True)
    channel_name: Mapped[str] = mapped_column(String(255), default="")
    caller_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    caller_name: Mapped[str] = mapped_column(String(255), default="")
    called_number: Mapped[str] = mapped_column(String(64), default="")
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    channel: Mapped[str] = mapped_column(String(16), default="phone", server_default="phone")  # phone | webrtc
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    status: Mapped[str] = mapped_column(String(16), default=CallStatus.ACTIVE, index=True)
    end_reason: Mapped[str] = mapped_column(String(64), default="")
    recording_path: Mapped[str | None] = mapped_column(String(512), default=None)
    transcript: Mapped[str] = mapped_column(Text, default="")
    sentiment: Mapped[float | None] = mapped_column(Float, default=None)
    sentiment_label: Mapped[str | None] = mapped_column(String(16), default=None)
    language: Mapped[str] = mapped_column(String(16), default="en")
    brain: Mapped[str] = mapped_column(String(16), default="embedded")
    tools_executed: Mapped[list[str]] = mapped_column(JSON, default=list)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), default=None)
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("reservations.id", ondelete="SET NULL"), default=None
    )

    turns: Mapped[list[ConversationTurn]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="ConversationTurn.turn_number"
    )


class ConversationTurn(Base):
    __tablename__ = "conversation_turns"
    __table_args__ = (UniqueConstraint("call_id", "turn_number", name="uq_turn_call_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("voice_calls.id", ondelete="CASCADE"), index=True)
    turn_number: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))  # caller | agent | system | tool
    content: Mapped[str] = mapped_column(Text, default="")
    audio_path: Mapped[str | None] = mapped_column(String(512), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    input_mode: Mapped[str] = mapped_column(String(16), default="speech")  # speech | dtmf | text
    # a caller turn the caller went on from (early end of turn): kept for the record, left out of
    # transcripts, dashboards and the brain's history (issue 11)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    call: Mapped[VoiceCall] = relationship(back_populates="turns")


class CallDialogState(Base):
    """The brain's dialog state of a live call, rewritten after every reply (DESIGN 2.7): a call
    re-adopted by a restarted service goes on from where the caller was, not from the greeting.

    ``snapshot`` is text, not JSON, on purpose: what is read back may be from an older release or
    cut short, and the brain decides whether it can use it (a bad one means a fresh dialog).
    ``seq`` only grows, so a late write of an older state never replaces a newer one.
    """

    __tablename__ = "call_dialog_states"

    call_id: Mapped[int] = mapped_column(ForeignKey("voice_calls.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    brain: Mapped[str] = mapped_column(String(16), default="")
    snapshot: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ToolRun(Base):
    __tablename__ = "tool_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("voice_calls.id", ondelete="CASCADE"), index=True)
    tool_name: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    result_summary: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class VoiceAnalytics(Base):
    __tablename__ = "voice_analytics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("voice_calls.id", ondelete="CASCADE"), index=True)
    metric_name: Mapped[str] = mapped_column(String(64), index=True)
    metric_value: Mapped[float] = mapped_column(Float)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
