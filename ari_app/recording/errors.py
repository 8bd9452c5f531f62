"""Errors of the recording package: one base, split by who must act.

A bad key is the site's to fix (a setting, reported once at start-up); a file that does not decrypt
is either the wrong key or a damaged/tampered file, and retrying cannot help with either.
"""

from __future__ import annotations


class RecordingError(Exception):
    """Base of every recording error; ``str()`` is one line for an IT person's console."""


class RecordingKeyError(RecordingError):
    """``recording.encryption_key`` is not a usable key (the operator must fix the setting)."""


class DecryptError(RecordingError):
    """An encrypted recording does not open: wrong key, or the file was truncated or altered."""
