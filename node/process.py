"""Process-wide settings of a node process (the validator server, the solo committer)."""

from __future__ import annotations

import gc
import time
from typing import Any

__all__ = ["GC_SECONDS", "GC_THRESHOLDS", "tune_garbage_collector"]

GC_SECONDS: dict[int, float] = {0: 0.0, 1: 0.0, 2: 0.0}
"""Per generation: CPU seconds of cyclic collection since startup (the node's /metrics shows them).

CPU of the collecting thread, not wall time: on a busy machine a collection's wall time counts
whatever else the cores ran meanwhile (four nodes on two cores logged 100-230 ms "pauses" of
young collections)."""

_started: list[float] = [0.0]


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.thread_time()
        return
    generation = int(info.get("generation", 2))
    GC_SECONDS[generation] = GC_SECONDS.get(generation, 0.0) + time.thread_time() - _started[0]
    # No logging here: a collection can start anywhere, also inside a handler that holds its lock.


GC_THRESHOLDS = (400_000, 20, 10)
"""A young collection after 400,000 net allocations instead of CPython's 700 (see tune_garbage_collector).

A node's young objects are mostly its pending transactions, alive from ingress to commit, then
freed by reference counting. At 50,000 every collection walked a few seconds' worth of them, and
promoted them to be walked again in generation 1, for nothing: 9-10 us of CPU per transaction per
node under load, measured. At 400,000 the live young set of a loaded 4-node network stays below
the threshold, so under load a node rarely collects at all. Alternating 30-second runs of
``jadechain bench tps --nodes 4`` (Ed25519): node CPU per transaction 0.84, 0.84, 0.88 ms against
0.98, 0.88, 1.02 ms at 50,000, for about 25 MB more RSS per node. A collection, when it comes,
walks at most 400,000 objects (tens of ms). Cyclic garbage waits for it; little is made."""


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
