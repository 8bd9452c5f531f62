"""Call recordings: per-call stereo WAV, payment pauses and card-number redaction, encryption at
rest and retention. See :mod:`ari_app.recording.manager` for the life of one recording."""

from ari_app.recording.errors import DecryptError, RecordingError, RecordingKeyError
from ari_app.recording.manager import CallRecording, RecordingManager, key_from_settings

__all__ = [
    "CallRecording",
    "DecryptError",
    "RecordingError",
    "RecordingKeyError",
    "RecordingManager",
    "key_from_settings",
]
