"""``python -m baas.apps.traceability --gateway URL --ledger HASH --key KEYSTORE --port P``.

Runs the traceability API and consumer portal against a node's gateway. ``--key`` is the platform
admin's keystore (password from ``--password-file`` or ``$JADECHAIN_PASSWORD``); organisations are
given as ``--org TOKEN=KEYSTORE`` (same password).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys


class JsonFormatter(logging.Formatter):
    """One JSON object per line on stderr, as the node logs."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m baas.apps.traceability")
    parser.add_argument("--gateway", action="append", required=True, help="gateway base URL (repeatable)")
    parser.add_argument("--ledger", required=True, help="ledger hash (base58)")
    parser.add_argument("--key", required=True, help="platform admin keystore file")
    parser.add_argument("--password-file")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--db", default="traceability.sqlite3")
    parser.add_argument("--contract", help="address of an already deployed traceability contract")
    parser.add_argument("--public-url", help="base URL printed in QR codes (default http://HOST:PORT)")
    parser.add_argument("--org", action="append", default=[], help="TOKEN=KEYSTORE of an organisation")
    parser.add_argument("--admin-token-file")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)

    import uvicorn

    from baas.apps.traceability.app import create_app
    from baas.apps.traceability.service import TraceabilitySettings
    from node.solo import load_key

    if args.password_file:
        with open(args.password_file) as handle:
            password = handle.read().strip()
    else:
        password = os.environ.get("JADECHAIN_PASSWORD", "")
    organisations = {}
    for spec in args.org:
        token, _, path = spec.partition("=")
        organisations[token] = load_key(path, password)
    admin_token = None
    if args.admin_token_file:
        with open(args.admin_token_file) as handle:
            admin_token = handle.read().strip()
    settings = TraceabilitySettings(
        gateway_urls=args.gateway, ledger_hash=args.ledger, admin_key=load_key(args.key, password), db_path=args.db,
        contract_address=args.contract, public_url=args.public_url or f"http://{args.host}:{args.port}",
        organisations=organisations, admin_token=admin_token,
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
