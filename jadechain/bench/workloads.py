"""What a benchmark offers the chain: pre-built, pre-signed transactions of one kind (or a mix).

A workload has two phases, both done before the clock starts:

* ``setup_transactions(builder, admin)`` — the accounts and contracts it needs (registered by the
  ledger admin, committed and waited for by the runner);
* ``generate(count, ...)`` — ``count`` signed, encoded transactions, each distinct (its own key
  or sequence, its own nonce), returned as ``(tx hash base58, encoded bytes)``.

Signing is what a client does, not what the chain does, so it is never part of the measurement.
Kinds (``WORKLOADS``):

``kv-write``   one KV set per transaction into a data account (the DESIGN.md target workload);
``kv-read``    KV reads over HTTP of keys written in setup (queries, not transactions);
``contract``   invoke of a small contract that reads a version, writes an entry and emits an event;
``trace``      invoke of a traceability-style contract: an EPCIS-like event (EPC, step, location,
               time) recorded under the item and its lot, with a per-item history counter and an event;
``event``      publish of one event to an event account topic;
``evidence``   an evidence-preservation record (SM3/SHA-256 file fingerprints, title, parties) put
               under its record id, the footprint of the evidence app's ``preserve``;
``mix``        kv-write 40 %, contract 20 %, trace 15 %, event 15 %, evidence 10 %, interleaved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ledger import codec
from ledger.crypto import KeyPair, address_from_public_key, generate_keypair, to_base58
from ledger.transactions import TransactionBuilder, hash_transaction_content
from ledger.types import Transaction

__all__ = [
    "MIX_WEIGHTS",
    "WORKLOADS",
    "SignedTx",
    "Workload",
    "make_workload",
    "mix_schedule",
]

SignedTx = tuple[str, bytes]
"""(transaction hash in base58, ``codec.encode(Transaction)``)."""

BuilderFactory = Callable[[], TransactionBuilder]

WORKLOADS = ("kv-write", "kv-read", "contract", "trace", "event", "evidence", "mix")
MIX_WEIGHTS: dict[str, int] = {"kv-write": 40, "contract": 20, "trace": 15, "event": 15, "evidence": 10}

COUNTER_CONTRACT = '''
from jadechain import contract, callable, event

EVENTS = ["stored"]


@contract
class Store:
    @event
    def stored(self, key: str, version: int): ...

    @callable
    def put(self, key: str, value: str) -> int:
        me = self.ctx.address
        version = self.ctx.get_version(me, key)
        new_version = self.ctx.set(me, key, value, version)
        self.stored(key=key, version=new_version)
        return new_version
'''

TRACE_CONTRACT = '''
from jadechain import contract, callable, event

EVENTS = ["captured"]


@contract
class Trace:
    @event
    def captured(self, epc: str, step: str, count: int): ...

    @callable
    def capture(self, event_id: str, epc: str, lot: str, step: str, location: str, time: int) -> int:
        me = self.ctx.address
        if self.ctx.get_version(me, "event:" + event_id) >= 0:
            self.ctx.revert("event already captured")
        self.ctx.set(me, "event:" + event_id, {"epc": epc, "lot": lot, "step": step, "where": location,
                                               "when": time, "by": self.ctx.caller}, -1)
        count_key = "count:" + epc
        count = self.ctx.get(me, count_key)
        count = 1 if count is None else count + 1
        self.ctx.set(me, count_key, count, self.ctx.get_version(me, count_key))
        self.ctx.set(me, "item:" + epc + ":" + str(count), event_id, -1)
        self.ctx.set(me, "lot:" + lot + ":" + epc, step, self.ctx.get_version(me, "lot:" + lot + ":" + epc))
        self.captured(epc=epc, step=step, count=count)
        return count
'''

_STEPS = ("commissioning", "packing", "shipping", "receiving", "retail_selling")


def _signed(tx: Transaction) -> SignedTx:
    return to_base58(hash_transaction_content(tx.content)), codec.encode(tx)


@dataclass
class Workload:
    """One kind of load; ``run_id`` keeps keys of repeated runs on one ledger apart."""

    kind: str
    run_id: str = "r0"
    data_account: str | None = None
    event_account: str | None = None
    contract_address: str | None = None
    trace_address: str | None = None
    setup_keys: dict[str, KeyPair] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in WORKLOADS:
            raise ValueError(f"unknown workload {self.kind!r}; choose one of {', '.join(WORKLOADS)}")

    @property
    def is_read(self) -> bool:
        return self.kind == "kv-read"

    def kinds_used(self) -> tuple[str, ...]:
        if self.kind == "mix":
            return tuple(MIX_WEIGHTS)
        if self.kind == "kv-read":
            return ("kv-write",)
        return (self.kind,)

    def setup_transactions(self, builder: BuilderFactory, admin: KeyPair) -> list[Transaction]:
        """Transactions that create what the workload writes to (one per account or contract)."""
        algorithm = admin.public.algorithm
        kinds = self.kinds_used()
        txs: list[Transaction] = []
        if {"kv-write", "evidence"} & set(kinds):
            pair = self.setup_keys["data"] = generate_keypair(algorithm)
            self.data_account = address_from_public_key(pair.public)
            txs.append(builder().register_data_account(pair.public.encoded).sign(admin))
        if "event" in kinds:
            pair = self.setup_keys["event"] = generate_keypair(algorithm)
            self.event_account = address_from_public_key(pair.public)
            txs.append(builder().register_event_account(pair.public.encoded).sign(admin))
        if "contract" in kinds:
            pair = self.setup_keys["contract"] = generate_keypair(algorithm)
            self.contract_address = address_from_public_key(pair.public)
            txs.append(builder().deploy_contract(pair.public.encoded, COUNTER_CONTRACT).sign(admin))
        if "trace" in kinds:
            pair = self.setup_keys["trace"] = generate_keypair(algorithm)
            self.trace_address = address_from_public_key(pair.public)
            txs.append(builder().deploy_contract(pair.public.encoded, TRACE_CONTRACT).sign(admin))
        return txs

    def build(self, kind: str, index: int, builder: TransactionBuilder) -> TransactionBuilder:
        """Add the operation of transaction ``index`` of ``kind`` to ``builder``."""
        tag = f"{self.run_id}-{index:08d}"
        if kind in ("kv-write", "kv-read"):
            assert self.data_account is not None, "setup_transactions first"
            return builder.kv_set(self.data_account, f"key-{tag}", f"value-{index:012d}", -1)
        if kind == "event":
            assert self.event_account is not None, "setup_transactions first"
            return builder.publish(self.event_account, f"topic-{index % 8}", {"n": index, "run": self.run_id})
        if kind == "contract":
            assert self.contract_address is not None, "setup_transactions first"
            return builder.invoke(self.contract_address, "put", f"key-{tag}", f"value-{index:012d}")
        if kind == "trace":
            assert self.trace_address is not None, "setup_transactions first"
            epc = f"urn:epc:id:sgtin:0614141.812345.{self.run_id}{index // len(_STEPS)}"
            step = _STEPS[index % len(_STEPS)]
            return builder.invoke(self.trace_address, "capture", f"ni:///sha-256;{tag}", epc,
                                  f"LOT-{index // 500:05d}", step, f"urn:epc:id:sgln:0614141.00777.{index % 40}",
                                  1_700_000_000_000 + index)
        if kind == "evidence":
            assert self.data_account is not None, "setup_transactions first"
            content = f"evidence file {tag}".encode()
            record = {
                "id": hashlib.sha256(content).hexdigest()[:32],
                "core": {"title": f"contract scan {tag}", "type": "file",
                         "digests": {"SHA256": hashlib.sha256(content).hexdigest(),
                                     "SM3": hashlib.new("sm3", content).hexdigest()
                                     if "sm3" in hashlib.algorithms_available else hashlib.sha256(b"sm3" + content).hexdigest()},
                         "size": len(content), "parties": [{"name": "Org A", "role": "applicant"}]},
                "status": "COMPLETE", "signatures": [],
            }
            return builder.kv_set(self.data_account, f"evidence:{record['id']}",
                                  json.dumps(record, sort_keys=True, separators=(",", ":")), -1)
        raise ValueError(f"unknown transaction kind {kind!r}")

    def generate(
        self, count: int, builder: BuilderFactory, signer: KeyPair, start: int = 0,
        progress: Callable[[int], None] | None = None,
    ) -> list[SignedTx]:
        """``count`` signed, encoded transactions numbered ``start`` … ``start + count - 1``."""
        schedule = mix_schedule(self.kind)
        out: list[SignedTx] = []
        for index in range(start, start + count):
            kind = schedule[index % len(schedule)]
            out.append(_signed(self.build(kind, index, builder()).sign(signer)))
            if progress is not None and (index - start) % 1000 == 999:
                progress(1000)
        if progress is not None:
            progress(count % 1000)
        return out

    def read_keys(self, written: int) -> list[tuple[str, str]]:
        """(data account, key) pairs a kv-read run queries: those of the first ``written`` writes."""
        assert self.data_account is not None
        return [(self.data_account, f"key-{self.run_id}-{index:08d}") for index in range(written)]


def mix_schedule(kind: str) -> Sequence[str]:
    """The repeating sequence of transaction kinds: interleaved by weight for ``mix``."""
    if kind != "mix":
        return (kind,)
    schedule: list[str] = []
    remaining = dict(MIX_WEIGHTS)
    total = sum(MIX_WEIGHTS.values())
    # Smooth weighted round-robin: each kind appears at its share, spread out (not in runs).
    credit = {name: 0 for name in MIX_WEIGHTS}
    for _ in range(total):
        for name, weight in MIX_WEIGHTS.items():
            credit[name] += weight
        chosen = max(credit, key=lambda name: credit[name])
        credit[chosen] -= total
        remaining[chosen] -= 1
        schedule.append(chosen)
    return tuple(schedule)


def make_workload(kind: str, run_id: str = "r0") -> Workload:
    return Workload(kind, run_id)
