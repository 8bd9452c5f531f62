"""Realtime mode as the conversation sees it: one bridge per call, its outcome mapped to an agent exit.

The bridge knows nothing of the hotel domain; here its function calls are routed to the same
:class:`~ari_app.tools.registry.ToolRegistry` every other brain uses (validated, timed, stored), and
its outcome becomes the conversation's :class:`~ari_app.conversation.AgentExit`.
"""

from __future__ import annotations

import json
import weakref
from typing import Any

from ari_app.brain.context import CallContext
from ari_app.brain.llm import system_prompt
from ari_app.conversation import AgentExit, RealtimeRunner
from ari_app.realtime.bridge import OutcomeReason, RealtimeBridge, RealtimeOutcome
from ari_app.session import CallSession
from ari_app.settings import Settings
from ari_app.tools.types import Action


def tool_runner_for(ctx: CallContext) -> Any:
    """The bridge's tool runner for one call: JSON in, (ok, output for the model, action) out."""

    async def run(name: str, arguments_json: str) -> tuple[bool, str, dict[str, Any] | None]:
        try:
            arguments = json.loads(arguments_json or "{}")
        except json.JSONDecodeError:
            return False, json.dumps({"error": "arguments are not valid JSON"}), None
        result, error = await ctx.run_tool(name, arguments)
        if error is not None or result is None:
            return False, json.dumps({"error": str(error)}), None
        action = {"kind": result.action.kind, **result.action.data} if result.action is not None else None
        return True, json.dumps({"summary": result.summary, **result.data}, default=str), action

    return run


def exit_for(outcome: RealtimeOutcome) -> AgentExit:
    if outcome.reason is OutcomeReason.CALLER_GONE:
        return AgentExit("hangup")
    if outcome.reason is OutcomeReason.MENU:
        if outcome.digit:
            return AgentExit("key", key=outcome.digit)
        return AgentExit("action", action=Action("menu"))
    if outcome.reason is OutcomeReason.ACTION and outcome.action is not None:
        data = dict(outcome.action)
        kind = str(data.pop("kind", "menu"))
        return AgentExit("action", action=Action(kind, data))  # type: ignore[arg-type]
    detail = str(outcome.error) if outcome.error is not None else "realtime bridge failed"
    return AgentExit("engine_error", detail=detail)


def make_realtime_runner(settings: Settings) -> RealtimeRunner:
    bridges: weakref.WeakKeyDictionary[CallSession, RealtimeBridge] = weakref.WeakKeyDictionary()
    tools: list[dict[str, Any]] | None = None

    async def run(session: CallSession, ctx: CallContext) -> AgentExit:
        nonlocal tools
        bridge = bridges.get(session)
        if bridge is None:
            if tools is None:
                tools = ctx.registry.openai_tools()
            bridge = RealtimeBridge(settings.brain, tool_runner_for(ctx), system_prompt(ctx), tools, greet=True)
            if session.info.adopted:  # re-adopted after a restart: the model hears the call so far
                bridge.history = [(t.role, t.text) for t in ctx.turns if t.role in ("caller", "agent")]
            bridges[session] = bridge
        outcome = await bridge.run(session)
        bridge.greet = False  # after a hold the conversation resumes; the caller was greeted already
        return exit_for(outcome)

    return run
