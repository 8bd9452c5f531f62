"""stop_loop_task: how the worker pool and the cloud sync end their loops (one helper for both)."""

from __future__ import annotations

import asyncio

from ari_app.workers.jobs import stop_loop_task


async def test_given_a_loop_that_honours_stop_when_stopped_then_it_ends_its_item_and_is_not_cancelled() -> None:
    stop = asyncio.Event()
    finished: list[str] = []

    async def loop() -> None:
        await stop.wait()
        await asyncio.sleep(0.01)  # the item in hand
        finished.append("item")

    task = asyncio.create_task(loop())
    await stop_loop_task(stop, task, timeout_s=5)
    assert stop.is_set() and finished == ["item"] and not task.cancelled()


async def test_given_a_loop_that_overstays_when_stopped_then_it_is_cancelled_after_the_grace() -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(asyncio.Event().wait())  # never looks at stop
    await stop_loop_task(stop, task, timeout_s=0.05)
    assert task.cancelled()


async def test_given_the_stopper_cancelled_when_waiting_then_the_loop_still_finishes_its_item() -> None:
    stop = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def loop() -> None:
        await release.wait()
        finished.append("item")

    task = asyncio.create_task(loop())
    stopper = asyncio.create_task(stop_loop_task(stop, task, timeout_s=5))
    await asyncio.sleep(0.01)
    stopper.cancel()
    await asyncio.gather(stopper, return_exceptions=True)
    release.set()
    await asyncio.wait_for(task, 1)
    assert finished == ["item"]


async def test_given_no_task_when_stopped_then_only_the_event_is_set() -> None:
    stop = asyncio.Event()
    await stop_loop_task(stop, None, timeout_s=1)
    assert stop.is_set()
