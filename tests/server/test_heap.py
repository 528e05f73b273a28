"""The heap worker: survivors are frozen out of the collector's way, garbage is not kept."""

from __future__ import annotations

import gc
import weakref

from server.runtime.heap import Heap


class Node:
    """An object in a reference cycle: only the collector can free it."""

    def __init__(self) -> None:
        self.me = self


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_step_collects_young_garbage_then_freezes_what_lives() -> None:
    clock = Ticks()
    heap = Heap(freeze_seconds=1, full_seconds=3600, clock=clock)
    try:
        gc.unfreeze()
        garbage = weakref.ref(Node())
        living = Node()
        await heap.step()
        assert garbage() is None, "a cycle that was already garbage must not be frozen"
        assert gc.get_freeze_count() > 0

        lives_on = weakref.ref(living)
        del living
        gc.collect()
        assert lives_on() is not None, "frozen: no automatic or full collection walks it"

        clock.now += 3600
        await heap.step()
        assert lives_on() is None, "the hourly full collection frees frozen garbage"
    finally:
        await heap.stop()
    assert gc.get_freeze_count() == 0, "stopping hands every object back to the collector"
