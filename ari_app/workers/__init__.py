"""Background work any instance may do, done once: due callbacks and the SMS/e-mail outbox."""

from __future__ import annotations

from ari_app.workers.errors import ProviderError, WorkerError
from ari_app.workers.jobs import (
    CallbackRunner,
    OutboxWorker,
    backoff_s,
    claim_callbacks,
    claim_messages,
    pending_count,
)
from ari_app.workers.pool import WorkerPool, providers_from_settings
from ari_app.workers.providers import LogProvider, MessageProvider, TwilioProvider

__all__ = [
    "CallbackRunner",
    "LogProvider",
    "MessageProvider",
    "OutboxWorker",
    "ProviderError",
    "TwilioProvider",
    "WorkerError",
    "WorkerPool",
    "backoff_s",
    "claim_callbacks",
    "claim_messages",
    "pending_count",
    "providers_from_settings",
]
