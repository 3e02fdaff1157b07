"""Replay recorded blocks in a fresh process (``python -m tests.contracts.replay_wasm BLOCKS RECURSION GC RLIMIT_DATA_MB``).

The host conditions differ on purpose (hash seed from the environment, recursion limit, GC
thresholds, a data-size rlimit); the contract engine must not notice. Prints one JSON line:
the roots and the (status, gas) of every transaction, per height. ``assert_replicas_agree``
runs it under each of ``REPLAYS`` and compares with the chain that made the blocks.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

REPLAYS = [
    ("0", 200, 1, 0),
    ("1", 5000, 700, 4096),
    ("4242", 50000, 100000, 0),
]
"""(hash seed, recursion limit, GC threshold 0, RLIMIT_DATA in MiB or 0) of each replica."""


def assert_replicas_agree(chain: Any, tmp_path: Path) -> None:
    """Replay every block of ``chain`` (a ``tests.unit.ledger.ledger_testkit.Chain``) in fresh processes
    under each of ``REPLAYS``: the roots and every (status, gas) must be the chain's own."""
    from ledger import codec

    from node.subprocesses import child_environment, python_module_command

    blocks_file = tmp_path / "blocks.json"
    blocks_file.write_text(json.dumps([
        codec.encode(chain.ledger.get_block(h)).hex() for h in range(chain.ledger.height + 1)
    ]))
    expected = [
        {"roots": codec.encode(r.roots).hex(), "txs": [[i.status, i.gas_used] for i in r.tx_infos]}
        for r in chain.results
    ]
    for seed, recursion, gc_threshold, rlimit in REPLAYS:
        env = child_environment(dict(os.environ, PYTHONHASHSEED=seed))
        done = subprocess.run(
            python_module_command("tests.contracts.replay_wasm", str(blocks_file), str(recursion), str(gc_threshold),
                                  str(rlimit)),
            env=env, capture_output=True, text=True, timeout=900, check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        replayed = json.loads(done.stdout.strip().splitlines()[-1])["heights"]
        assert len(replayed) == len(expected)
        for height, (mine, theirs) in enumerate(zip(expected, replayed), 1):
            assert mine == theirs, f"replica (seed {seed}, recursion {recursion}) diverged at block {height}"


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
