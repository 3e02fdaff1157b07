"""The WebAssembly engine through the real executor: engine identity, gas on every outcome,
the gas ceiling, and a contract's authority (no confused deputy, no re-entrancy by default)."""

from __future__ import annotations

import pytest

from contracts.runtime import SandboxRuntime
from ledger.contract_api import ContractEngineMismatch
from ledger.crypto import address_from_public_key
from ledger.errors import NotFound
from ledger.ledger import Ledger
from ledger.store.memory import MemoryStore

from tests.contracts.wasm_kit import deploy, shared_runtime, wasm_chain
from tests.unit.ledger.ledger_testkit import make_chain, seeded_keypair

STORE = '''
from jadechain import contract, callable

@contract
class Store:
    @callable
    def put(self, account: str, key: str, value: str) -> int:
        return self.ctx.set(account, key, value, self.ctx.get_version(account, key))

    @callable
    def put_at(self, account: str, key: str, value: str, expected: int) -> int:
        return self.ctx.set(account, key, value, expected)

    @callable
    def make_account(self, address: str, public_key: bytes) -> str:
        self.ctx.register_data_account(address, public_key)
        return address
'''


def test_ledger_records_the_engine_identity_at_genesis() -> None:
    chain = wasm_chain()
    assert chain.ledger.settings.contract_engine == shared_runtime().identity
    assert "wasmtime=" in chain.ledger.settings.contract_engine
    assert "micropython-wasi=sha256:" in chain.ledger.settings.contract_engine


@pytest.mark.parametrize("recorded", ["jadechain-wasm/1 wasmtime=0.0.1 micropython-wasi=sha256:00", ""])
def test_ledger_refuses_to_execute_with_a_mismatched_engine(recorded: str) -> None:
    chain = wasm_chain(identity=recorded) if recorded else make_chain(1, runtime=shared_runtime(), contract_engine="")
    pair = seeded_keypair("mismatch")
    height = chain.ledger.height
    with pytest.raises(ContractEngineMismatch):
        chain.commit(chain.tx(lambda b: b.deploy_contract(pair.public.encoded, STORE, 1)))
    assert chain.ledger.height == height  # the block is not applied: no divergent state


def test_a_legacy_node_refuses_a_wasm_ledger() -> None:
    chain = wasm_chain()
    replica = Ledger.create(MemoryStore(), chain.ledger.get_block(0), runtime=SandboxRuntime())
    pair = seeded_keypair("legacy")
    with pytest.raises(ContractEngineMismatch):
        replica.apply_block(replica.make_block(
            [chain.tx(lambda b: b.deploy_contract(pair.public.encoded, STORE, 1))], time=chain.time + 1000))
    assert replica.height == 0


def test_gas_is_recorded_for_a_version_conflict_and_other_failures() -> None:
    chain = wasm_chain()
    address, status = deploy(chain, "store", STORE)
    assert status == "SUCCESS"
    ok = chain.tx(lambda b: b.invoke(address, "put", address, "k", "v"))
    conflict = chain.tx(lambda b: b.invoke(address, "put_at", address, "k", "w", 7))
    result = chain.commit(ok, conflict)
    assert [i.status for i in result.tx_infos] == ["SUCCESS", "VERSION_CONFLICT"]
    assert result.tx_infos[0].gas_used > 0
    assert result.tx_infos[1].gas_used > 0


def test_default_gas_limit_is_a_ceiling() -> None:
    chain = wasm_chain(extra="default_gas_limit = 500000")
    address, _ = deploy(chain, "store", STORE)
    over = chain.tx(lambda b: b.invoke(address, "put", address, "k", "v", gas_limit=500_001))
    at = chain.tx(lambda b: b.invoke(address, "put", address, "k", "v", gas_limit=500_000))
    assert chain.statuses(over, at) == ["INVALID_OPERATION", "SUCCESS"]


def test_a_contract_cannot_write_the_invokers_account_with_the_invokers_authority() -> None:
    chain = wasm_chain()
    victim = chain.new_data_account("victim-data")  # owned by the admin, who invokes below
    address, _ = deploy(chain, "deputy", STORE)
    attack = chain.tx(lambda b: b.invoke(address, "put", victim, "balance", "stolen"))
    assert chain.statuses(attack) == ["PERMISSION_DENIED"]
    with pytest.raises(NotFound):
        chain.ledger.get_entry(victim, "balance")


def test_a_contract_writes_an_account_that_granted_it() -> None:
    chain = wasm_chain()
    address, _ = deploy(chain, "granted", STORE)
    pair = seeded_keypair("contract-owned")
    owned = address_from_public_key(pair.public)
    make = chain.tx(lambda b: b.invoke(address, "make_account", owned, pair.public.encoded))
    write = chain.tx(lambda b: b.invoke(address, "put", owned, "k", "v"))
    assert chain.statuses(make, write) == ["SUCCESS", "SUCCESS"]
    assert chain.ledger.get_entry(owned, "k").value.to_python() == "v"


REENTER = '''
from jadechain import contract, callable, reentrant

@contract
class Bank:
    @callable
    def withdraw(self, depth: int) -> int:
        me = self.ctx.address
        balance = self.ctx.get(me, "balance") or 0
        if depth > 0:
            self.ctx.call(me, "withdraw", [depth - 1])
        self.ctx.set(me, "balance", balance + 1, self.ctx.get_version(me, "balance"))
        return balance

    @reentrant
    def ping(self, depth: int) -> int:
        if depth > 0:
            return 1 + self.ctx.call(self.ctx.address, "ping", [depth - 1])
        return 0
'''


def test_reentrancy_is_refused_by_default_and_allowed_per_method() -> None:
    chain = wasm_chain()
    address, status = deploy(chain, "bank", REENTER)
    assert status == "SUCCESS"
    reenter = chain.tx(lambda b: b.invoke(address, "withdraw", 1))
    plain = chain.tx(lambda b: b.invoke(address, "withdraw", 0))
    opted = chain.tx(lambda b: b.invoke(address, "ping", 2))
    result = chain.commit(reenter, plain, opted)
    assert [i.status for i in result.tx_infos] == ["CONTRACT_FAULT", "SUCCESS", "SUCCESS"]
    assert result.tx_infos[0].gas_used > 0
    assert chain.ledger.get_entry(address, "balance").value.to_python() == 1


def test_a_node_engine_set_runs_each_ledger_with_the_engine_it_recorded() -> None:
    from contracts import EngineSet

    engines = EngineSet()
    wasm = wasm_chain(runtime=engines)
    legacy = make_chain(1, runtime=engines, contract_engine="")
    for chain in (wasm, legacy):
        address, status = deploy(chain, "engine-set", STORE)
        assert status == "SUCCESS"
        assert chain.statuses(chain.tx(lambda b: b.invoke(address, "put", address, "k", "v"))) == ["SUCCESS"]
    assert wasm.results[-1].tx_infos[0].gas_used != legacy.results[-1].tx_infos[0].gas_used  # two engines, two meters
    stranger = wasm_chain(runtime=engines, identity="jadechain-wasm/1 wasmtime=999")
    pair = seeded_keypair("stranger")
    with pytest.raises(ContractEngineMismatch):
        stranger.commit(stranger.tx(lambda b: b.deploy_contract(pair.public.encoded, STORE, 1)))
