"""``python -m baas.provisioners.solo_main --config node.toml``: a single-validator node process.

Used by the local provisioner for one-validator networks until (or where) the networked node
``python -m node.server`` is not installed. Reads the same node.toml; serves the first ledger with
the solo committer and the HTTP gateway; stops gracefully on SIGTERM; logs JSON lines to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tomllib


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                           "message": record.getMessage()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLines())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    with open(args.config, "rb") as handle:
        config = tomllib.load(handle)
    node = config["node"]
    if node.get("password_file"):
        with open(node["password_file"]) as handle:
            password = handle.read().strip()
    else:
        password = os.environ[node["password_env"]]
    consensus = config.get("consensus", {})
    from node.solo import serve_solo

    asyncio.run(serve_solo(
        node["data_dir"], config["ledgers"][0]["hash"], node["key_file"], password,
        host=config["gateway"].get("host", "127.0.0.1"), port=int(config["gateway"]["port"]),
        idle_block_ms=int(consensus.get("idle_block_ms", 20)), max_block_txs=int(consensus.get("max_block_txs", 2000)),
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
