"""Structured logs: JSON lines with the call's correlation id, inherited by every task of the call."""

from __future__ import annotations

import asyncio
import io
import json
import logging

from ari_app.logging_setup import JsonFormatter, TextFormatter, _CallIdFilter, call_id_var


def _capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(_CallIdFilter())
    logger = logging.getLogger("test.structured")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream, handler


async def test_given_two_calls_when_their_tasks_log_then_each_line_carries_its_own_call_id() -> None:
    logger, stream, handler = _capture(JsonFormatter())

    async def call(session_id: str) -> None:
        call_id_var.set(session_id)

        async def child() -> None:  # a task the call starts later inherits the id
            logger.info("frame late", extra={"frames": 3})

        await asyncio.create_task(child())

    try:
        await asyncio.gather(call("call-a"), call("call-b"))
        logger.info("outside any call")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert sorted(x["call_id"] for x in lines[:2]) == ["call-a", "call-b"]
    assert lines[0]["frames"] == 3 and lines[0]["msg"] == "frame late" and lines[0]["level"] == "info"
    assert lines[2]["call_id"] == "-"


def test_given_text_format_when_logging_then_call_id_is_in_brackets() -> None:
    logger, stream, handler = _capture(TextFormatter())
    token = call_id_var.set("abc123")
    try:
        logger.warning("hello")
    finally:
        call_id_var.reset(token)
        logger.removeHandler(handler)
    assert "[abc123] test.structured: hello" in stream.getvalue()
