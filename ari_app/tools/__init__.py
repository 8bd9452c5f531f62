"""Hotel tools: async functions over the hotel database with JSON schemas, run through a registry.

Brains, the IVR and the AGI lookup all use :class:`ToolRegistry` so validation and the audit trail
are the same whoever calls a tool.
"""

from ari_app.tools.errors import (
    InvalidArguments,
    NotAvailable,
    NotConfigured,
    NotFound,
    ToolError,
    ToolFailure,
    UnknownTool,
)
from ari_app.tools.facts import HotelFacts, Topic, load_facts
from ari_app.tools.registry import HOTEL_TOOLS, ToolRegistry, ToolSpec
from ari_app.tools.types import Action, ToolContext, ToolResult

__all__ = [
    "HOTEL_TOOLS",
    "Action",
    "HotelFacts",
    "InvalidArguments",
    "NotAvailable",
    "NotConfigured",
    "NotFound",
    "ToolContext",
    "ToolError",
    "ToolFailure",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "Topic",
    "UnknownTool",
    "load_facts",
]
