"""``python bench/tps.py [tps|scale|soak|raft] [options]``: the ``jadechain bench`` harness as a script.

Same commands and options as ``jadechain bench`` (see ``jadechain/cli/bench.py``); with no command
name, ``tps`` is assumed. Every command accepts ``--quick`` (about two minutes at most) and
prints one JSON object of headline figures as its very last line.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jadechain.cli.bench import bench_app  # noqa: E402

COMMANDS = ("tps", "scale", "soak", "raft")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or (args[0] not in COMMANDS and args[0] not in ("--help", "-h")):
        args.insert(0, "tps")
    bench_app(args, prog_name="bench/tps.py")


if __name__ == "__main__":
    main()
