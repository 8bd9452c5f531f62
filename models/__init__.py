"""Database models (SQLAlchemy 2) for calls and the hotel domain."""

from models.base import Base, UTCDateTime, utcnow
from models.calls import CallDialogState, CallStatus, ConversationTurn, ToolRun, VoiceAnalytics, VoiceCall
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
from models.voice_api import CallEvent, DoNotCall, OutboundCall, OutboundStatus, RecordingAccess, SyncOutbox

__all__ = [
    "Base",
    "CallDialogState",
    "CallerScreeningEntry",
    "CallStatus",
    "CallEvent",
    "Callback",
    "ConversationTurn",
    "DoNotCall",
    "JobStatus",
    "Lead",
    "Message",
    "OutboundCall",
    "OutboundStatus",
    "PaymentLink",
    "RateOverride",
    "RecordingAccess",
    "Reservation",
    "ReservationNight",
    "ReservationStatus",
    "Room",
    "RoomType",
    "ScreeningKind",
    "SyncOutbox",
    "ToolRun",
    "UTCDateTime",
    "VoiceAnalytics",
    "VoiceCall",
    "utcnow",
]
