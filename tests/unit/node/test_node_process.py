"""A node process tunes the garbage collector once at startup: startup objects frozen, young collections rarer."""

from __future__ import annotations

import gc

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
