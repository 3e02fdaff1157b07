"""The in-process local job behind `jadechain up` (until the networked node lands).

It creates (or reopens) a dev ledger with four founding organisations, commits a
few blocks of signed transactions, has the four validator keys sign each
block's commit statement exactly as consensus does, and writes a proof bundle
plus the validator set, so that `jadechain verify` can check it offline.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ledger.certificate import assemble_certificate, sign_commit_statement
from ledger.crypto import (
    KeyPair,
    address_from_public_key,
    generate_keypair,
    load_keypair,
    sign,
    to_base58,
)
from ledger.ledger import Ledger
from ledger.proofs import build_entry_bundle, validators_to_json, verify_bundle
from ledger.store.directory import list_ledgers, open_ledger
from ledger.transactions import TransactionBuilder


def _founder_keys(directory: Path) -> list[KeyPair]:
    password = (directory / "keys" / "PASSWORD").read_text().strip()
    paths = sorted((directory / "keys").glob("node*.json"))
    return [load_keypair(p, password) for p in paths]


def _certify(ledger: Ledger, validators: list[KeyPair], height: int) -> None:
    header = ledger.get_header(height)
    header_hash = ledger.hash_header(header)
    signatures = [
        sign_commit_statement(
            lambda message, pair=pair: sign(pair.private, message),
            pair.public.encoded, ledger.ledger_hash, height, header_hash, header.epoch,
        )
        for pair in validators
    ]
    ledger.put_certificate(assemble_certificate(ledger.ledger_hash, height, header_hash, header.epoch, signatures))


def run_local_demo(directory: Path, crypto: str) -> dict[str, Any]:
    from jadechain.devnet.genesis import create_dev_network

    node_dir = directory / "node0"
    if not list_ledgers(str(node_dir)):
        create_dev_network(directory, 4, crypto)
    founders = _founder_keys(directory)
    ledger = open_ledger(str(node_dir), list_ledgers(str(node_dir))[0])
    try:
        admin = founders[0]
        algorithm = admin.public.algorithm
        account = generate_keypair(algorithm)
        address = address_from_public_key(account.public)
        now = int(time.time() * 1000)
        blocks = [
            [TransactionBuilder(ledger.ledger_hash, time_ms=now).register_data_account(account.public.encoded).sign(admin)],
            [
                TransactionBuilder(ledger.ledger_hash, time_ms=now)
                .kv_set(address, "product/6901234567892", {"name": "green tea", "lot": "L2026-11"}, -1)
                .sign(admin)
            ],
            [TransactionBuilder(ledger.ledger_hash, time_ms=now).kv_set(address, "status", "shipped", -1).sign(admin)],
        ]
        for transactions in blocks:
            result = ledger.apply_block(ledger.make_block(transactions, time=now, proposer=admin.public.encoded))
            failed = [info.status for info in result.tx_infos if info.status != "SUCCESS"]
            if failed:
                raise RuntimeError(f"demo transaction failed: {failed}")
            _certify(ledger, founders, ledger.height)
        bundle = build_entry_bundle(ledger, address, "product/6901234567892")
        validators = ledger.validator_set()
        bundle_path = directory / "proof-product.json"
        validators_path = directory / "validators.json"
        bundle_path.write_text(json.dumps(bundle, indent=2, ensure_ascii=False))
        validators_path.write_text(json.dumps(validators_to_json(validators), indent=2))
        report = verify_bundle(bundle, trusted_validators=validators, require_certificate=True)
        return {
            "ledger_hash": to_base58(ledger.ledger_hash),
            "height": ledger.height,
            "hash_algorithm": ledger.hash_algorithm.name,
            "signature": algorithm.name,
            "transactions": ledger.roots.accumulator_size,
            "data_account": address,
            "bundle": str(bundle_path),
            "validators": str(validators_path),
            "verified": f"{report.signers} of {len(validators.public_keys)} validators, {len(report.checks)} checks",
        }
    finally:
        ledger.close()
