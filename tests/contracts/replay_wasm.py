"""Replay recorded blocks in a fresh process (``python -m tests.contracts.replay_wasm BLOCKS RECURSION GC RLIMIT_DATA_MB``).

The host conditions differ on purpose (hash seed from the environment, recursion limit, GC
thresholds, a data-size rlimit); the contract engine must not notice. Prints one JSON line:
the roots and the (status, gas) of every transaction, per height.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
from pathlib import Path


def main() -> None:
    blocks_file, recursion, gc_threshold, rlimit_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    sys.setrecursionlimit(recursion)
    gc.set_threshold(gc_threshold, 10, 10)
    if rlimit_mb > 0:
        resource.setrlimit(resource.RLIMIT_DATA, (rlimit_mb * 1024 * 1024, resource.RLIM_INFINITY))

    from contracts.vm import WasmRuntime
    from ledger import codec
    from ledger.ledger import Ledger
    from ledger.store.memory import MemoryStore
    from ledger.types import Block

    raw = json.loads(Path(blocks_file).read_text())
    blocks = [codec.decode(Block, bytes.fromhex(item)) for item in raw]
    ledger = Ledger.create(MemoryStore(), blocks[0], runtime=WasmRuntime())
    heights = []
    for block in blocks[1:]:
        result = ledger.apply_block(block)
        heights.append({
            "roots": codec.encode(result.roots).hex(),
            "txs": [[info.status, info.gas_used] for info in result.tx_infos],
        })
    print(json.dumps({"heights": heights}))


if __name__ == "__main__":
    main()
