"""``python -m contracts identity``: the engine identity to put in a genesis config (``[ledger] contract_engine``)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if argv[1:] != ["identity"]:
        print("usage: python -m contracts identity", file=sys.stderr)
        return 2
    from contracts.vm import engine_identity

    print(engine_identity())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
