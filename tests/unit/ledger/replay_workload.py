"""A fixed, deterministic workload whose roots are pinned (``replay_golden.json``).

The same transactions reach a ledger two ways:

- ``ledger``: the builder's objects straight into ``make_block``/``apply_block`` (what the
  ledger tests and the solo committer's dev paths do);
- ``node``: as wire bytes through the node's ingress (strict decode, checks, verify, admit),
  the proposal payload, and back into ledger blocks the way a replica applies a committed
  payload (see :func:`tests.unit.node.test_node_pipeline_replay.apply_through_node`).

Every block's header hash, tx root, state root, accumulator root and the statuses of its
transactions were recorded from the code *before* the transaction path was reworked; both
paths must keep reproducing them. The workload mixes operation kinds and failures: users,
roles, data and event accounts, KV writes of several value types, version conflicts, writes by
a non-owner, a frozen account, an expired transaction, a multi-operation transaction whose
second operation fails, a transaction signed twice, a duplicate inside a block, and (ledger
path only, since ingress refuses it) a transaction with a bad signature.

Regenerate the golden file ONLY for an intended change of the chain's rules:
``python -m tests.unit.ledger.replay_workload --write``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ledger.crypto import address_from_public_key
from ledger.ledger import BlockResult, Ledger
from ledger.store.memory import MemoryStore
from ledger.transactions import TransactionBuilder, sign_content
from ledger.types import (
    AuthorizeUserRoles,
    ConfigureRole,
    EndpointSignature,
    LedgerPermission,
    RolesPolicy,
    Transaction,
    TransactionPermission,
    WritePolicy,
)

from tests.unit.ledger.ledger_testkit import GENESIS_TIME, make_genesis, seeded_keypair

GOLDEN = Path(__file__).with_name("replay_golden.json")

ENGINE = "jadechain-replay-fixed-engine/1"
"""A literal contract-engine identity, so the genesis (and every hash after it) does not move
when the WebAssembly build changes; the workload invokes no contract."""

HASH_ALGORITHMS = ("SHA256", "SM3")


@dataclass
class Workload:
    """The genesis and the blocks (lists of transactions) of one replay."""

    ledger: Ledger
    blocks: list[list[Transaction]]
    ingress_refused: list[Transaction]
    """Transactions of ``blocks`` that a node's ingress refuses (the node path leaves them out)."""


def build_workload(hash_algorithm: str) -> Workload:
    founders = [seeded_keypair(f"replay-founder-{i}") for i in range(4)]
    genesis = make_genesis(founders, hash_algorithm=hash_algorithm, extra=f'contract_engine = "{ENGINE}"\n')
    ledger = Ledger.create(MemoryStore(), genesis)
    admin = founders[0]
    nonce = 0

    def tx(build: Callable[[TransactionBuilder], object], *signers, expiry: int = 0) -> Transaction:
        nonlocal nonce
        nonce += 1
        builder = TransactionBuilder(ledger.ledger_hash, time_ms=GENESIS_TIME + nonce)
        builder.expiry = expiry
        build(builder)
        return sign_content(builder.content(nonce=nonce.to_bytes(16, "big")), *(signers or (admin,)))

    alice, bob = seeded_keypair("replay-alice"), seeded_keypair("replay-bob")
    alice_address, bob_address = address_from_public_key(alice.public), address_from_public_key(bob.public)
    data, shared, events = (seeded_keypair(f"replay-{name}") for name in ("data", "shared", "events"))
    data_address = address_from_public_key(data.public)
    shared_address = address_from_public_key(shared.public)
    events_address = address_from_public_key(events.public)
    writer_role = ConfigureRole(
        "WRITER", (LedgerPermission.WRITE_DATA_ACCOUNT, LedgerPermission.WRITE_EVENT_ACCOUNT), (),
        (TransactionPermission.DIRECT_OPERATION,), (),
    )
    blocks: list[list[Transaction]] = []
    blocks.append([
        tx(lambda b: b.register_user(alice.public.encoded, "alice")),
        tx(lambda b: b.register_user(bob.public.encoded, "bob")),
        tx(lambda b: b.add(writer_role)),
        tx(lambda b: b.register_data_account(data.public.encoded)),
        tx(lambda b: b.register_data_account(shared.public.encoded, WritePolicy.ANY_WRITER)),
        tx(lambda b: b.register_event_account(events.public.encoded)),
    ])
    blocks.append([
        tx(lambda b: b.add(AuthorizeUserRoles((alice_address, bob_address), ("WRITER",), (), RolesPolicy.UNION))),
        tx(lambda b: b.kv_set(data_address, "int", 1)),
        tx(lambda b: b.kv_set(data_address, "text", "hello, 世界")),
        tx(lambda b: b.kv_set(data_address, "bytes", b"\x00\x01\xff")),
        tx(lambda b: b.kv_set(data_address, "int", 2, 5)),  # VERSION_CONFLICT
        tx(lambda b: b.kv_set("not-an-address", "k", 1)),  # invalid / unknown account
    ])
    kv_many = [tx(lambda b, i=i: b.kv_set(shared_address, f"key-{i:03}", i * 7, -1), alice) for i in range(40)]
    duplicate = tx(lambda b: b.kv_set(shared_address, "dup", "once"), bob)
    blocks.append(kv_many[:20] + [duplicate, duplicate] + kv_many[20:])
    bad_signature = tx(lambda b: b.kv_set(shared_address, "forged", 1), alice)
    bad_signature = Transaction(
        bad_signature.content,
        (EndpointSignature(bad_signature.signatures[0].public_key, bytes(reversed(bad_signature.signatures[0].signature))),),
    )
    blocks.append([
        tx(lambda b: b.kv_set(data_address, "int", 3, 0)),
        tx(lambda b: b.kv_set(data_address, "alice-says", 1), alice),  # not an owner of `data`
        tx(lambda b: b.kv_set(shared_address, "key-000", "overwritten", 0), bob),
        tx(lambda b: b.kv_set(shared_address, "key-001", "stale", 7), bob),  # VERSION_CONFLICT
        tx(lambda b: b.publish(events_address, "topic-a", "first")),
        tx(lambda b: b.publish(events_address, "topic-a", {"n": 2}), alice),
        tx(lambda b: b.publish(events_address, "topic-b", b"raw")),
        tx(lambda b: b.kv_set(shared_address, "two-ops-ok", 1).kv_set(shared_address, "two-ops-bad", 1, 9), alice),
        tx(lambda b: b.kv_set(shared_address, "signed-twice", True), alice, bob),
        tx(lambda b: b.kv_set(shared_address, "expired", 1), alice, expiry=GENESIS_TIME + 1),
        bad_signature,
    ])
    blocks.append([
        tx(lambda b: b.set_account_state(shared_address, "FROZEN")),
        tx(lambda b: b.kv_set(shared_address, "after-freeze", 1), alice),  # ACCOUNT_FROZEN
        tx(lambda b: b.add(AuthorizeUserRoles((bob_address,), (), ("WRITER",), RolesPolicy.UNION))),
        tx(lambda b: b.publish(events_address, "topic-a", "bob has no role now"), bob),
        tx(lambda b: b.kv_set(data_address, "int", 4, 1)),
    ])
    blocks.append([])  # a seal: certifies the roots of the block before it
    blocks.append([tx(lambda b, i=i: b.kv_set(data_address, f"bulk-{i}", "v" * i)) for i in range(30)])
    return Workload(ledger, blocks, [bad_signature])


def block_time(index: int) -> int:
    return GENESIS_TIME + 1000 * (index + 1)


def summarize(results: Sequence[BlockResult]) -> list[dict[str, object]]:
    """What the golden file pins for each block."""
    return [
        {
            "height": result.header.height,
            "block_hash": result.block_hash.hex(),
            "tx_root": result.header.tx_root.hex(),
            "header_state_root": result.header.state_root.hex(),
            "state_root": result.roots.state_root.hex(),
            "accumulator_root": result.roots.accumulator_root.hex(),
            "accumulator_size": result.roots.accumulator_size,
            "statuses": [info.status for info in result.tx_infos],
            "skipped_duplicates": len(result.skipped_duplicates),
        }
        for result in results
    ]


def replay_ledger(hash_algorithm: str) -> list[dict[str, object]]:
    """Apply the workload's blocks, builder objects straight into the ledger."""
    workload = build_workload(hash_algorithm)
    ledger = workload.ledger
    results = []
    for index, txs in enumerate(workload.blocks):
        block = ledger.make_block(txs, time=block_time(index), proposer=b"")
        results.append(ledger.apply_block(block))
    return summarize(results)


def golden() -> dict[str, dict[str, list[dict[str, object]]]]:
    loaded: dict[str, dict[str, list[dict[str, object]]]] = json.loads(GOLDEN.read_text())
    return loaded


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print(__doc__)
        return 2
    figures = {name: {"ledger": replay_ledger(name)} for name in HASH_ALGORITHMS}
    GOLDEN.write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
