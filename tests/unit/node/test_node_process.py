"""A node process tunes the garbage collector once at startup: startup objects frozen, young collections rarer."""

from __future__ import annotations

import gc
import weakref

from node.process import GC_THRESHOLDS, tune_garbage_collector


def test_tuning_freezes_startup_objects_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
        assert GC_THRESHOLDS[0] > before[0]
        assert gc.isenabled()  # cycles are still collected
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


class _Node:
    def __init__(self) -> None:
        self.other: object = None


def test_cycles_are_still_collected_without_asking_under_the_tuned_thresholds() -> None:
    """The raised young threshold delays cyclic collection; it never turns it off."""
    before = gc.get_threshold()
    try:
        tune_garbage_collector()
        first, second = _Node(), _Node()
        first.other, second.other = second, first
        gone = weakref.ref(first)
        del first, second
        for _ in range(GC_THRESHOLDS[0] // 2 + 1):  # garbage cycles of two: net allocations climb
            a, b = _Node(), _Node()
            a.other, b.other = b, a
        del a, b
        assert gone() is None  # an automatic young collection freed the first cycle
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
