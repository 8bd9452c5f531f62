"""What the service loaded at start is frozen out of the cyclic collector (issue 16: the full
collections that walked it paused every call at once for ~40 ms)."""

from __future__ import annotations

import gc
import weakref

from ari_app.service import freeze_startup_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_given_the_service_loaded_when_frozen_then_start_up_objects_leave_the_collector_and_later_garbage_is_freed() -> None:
    kept = _Node()
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 0
        assert not any(o is kept for o in gc.get_objects(generation=2))  # out of the collector's view
        later = _Node()
        gone = weakref.ref(later)
        del later
        gc.collect()
        assert gone() is None  # what a call allocates after start is collected as before
    finally:
        gc.unfreeze()
