"""The escape corpus run by the real ledger: every attack fails, the chain keeps committing,
and a replica replaying the same blocks reaches the same roots (failures and gas are deterministic)."""

from __future__ import annotations

from pathlib import Path

from contracts import SandboxRuntime
from ledger.crypto import address_from_public_key
from ledger.ledger import Ledger
from ledger.store.memory import MemoryStore

from tests.unit.ledger.ledger_testkit import make_chain, seeded_keypair

HERE = Path(__file__).resolve().parent
CORPUS = sorted((HERE / "hostile").glob("hostile_*.py"))
GAS_LIMIT = 300_000


def test_hostile_contracts_never_stop_the_chain_and_replay_identically() -> None:
    chain = make_chain(runtime=SandboxRuntime(), contract_engine="")  # the legacy engine serves old ledgers only
    account = chain.new_data_account("benign")
    rejected = stopped = 0
    for number, path in enumerate(CORPUS):
        source = path.read_text(encoding="utf-8")
        expect = source.split("\n", 1)[0]
        pair = seeded_keypair(f"hostile-{path.stem}")
        address = address_from_public_key(pair.public)
        deploy = chain.tx(lambda b: b.deploy_contract(pair.public.encoded, source, 1))
        attack = chain.tx(lambda b: b.invoke(address, "attack", gas_limit=GAS_LIMIT))
        benign = chain.tx(lambda b: b.kv_set(account, "counter", number, number - 1))
        height_before = chain.ledger.height
        statuses = chain.statuses(deploy, attack, benign)
        assert chain.ledger.height == height_before + 1, path.name
        assert statuses[2] == "SUCCESS", (path.name, statuses)
        assert statuses[1] != "SUCCESS", (path.name, statuses)
        if "expect: reject" in expect:
            assert statuses[0] == "CONTRACT_REJECTED", (path.name, statuses)
            assert statuses[1] == "CONTRACT_NOT_FOUND", (path.name, statuses)
            rejected += 1
        else:
            assert statuses[0] == "SUCCESS", (path.name, statuses)
            stopped += 1
    assert rejected >= 20 and stopped >= 20
    assert chain.ledger.get_entry(account, "counter").value.to_python() == len(CORPUS) - 1

    replica = Ledger.create(MemoryStore(), chain.ledger.get_block(0), runtime=SandboxRuntime())
    for height in range(1, chain.ledger.height + 1):
        result = replica.apply_block(chain.ledger.get_block(height))
        assert result.roots == chain.ledger.roots_at(height), f"divergence at height {height}"
