"""A due callback becomes a real outbound call: worker → ARI originate → answered → conversation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from e2e_support import Stack, running_stack, wait_for, wait_until
from sqlalchemy import select

from models import Callback, VoiceCall


async def _callback(stack: Stack, phone: str) -> int:
    sessions = stack.service.sessions
    async with sessions.begin() as db:
        cb = Callback(phone=phone, due_at=datetime.now(UTC) - timedelta(seconds=1), reason="late check-in")
        db.add(cb)
        await db.flush()
        return cb.id


async def _status(stack: Stack, cb_id: int) -> tuple[str, int]:
    async with stack.service.sessions() as db:
        cb = await db.get(Callback, cb_id)
        assert cb is not None
        return cb.status, cb.attempts


ENV = {"HOTEL_OPERATOR_WORKER__POLL_INTERVAL_S": "0.1", "HOTEL_OPERATOR_IVR__START_IN_MENU": "true"}


async def test_given_a_due_callback_when_the_guest_answers_then_an_outbound_call_runs_and_the_job_is_done(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path, env=ENV) as stack:
        cb_id = await _callback(stack, "+15559990001")
        await wait_for(lambda: stack.standin.requests("channels.originate")
                       or stack.standin.requests("channels.originateWithId"), 10, "originate sent")
        req = (stack.standin.requests("channels.originateWithId") or stack.standin.requests("channels.originate"))[0]
        assert req.query["endpoint"] == "PJSIP/+15559990001@trunk"
        assert req.query["app"] == "hotel-operator"
        # the answered callback is a call like any other: a row, a bridge, our menu on RTP
        await wait_for(lambda: any(b.channels for b in stack.standin.bridges.values()), 10, "callback bridged")
        out_channel = next(iter(b.channels for b in stack.standin.bridges.values()))[0]
        stack.standin.send_dtmf(out_channel, "2")
        await wait_for(lambda: stack.standin.requests("channels.continueInDialplan"), 10, "transferred")
        async with stack.service.sessions() as db:
            call = (await db.execute(select(VoiceCall).where(VoiceCall.direction == "outbound"))).scalar_one()
        assert call.called_number == "+15559990001"
        async def done() -> tuple[str, int] | None:
            found = await _status(stack, cb_id)
            return found if found[0] == "done" else None

        status, attempts = await wait_until(done, 5, "callback done")
        assert status == "done" and attempts == 1


async def test_given_a_due_callback_when_the_line_is_busy_then_the_job_is_retried_later(tmp_path: Path) -> None:
    async with running_stack(tmp_path, env=ENV) as stack:
        stack.standin.set_endpoint_behaviour("PJSIP/+15559990002@trunk", "busy")
        cb_id = await _callback(stack, "+15559990002")
        statuses: list[tuple[str, int]] = []

        async def settled() -> bool:
            statuses.append(await _status(stack, cb_id))
            return statuses[-1][1] >= 1 and statuses[-1][0] == "pending"

        await wait_until(settled, 10, "callback back in the queue")
        status, attempts = statuses[-1]
        assert status == "pending" and attempts == 1  # back in the queue, due again later
        async with stack.service.sessions() as db:
            cb = await db.get(Callback, cb_id)
            assert cb is not None and cb.due_at > datetime.now(UTC)
            assert "no answer" in cb.last_error

