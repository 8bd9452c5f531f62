"""The one error family of the tools package.

Every tool failure carries a message that can be spoken to a caller or handed back to a model as is,
plus who is at fault and whether trying again can help: a caller's impossible dates won't improve
with a retry, a database hiccup may, and a missing payment secret is the hotel's to fix.
"""

from __future__ import annotations

from typing import Any, Literal

Fault = Literal["caller", "hotel", "system"]


class ToolError(Exception):
    """A tool could not do what was asked; ``message`` is fit to speak or to give back to a model."""

    code = "failed"
    default_fault: Fault = "system"
    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        fault: Fault | None = None,
        retryable: bool | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fault: Fault = fault or self.default_fault
        self.retryable = self.default_retryable if retryable is None else retryable
        self.data = data or {}

    def to_payload(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "retry_may_help": self.retryable, **self.data}


class InvalidArguments(ToolError):
    """The arguments broke the schema or the hotel's rules; nothing was executed."""

    code = "invalid_arguments"
    default_fault = "caller"


class UnknownTool(ToolError):
    code = "unknown_tool"
    default_fault = "caller"


class NotAvailable(ToolError):
    """Nothing free for the request (or the last room was just taken); other dates may work."""

    code = "not_available"
    default_fault = "caller"


class NotFound(ToolError):
    code = "not_found"
    default_fault = "caller"


class NotConfigured(ToolError):
    """The hotel has not configured what this tool needs (e.g. the payment-link secret)."""

    code = "not_configured"
    default_fault = "hotel"


class ToolFailure(ToolError):
    """Our side broke (database unreachable, a bug); a retry may help for transient causes."""

    code = "tool_failure"
    default_fault = "system"
    default_retryable = True
