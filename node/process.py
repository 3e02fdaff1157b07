"""Process-wide settings of a node process (the validator server, the solo committer)."""

from __future__ import annotations

import gc
import time
from typing import Any

__all__ = ["GC_SECONDS", "GC_THRESHOLDS", "tune_garbage_collector"]

GC_SECONDS: dict[int, float] = {0: 0.0, 1: 0.0, 2: 0.0}
"""Per generation: wall seconds of cyclic collection since startup (the node's /metrics shows them)."""

_started: list[float] = [0.0]


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    generation = int(info.get("generation", 2))
    GC_SECONDS[generation] = GC_SECONDS.get(generation, 0.0) + time.perf_counter() - _started[0]
    # No logging here: a collection can start anywhere, also inside a handler that holds its lock.


GC_THRESHOLDS = (50_000, 20, 10)
"""Young collections every 50,000 net allocations instead of CPython's 700 (see tune_garbage_collector)."""


def tune_garbage_collector() -> None:
    """Set the cyclic garbage collector for a node process (call once, after startup).

    A node holds many long-lived objects (a full mempool, the state tree's node cache) and allocates
    a burst of short-lived ones per transaction; with the default thresholds the collector ran every
    700 allocations and re-walked the survivors, about a fifth of the ledger's apply CPU
    (``bench/ledger_apply.py``). Objects alive at startup are frozen out of collection, and young
    collections are rarer; reference counting still frees everything acyclic at once, and cycles
    are still collected. Nothing executed, hashed or signed depends on it.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)
