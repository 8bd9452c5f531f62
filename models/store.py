"""Writes about calls as they happen: the call row at answer, each turn as spoken, each tool run.

Every method opens its own short transaction, so one call's write never waits on another call's
conversation, and nothing about a live call exists only in memory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.privacy import mask_arguments, mask_card_numbers
from models.calls import CallStatus, ConversationTurn, ToolRun, VoiceAnalytics, VoiceCall


class CallStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def open_call(
        self,
        *,
        session_id: str,
        channel_id: str,
        channel_name: str = "",
        caller_id: str = "",
        caller_name: str = "",
        called_number: str = "",
        direction: str = "inbound",
        asterisk_server: str = "pbx1",
        language: str = "en",
        brain: str = "embedded",
    ) -> int:
        async with self.sessions.begin() as db:
            call = VoiceCall(
                session_id=session_id,
                channel_id=channel_id,
                channel_name=channel_name,
                caller_id=caller_id,
                caller_name=caller_name,
                called_number=called_number,
                direction=direction,
                asterisk_server=asterisk_server,
                language=language,
                brain=brain,
                status=CallStatus.ACTIVE,
            )
            db.add(call)
            await db.flush()
            return call.id

    async def get_call(self, call_id: int) -> VoiceCall | None:
        async with self.sessions() as db:
            return await db.get(VoiceCall, call_id)

    async def find_active_by_channel(self, channel_id: str, asterisk_server: str | None = None) -> VoiceCall | None:
        async with self.sessions() as db:
            q = select(VoiceCall).where(VoiceCall.channel_id == channel_id, VoiceCall.status == CallStatus.ACTIVE)
            if asterisk_server is not None:
                q = q.where(VoiceCall.asterisk_server == asterisk_server)
            return (await db.execute(q.order_by(VoiceCall.id.desc()))).scalars().first()

    async def active_calls(self, asterisk_server: str | None = None) -> list[VoiceCall]:
        async with self.sessions() as db:
            q = select(VoiceCall).where(VoiceCall.status == CallStatus.ACTIVE)
            if asterisk_server is not None:
                q = q.where(VoiceCall.asterisk_server == asterisk_server)
            return list((await db.execute(q)).scalars())

    async def mark_answered(self, call_id: int) -> None:
        async with self.sessions.begin() as db:
            await db.execute(
                update(VoiceCall).where(VoiceCall.id == call_id).values(answered_at=datetime.now(UTC))
            )

    async def update_call(self, call_id: int, **values: Any) -> None:
        async with self.sessions.begin() as db:
            await db.execute(update(VoiceCall).where(VoiceCall.id == call_id).values(**values))

    async def add_turn(
        self,
        call_id: int,
        role: str,
        content: str,
        *,
        latency_ms: int | None = None,
        timings: dict[str, Any] | None = None,
        interrupted: bool = False,
        input_mode: str = "speech",
        audio_path: str | None = None,
    ) -> int:
        """Store one turn (card numbers masked) and return its number within the call.

        A caller turn also gets its sentiment, as a ``caller_sentiment`` metric for the turn and as
        the call's running average on ``voice_calls.sentiment``, so a supervisor sees an angry caller
        while the call is still live.
        """
        async with self.sessions.begin() as db:
            last = await db.scalar(
                select(func.max(ConversationTurn.turn_number)).where(ConversationTurn.call_id == call_id)
            )
            number = (last or 0) + 1
            if role == "caller" and content.strip():
                await self._note_sentiment(db, call_id, number, content)
            db.add(
                ConversationTurn(
                    call_id=call_id,
                    turn_number=number,
                    role=role,
                    content=mask_card_numbers(content),
                    latency_ms=latency_ms,
                    timings=timings or {},
                    interrupted=interrupted,
                    input_mode=input_mode,
                    audio_path=audio_path,
                )
            )
            return number

    @staticmethod
    async def _note_sentiment(db: AsyncSession, call_id: int, turn_number: int, text: str) -> None:
        from ari_app.sentiment import label, score

        value = score(text)
        db.add(
            VoiceAnalytics(
                call_id=call_id, metric_name="caller_sentiment", metric_value=value, labels={"turn": turn_number}
            )
        )
        await db.flush()
        average = await db.scalar(
            select(func.avg(VoiceAnalytics.metric_value)).where(
                VoiceAnalytics.call_id == call_id, VoiceAnalytics.metric_name == "caller_sentiment"
            )
        )
        mean = float(average) if average is not None else value
        await db.execute(
            update(VoiceCall)
            .where(VoiceCall.id == call_id)
            .values(sentiment=round(mean, 4), sentiment_label=label(mean))
        )

    async def mark_turn_interrupted(self, call_id: int, turn_number: int, spoken_text: str) -> None:
        async with self.sessions.begin() as db:
            await db.execute(
                update(ConversationTurn)
                .where(ConversationTurn.call_id == call_id, ConversationTurn.turn_number == turn_number)
                .values(interrupted=True, content=mask_card_numbers(spoken_text))
            )

    async def add_tool_run(
        self,
        call_id: int | None,
        tool_name: str,
        arguments: dict[str, Any],
        *,
        ok: bool,
        result_summary: str = "",
        error: str = "",
        latency_ms: float = 0.0,
    ) -> None:
        async with self.sessions.begin() as db:
            db.add(
                ToolRun(
                    call_id=call_id,
                    tool_name=tool_name,
                    arguments=mask_arguments(arguments),
                    ok=ok,
                    result_summary=mask_card_numbers(result_summary)[:2000],
                    error=error[:2000],
                    latency_ms=latency_ms,
                )
            )
            if call_id is not None:
                call = await db.get(VoiceCall, call_id, with_for_update=not _is_sqlite(db))
                if call is not None:
                    call.tools_executed = [*call.tools_executed, tool_name]

    async def add_metric(
        self, call_id: int | None, name: str, value: float, labels: dict[str, Any] | None = None
    ) -> None:
        async with self.sessions.begin() as db:
            db.add(VoiceAnalytics(call_id=call_id, metric_name=name, metric_value=value, labels=labels or {}))

    async def close_call(self, call_id: int, status: str = CallStatus.COMPLETED, end_reason: str = "") -> None:
        """Close the row once: duration, status and the transcript assembled from the stored turns."""
        if status not in CallStatus.ALL:
            raise ValueError(f"unknown call status {status!r}")
        async with self.sessions.begin() as db:
            call = await db.get(VoiceCall, call_id)
            if call is None or call.status != CallStatus.ACTIVE:
                return
            turns = (
                await db.execute(
                    select(ConversationTurn)
                    .where(ConversationTurn.call_id == call_id)
                    .order_by(ConversationTurn.turn_number)
                )
            ).scalars()
            now = datetime.now(UTC)
            call.ended_at = now
            call.duration_s = round((now - call.started_at).total_seconds(), 3)
            call.status = status
            call.end_reason = end_reason
            call.transcript = "\n".join(f"{t.role}: {t.content}" for t in turns)


def _is_sqlite(db: AsyncSession) -> bool:
    return db.get_bind().dialect.name == "sqlite"
