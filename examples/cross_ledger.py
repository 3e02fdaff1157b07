"""A lab-certificate ledger (A) and a brand's traceability ledger (B): a fact of A proven on B.

The brand's trace event "lot L7 passed inspection" commits on B only with the lab's proof of
that fact from A, checked by B's executor against B's light client of A — no relay, no oracle,
no trusted gateway. The script starts both networks on 127.0.0.1 (A: 4 validators, B: 1),
runs the story, prints each step, and stops them:

1. B's members create a light client of A (a governed transaction) from A's genesis validators;
2. the lab writes ``lot/L7`` on A; the brand submits to B a transaction carrying A's proof
   bundle and the trace record: it commits;
3. forgeries are refused, each with its stable code, and write nothing;
4. A adds a validator (epoch 1); A's new proofs are refused on B until anyone submits A's
   certified epoch change, after which B verifies them (and still A's older ones).

Usage: ``python examples/cross_ledger.py --dir DIR [--json]``; ``--json`` prints the report
(one JSON object) as the last line.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

from ledger.crypto import (
    ED25519,
    KeyPair,
    address_from_public_key,
    from_base58,
    generate_keypair,
    load_keypair,
    sign,
    to_base58,
)
from ledger.certificate import encode_commit_statement
from ledger.types import AdvanceLightClient, CreateLightClient, ProveForeignFact
from jadechain.devnet import net
from jadechain.sdk import JadechainClient, LedgerClient


def admin_key(layout: net.NetworkLayout) -> KeyPair:
    password = Path(layout.password_file).read_text().strip()
    return load_keypair(layout.nodes[0].key_file, password)


def new_account(ledger: LedgerClient, admin: KeyPair) -> str:
    key = generate_keypair(ED25519)
    result = ledger.submit(ledger.builder().register_data_account(key.public.encoded).sign(admin))
    assert result.status == "SUCCESS", result
    return address_from_public_key(key.public)


def relies_on(brand: LedgerClient, admin: KeyPair, lab_hash: str, bundle: dict[str, Any], trace: str, key: str,
              expect: dict[str, Any], max_age_ms: int = 0) -> str:
    """B's transaction: A's fact as evidence, then the trace record; returns its on-chain status."""
    fact = ProveForeignFact(from_base58(lab_hash), json.dumps(bundle).encode(), json.dumps(expect).encode(),
                            max_age_ms)
    tx = brand.builder().add(fact).kv_set(trace, key, "passed inspection (lab certificate on ledger A)", -1)
    return str(brand.submit(tx.sign(admin), timeout=60).status)


def resign(bundle: dict[str, Any], signers: list[KeyPair]) -> dict[str, Any]:
    """A forger's certificate: the real commit statement, signed by keys of the forger's choice."""
    forged = copy.deepcopy(bundle)
    header = forged["header"]
    statement = encode_commit_statement(from_base58(forged["ledger_hash"]), header["height"],
                                        from_base58(header["hash"]), header["certificate"]["epoch"])
    header["certificate"]["signatures"] = [
        {"public_key": to_base58(p.public.encoded), "signature": to_base58(sign(p.private, statement))}
        for p in signers]
    return forged


def story(directory: Path, say: Any = print) -> dict[str, Any]:
    report: dict[str, Any] = {"refused": {}}
    lab_layout = net.net_up(directory / "lab", nodes=4, crypto="classic", timeout=120)
    brand_layout = net.net_up(directory / "brand", nodes=1, crypto="classic", timeout=120)
    lab_admin, brand_admin = admin_key(lab_layout), admin_key(brand_layout)
    try:
        with JadechainClient(lab_layout.urls) as lab_client, JadechainClient(brand_layout.urls) as brand_client:
            lab = lab_client.ledger(lab_layout.ledger_hash)
            brand = brand_client.ledger(brand_layout.ledger_hash)

            # 1. B follows A, from A's genesis validators (B's members take them from A's ceremony).
            genesis_keys = tuple(sorted(from_base58(node.public_key) for node in lab_layout.nodes))
            create = CreateLightClient(from_base58(lab_layout.ledger_hash), "lab certificates", 0, 0, genesis_keys)
            created = brand.submit(brand.builder().add(create).sign(brand_admin), timeout=60)
            report["light_client_created"] = created.status
            say(f"1. ledger B follows ledger A {lab_layout.ledger_hash}: {created.status}")

            # 2. The lab certifies lot L7 on A; the brand's trace record on B relies on it.
            results = new_account(lab, lab_admin)
            written = lab.submit(lab.builder().kv_set(results, "lot/L7", {"inspection": "passed"}, -1).sign(lab_admin))
            assert written.status == "SUCCESS", written
            proof = lab.entry_proof(results, "lot/L7", wait=60)
            expect = {"account": results, "key": "lot/L7", "value": {"type": "JSON", "value": {"inspection": "passed"}}}
            trace = new_account(brand, brand_admin)
            report["fact_accepted"] = relies_on(brand, brand_admin, lab_layout.ledger_hash, proof, trace, "L7", expect)
            say(f"2. B's trace event 'lot L7 passed inspection' with A's proof: {report['fact_accepted']}")

            # 3. Forgeries: each refused with its code; none writes the trace record.
            null_certificate = copy.deepcopy(proof)
            null_certificate["header"]["certificate"] = None
            signatures = proof["header"]["certificate"]["signatures"]
            duplicated = copy.deepcopy(proof)
            duplicated["header"]["certificate"]["signatures"] = [signatures[0], *signatures[:-1]]
            brand_entry = brand.entry_proof(trace, "L7", wait=60)  # a real proof, of the wrong ledger
            strangers = [generate_keypair(ED25519) for _ in range(3)]
            forgeries = {
                "uncertified header": (null_certificate, expect, 0),
                "another ledger's proof": (brand_entry, {"key": "L7"}, 0),
                "signers outside A's set": (resign(proof, strangers), expect, 0),
                "a signature twice": (duplicated, expect, 0),
                "another fact than claimed": (proof, {**expect, "key": "lot/L8"}, 0),
                "older than 1 ms": (proof, expect, 1),
            }
            for number, (label, (bundle, wanted, max_age)) in enumerate(forgeries.items()):
                status = relies_on(brand, brand_admin, lab_layout.ledger_hash, bundle, trace, f"forged/{number}", wanted,
                                   max_age)
                report["refused"][label] = status
                say(f"3. {label}: {status}")
            report["forged_records_written"] = sum(
                1 for number in range(len(forgeries)) if _exists(brand, trace, f"forged/{number}"))

            # 4. A adds a validator: a new epoch. B refuses A's new proofs until it follows the change.
            added = net.add_node(lab_layout.directory, "node4", timeout=110)
            lab_layout = net.load_layout(lab_layout.directory)
            report["lab_epoch"] = added["epoch"]
            say(f"4. A added validator node4: epoch {added['epoch']}")
            written = lab.submit(lab.builder().kv_set(results, "lot/L8", {"inspection": "passed"}, -1).sign(lab_admin))
            newer = _proof_in_epoch(lab, results, "lot/L8", added["epoch"])
            expect_l8 = {**expect, "key": "lot/L8"}
            report["new_epoch_before_advance"] = relies_on(brand, brand_admin, lab_layout.ledger_hash, newer, trace,
                                                           "L8", expect_l8)
            say(f"   A's epoch-{added['epoch']} proof before B advances: {report['new_epoch_before_advance']}")
            change = bytes.fromhex(newer["epoch_changes"][added["epoch"] - 1])
            advance = AdvanceLightClient(from_base58(lab_layout.ledger_hash), change)
            report["advanced"] = brand.submit(brand.builder().add(advance).sign(brand_admin), timeout=60).status
            report["advance_replayed"] = brand.submit(brand.builder().add(advance).sign(brand_admin), timeout=60).status
            say(f"   B follows A's certified epoch change: {report['advanced']}; again: {report['advance_replayed']}")
            report["new_epoch_after_advance"] = relies_on(brand, brand_admin, lab_layout.ledger_hash, newer, trace,
                                                          "L8", expect_l8)
            report["old_epoch_after_advance"] = relies_on(brand, brand_admin, lab_layout.ledger_hash, proof, trace,
                                                          "L7-again", expect)
            say(f"   A's epoch-{added['epoch']} proof now: {report['new_epoch_after_advance']}; "
                f"the epoch-0 proof still: {report['old_epoch_after_advance']}")
    finally:
        for layout_dir in (directory / "lab", directory / "brand"):
            if (layout_dir / net.LAYOUT_FILE).exists():
                net.net_down(layout_dir)
    return report


def _exists(ledger: LedgerClient, account: str, key: str) -> bool:
    try:
        ledger.get_entry(account, key)
    except Exception:  # NOT_FOUND: the refused transaction wrote nothing
        return False
    return True


def _proof_in_epoch(ledger: LedgerClient, account: str, key: str, epoch: int) -> dict[str, Any]:
    """A proof of ``key`` whose header is of ``epoch`` (a header of the new epoch certifies it)."""
    import time

    deadline = time.monotonic() + 120
    while True:
        bundle = ledger.entry_proof(account, key, wait=60)
        from ledger import codec
        from ledger.types import BlockHeader

        header = codec.decode(BlockHeader, bytes.fromhex(bundle["header"]["encoded"]))
        if header.epoch >= epoch and len(bundle["epoch_changes"]) >= epoch:
            return bundle
        if time.monotonic() > deadline:
            raise TimeoutError(f"no proof of {key} in epoch {epoch}")
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="Where both networks live (created).")
    parser.add_argument("--json", action="store_true", help="Print the report as JSON on the last line.")
    args = parser.parse_args()
    report = story(args.dir, say=(lambda *_: None) if args.json else print)
    if args.json:
        sys.stdout.write(json.dumps(report, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
