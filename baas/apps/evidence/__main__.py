"""``python -m baas.apps.evidence --gateway URL --ledger HASH --key KEYSTORE --port P``.

Serves the evidence app until SIGINT/SIGTERM (graceful shutdown). The key is an encrypted keystore
(``jadechain keys``); its password comes from ``--password-file`` or the ``--password-env`` variable.
Logs go to stderr, one JSON object per line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m baas.apps.evidence", description=__doc__.split("\n")[0])
    parser.add_argument("--gateway", action="append", required=True, help="gateway base URL (repeat for failover)")
    parser.add_argument("--ledger", required=True, help="ledger hash (base58)")
    parser.add_argument("--key", required=True, help="keystore of the app's submitting key")
    parser.add_argument("--password-file")
    parser.add_argument("--password-env", default="JADECHAIN_KEY_PASSWORD")
    parser.add_argument("--data-dir", default="./evidence-data")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--public-url", help="public base URL for the QR codes (default http://HOST:PORT)")
    parser.add_argument("--network-name")
    parser.add_argument("--external-tsa-url")
    parser.add_argument("--external-tsa-ca")
    parser.add_argument("--write-token-file",
                        help="the write credential (Bearer token) the app accepts; created with mode 0600 when "
                             "missing (default DATA_DIR/write-token, or $JADECHAIN_EVIDENCE_WRITE_TOKEN_FILE)")
    parser.add_argument("--organization", default="operator", help="whose quota the write credential counts against")
    args = parser.parse_args(argv)
    from baas.hardening import make_process_files_private

    make_process_files_private()  # the TSA key, quotas, kept files and this process's log: this user's only

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)

    from ledger.crypto import decrypt_private_key, keypair_from_private, load_keystore

    from node.serving import bound_socket, serve_app
    from baas.apps.evidence.app import create_app
    from baas.apps.evidence.service import EvidenceSettings, load_or_create_write_token, static_authorizer

    if args.password_file:
        password = Path(args.password_file).read_text().strip()
    else:
        password = os.environ.get(args.password_env, "")
    key = keypair_from_private(decrypt_private_key(load_keystore(args.key), password))
    token_file = (args.write_token_file or os.environ.get("JADECHAIN_EVIDENCE_WRITE_TOKEN_FILE")
                  or str(Path(args.data_dir) / "write-token"))
    settings = EvidenceSettings(
        gateways=args.gateway, ledger_hash=args.ledger, key=key, data_dir=args.data_dir,
        public_url=args.public_url or f"http://{args.host}:{args.port}", network_name=args.network_name,
        external_tsa_url=args.external_tsa_url, external_tsa_ca_file=args.external_tsa_ca,
        authorize=static_authorizer({load_or_create_write_token(token_file): args.organization}),
    )
    app = create_app(settings)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        sock = bound_socket(args.host, args.port)
        logging.getLogger("jadechain.evidence").info("evidence app serving on http://%s:%d; write credential in %s",
                                                     args.host, sock.getsockname()[1], token_file)
        try:
            await serve_app(app, sock, stop)
        finally:
            sock.close()
            app.state.evidence.service.close()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
