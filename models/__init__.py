"""Database models (SQLAlchemy 2) for calls and the hotel domain."""

from models.base import Base, UTCDateTime, utcnow
from models.calls import CallStatus, ConversationTurn, ToolRun, VoiceAnalytics, VoiceCall
from models.hotel import (
    Callback,
    JobStatus,
    Lead,
    Message,
    PaymentLink,
    RateOverride,
    Reservation,
    ReservationNight,
    ReservationStatus,
    Room,
    RoomType,
)
from models.screening import CallerScreeningEntry, ScreeningKind

__all__ = [
    "Base",
    "CallerScreeningEntry",
    "CallStatus",
    "Callback",
    "ConversationTurn",
    "JobStatus",
    "Lead",
    "Message",
    "PaymentLink",
    "RateOverride",
    "Reservation",
    "ReservationNight",
    "ReservationStatus",
    "Room",
    "RoomType",
    "ScreeningKind",
    "ToolRun",
    "UTCDateTime",
    "VoiceAnalytics",
    "VoiceCall",
    "utcnow",
]
