"""Errors of the background workers (callbacks and the SMS/e-mail outbox)."""

from __future__ import annotations


class WorkerError(Exception):
    """Base of every error raised by :mod:`ari_app.workers`."""


class ProviderError(WorkerError):
    """A message provider refused or failed a delivery.

    ``retryable`` says whether sending the same message again later can help (network trouble,
    rate limits, provider outages) or not (invalid number, bad credentials): the outbox retries
    only the first kind, so a wrong number doesn't burn through attempts for hours.
    """

    def __init__(self, message: str, *, retryable: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
