"""``python -m baas.apps.traceability --gateway URL --ledger HASH --key KEYSTORE --port P``.

Runs the traceability API and consumer portal against a node's gateway. ``--key`` is the platform
admin's keystore (password from ``--password-file`` or ``$JADECHAIN_PASSWORD``); organisations are
given as ``--org TOKEN=KEYSTORE`` (same password).

Usable from the first minute: ``--org-token-file T --org-keystore K [--org-name N] [--brand-prefix P]``
creates (once; files mode 0600) an organisation key and an API token for it, registers the
organisation on the ledger and its GS1 company prefix as its brand at start, and logs a capture
command that works as printed. ``--admin-token-file`` is created the same way when missing.
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
    parser.add_argument("--admin-token-file", help="admin API token (created, mode 0600, if missing)")
    parser.add_argument("--org-token-file", help="API token of a ready-made organisation (created if missing)")
    parser.add_argument("--org-keystore", help="that organisation's keystore (created if missing; --password)")
    parser.add_argument("--org-name", default="Demo Brand", help="that organisation's name")
    parser.add_argument("--brand-prefix", help="GS1 company prefix registered to that organisation at start")
    parser.add_argument("--example-document", help="write a first capture document for --brand-prefix here "
                        "(if missing) and name it in the logged capture command")
    parser.add_argument("--webhook-allow", action="append", default=[],
                        help="origin (scheme://host[:port]) subscriptions may push to (repeatable)")
    args = parser.parse_args(argv)
    from baas.hardening import make_process_files_private

    make_process_files_private()  # tokens, keystores, the index and this process's log: this user's only
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
    admin_token = read_or_create_token(args.admin_token_file) if args.admin_token_file else None
    bootstrap = []
    if args.org_token_file or args.org_keystore:
        if not (args.org_token_file and args.org_keystore):
            parser.error("--org-token-file and --org-keystore go together")
        if args.brand_prefix is not None and not (args.brand_prefix.isdigit() and 4 <= len(args.brand_prefix) <= 12):
            parser.error("--brand-prefix is a GS1 company prefix: 4 to 12 digits")
        org_key = load_or_create_key(args.org_keystore, password)
        organisations[read_or_create_token(args.org_token_file)] = org_key
        bootstrap.append((org_key, args.org_name, args.brand_prefix))
    public_url = args.public_url or f"http://{args.host}:{args.port}"
    settings = TraceabilitySettings(
        gateway_urls=args.gateway, ledger_hash=args.ledger, admin_key=load_key(args.key, password), db_path=args.db,
        contract_address=args.contract, public_url=public_url, organisations=organisations, admin_token=admin_token,
        bootstrap=bootstrap, webhook_allow=list(args.webhook_allow),
    )
    if args.org_token_file:
        document = "document.jsonld"
        if args.example_document and args.brand_prefix:
            write_example_document(args.example_document, args.brand_prefix)
            document = args.example_document
        logging.getLogger("jadechain.traceability").info(
            "ready to capture as %s: %s", args.org_name, capture_command(public_url, args.org_token_file, document))
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")


def capture_command(public_url: str, token_file: str, document: str = "document.jsonld") -> str:
    """The one-line capture a new user runs (what ``make up`` prints)."""
    return (f'curl -sS -X POST {public_url}/traceability/capture -H "Authorization: Bearer $(cat {token_file})" '
            f"-H 'Content-Type: application/json' --data @{document}")


def write_example_document(path: str, prefix: str) -> None:
    """A valid EPCIS 2.0 document commissioning one item of the brand ``prefix`` (kept if it exists)."""
    import datetime as dt

    if os.path.exists(path):
        return
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    item = "0" * (12 - len(prefix)) + "1"
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": now,
        "epcisBody": {"eventList": [{
            "type": "ObjectEvent", "eventTime": now, "eventTimeZoneOffset": "+00:00", "action": "ADD",
            "epcList": [f"urn:epc:id:sgtin:{prefix}.{item}.1"], "bizStep": "commissioning", "disposition": "active",
        }]},
    }
    with open(path, "w") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")


def read_or_create_token(path: str) -> str:
    """The token in ``path``; a new random one (mode 0600) if the file does not exist yet."""
    import secrets

    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path) as handle:
            token = handle.read().strip()
        if not token:
            raise SystemExit(f"{path} is empty: remove it to get a new token")
        return token
    token = secrets.token_urlsafe(24)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
    return token


def load_or_create_key(path: str, password: str):  # type: ignore[no-untyped-def]
    """The organisation key in keystore ``path``; a new Ed25519 key saved there (mode 0600) if missing."""
    from ledger.crypto import ED25519, encrypt_private_key, generate_keypair, save_keystore
    from node.solo import load_key

    if os.path.exists(path):
        return load_key(path, password)
    key = generate_keypair(ED25519)
    save_keystore(path, encrypt_private_key(key.private, password))
    return key


if __name__ == "__main__":
    main()
