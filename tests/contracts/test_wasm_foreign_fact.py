"""``ctx.verified_fact`` in the WebAssembly engine: a contract on ledger B relies on a fact of ledger A.

Ledger B follows ledger A with a light client (``ledger/light_client.py``); a contract on B checks
A's proof bundle through its context and acts on the proven claim. A forged or mismatched bundle
fails the transaction with the light client's own stable code, and nothing the contract wrote
stays; a replica replaying B's blocks reaches the same roots and gas.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ledger.contract_api import ForeignFacts
from ledger.crypto import to_base58
from ledger.executor import LedgerContractContext
from ledger.ledger import Ledger
from ledger.store.memory import MemoryStore
from ledger.types import CreateLightClient
from tests.contracts.wasm_kit import deploy, wasm_chain
from tests.unit.ledger.ledger_testkit import Chain
from tests.unit.ledger.test_light_client import lab_ledger
from ledger.proofs import build_entry_bundle

INSPECTION = '''
import json
from jadechain import contract, callable

@contract
class Inspection:
    @callable
    def accept(self, ledger: bytes, bundle: str, key: str) -> str:
        claim = self.ctx.verified_fact(ledger, bundle, {"key": key})
        self.ctx.set(self.ctx.address, "lot", claim["value"]["value"], -1)
        return claim["key"]

    @callable
    def accept_base58(self, ledger: str, bundle: str) -> str:
        return self.ctx.verified_fact(ledger, json.loads(bundle), None, 0)["key"]
'''


@pytest.fixture
def world() -> dict[str, Any]:
    lab, account = lab_ledger()
    brand = wasm_chain(1)
    create = CreateLightClient(lab.ledger.ledger_hash, "lab", 0, 0, lab.ledger.validator_set(0).public_keys)
    assert brand.statuses(brand.tx(lambda b: b.add(create))) == ["SUCCESS"]
    bundle = json.loads(json.dumps(build_entry_bundle(lab.ledger, account, "lot/L7")))
    address, status = deploy(brand, "inspection", INSPECTION)
    assert status == "SUCCESS"
    return {"lab": lab, "brand": brand, "bundle": bundle, "contract": address}


def accept(world: dict[str, Any], bundle: dict[str, Any], key: str = "lot/L7") -> tuple[str, int]:
    brand: Chain = world["brand"]
    lab: Chain = world["lab"]
    tx = brand.tx(lambda b: b.invoke(world["contract"], "accept", lab.ledger.ledger_hash, json.dumps(bundle), key))
    info = brand.commit(tx).tx_infos[0]
    return info.status, info.gas_used


def stored_lot(world: dict[str, Any]) -> object:
    brand: Chain = world["brand"]
    from ledger.state import WorkingState

    state = WorkingState(brand.ledger.store, brand.ledger.hash_fn)
    version = state.get_latest_version(world["contract"], "lot")
    record = state.get_entry(world["contract"], "lot", version)
    return None if record is None else record.value.to_python()


def test_the_ledger_context_offers_foreign_facts() -> None:
    assert issubclass(LedgerContractContext, ForeignFacts)


def test_a_contract_acts_on_a_certified_fact_of_another_ledger(world: dict[str, Any]) -> None:
    status, gas = accept(world, world["bundle"])
    assert status == "SUCCESS"
    assert gas > 20_000  # the fact's base price is charged
    assert stored_lot(world) == {"inspection": "passed"}
    brand: Chain = world["brand"]
    lab: Chain = world["lab"]
    by_name = brand.tx(lambda b: b.invoke(world["contract"], "accept_base58", to_base58(lab.ledger.ledger_hash),
                                          json.dumps(world["bundle"])))
    assert brand.statuses(by_name) == ["SUCCESS"]


def test_forged_or_mismatched_facts_fail_with_the_light_client_codes(world: dict[str, Any]) -> None:
    forged = copy.deepcopy(world["bundle"])
    forged["header"]["certificate"]["signatures"] = forged["header"]["certificate"]["signatures"][:2]
    assert accept(world, forged)[0] == "FOREIGN_PROOF_INVALID"
    uncertified = copy.deepcopy(world["bundle"])
    uncertified["header"]["certificate"] = None
    assert accept(world, uncertified)[0] == "FOREIGN_PROOF_UNCERTIFIED"
    status, gas = accept(world, world["bundle"], key="lot/L8")
    assert status == "FOREIGN_FACT_MISMATCH" and gas > 0
    assert stored_lot(world) is None  # nothing written by a failed transaction
    assert accept(world, world["bundle"])[0] == "SUCCESS"


def test_a_replica_replays_facts_to_the_same_roots_and_gas(world: dict[str, Any]) -> None:
    outcomes = [accept(world, world["bundle"], key="lot/L8"), accept(world, world["bundle"])]
    brand: Chain = world["brand"]
    replica = Ledger.create(MemoryStore(), brand.ledger.get_block(0), runtime=brand.ledger.runtime)
    replayed = []
    for height in range(1, brand.ledger.height + 1):
        result = replica.apply_block(brand.ledger.get_block(height))
        assert result.roots == brand.ledger.roots_at(height)
        replayed.extend((i.status, i.gas_used) for i in result.tx_infos)
    assert replayed[-2:] == outcomes
