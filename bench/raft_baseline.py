"""``python bench/raft_baseline.py [--quick] [--nodes 4] [--ops N] [--out FILE]``: the PySyncObj baseline.

The benchmark itself ships in the package (:mod:`jadechain.bench.raft_baseline`) so that
``jadechain bench raft`` works from an installed wheel; this script runs it from a checkout.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jadechain.bench.raft_baseline import main  # noqa: E402

if __name__ == "__main__":
    main()
