"""Contracts run by the ledger's executor through the sandbox: lifecycle, gas, rollback, events."""

from __future__ import annotations

import pytest

from ledger.crypto import address_from_public_key
from ledger.types import AccountState, UpdateAccountState, UpgradeContract

from tests.unit.ledger.ledger_testkit import Chain, make_chain, seeded_keypair

contracts = pytest.importorskip("contracts")

COUNTER = '''
from jadechain import contract, callable, event

@contract
class Counter:
    @event
    def bumped(self, key: str, version: int): ...

    @callable
    def bump(self, key: str, value: str) -> int:
        me = self.ctx.address
        version = self.ctx.set(me, key, value, self.ctx.get_version(me, key))
        self.bumped(key=key, version=version)
        return version

    @callable
    def bump_then_revert(self, key: str) -> int:
        me = self.ctx.address
        self.ctx.set(me, key, "doomed", self.ctx.get_version(me, key))
        self.ctx.revert("changed my mind")
        return 0

    @callable
    def spin(self, rounds: int) -> int:
        me = self.ctx.address
        self.ctx.set(me, "spun", "yes", self.ctx.get_version(me, "spun"))
        total = 0
        for i in range(rounds):
            total += i
        return total
'''

COUNTER_V2 = COUNTER.replace("class Counter:", "class Counter:\n    @callable\n    def version(self) -> int:\n        return 2\n")

HOSTILE = '''
from jadechain import contract, callable

@contract
class Escape:
    @callable
    def run(self) -> str:
        return ().__class__.__bases__[0].__subclasses__()
'''


def deploy(chain: Chain, source: str, seed: str = "counter") -> tuple[str, list[str]]:
    pair = seeded_keypair(seed)
    statuses = chain.statuses(chain.tx(lambda b: b.deploy_contract(pair.public.encoded, source, 1)))
    return address_from_public_key(pair.public), statuses


@pytest.fixture
def chain() -> Chain:
    return make_chain(runtime=contracts.EngineSet())


def test_deploy_invoke_writes_storage_emits_events_and_records_gas(chain: Chain) -> None:
    address, statuses = deploy(chain, COUNTER)
    assert statuses == ["SUCCESS"]
    assert chain.ledger.get_contract(address).source == COUNTER
    result = chain.commit(chain.tx(lambda b: b.invoke(address, "bump", "k1", "v0")))
    info = result.tx_infos[0]
    assert info.status == "SUCCESS" and info.gas_used > 0
    assert chain.ledger.get_entry(address, "k1").value.to_python() == "v0"
    assert [e.topic for e in result.events] == ["bumped"]
    # Same call on same-sized data: the same gas (gas is charged per byte stored).
    again = chain.commit(chain.tx(lambda b: b.invoke(address, "bump", "k2", "v0")))
    assert again.tx_infos[0].gas_used == info.gas_used


def test_revert_and_out_of_gas_discard_writes_but_record_gas(chain: Chain) -> None:
    address, _ = deploy(chain, COUNTER)
    reverted = chain.commit(chain.tx(lambda b: b.invoke(address, "bump_then_revert", "k")))
    assert reverted.tx_infos[0].status == "CONTRACT_REVERTED"
    assert chain.ledger.get_latest_version(address, "k") == -1
    starved = chain.commit(chain.tx(lambda b: b.invoke(address, "spin", 10**9, gas_limit=50_000)))
    info = starved.tx_infos[0]
    assert info.status == "OUT_OF_GAS" and info.gas_used > 0
    assert chain.ledger.get_latest_version(address, "spun") == -1
    assert starved.events == ()


LOOPS_AT_LOAD = '''
from jadechain import contract, callable
while True:
    pass

@contract
class Looper:
    @callable
    def run(self) -> int:
        return 1
'''


def test_hostile_source_stays_inside_the_vm(chain: Chain) -> None:
    """WebAssembly engine (every new ledger): no name policy to slip past, nothing of the host to reach."""
    address, statuses = deploy(chain, HOSTILE, "hostile")
    assert statuses == ["SUCCESS"]
    result = chain.commit(chain.tx(lambda b: b.invoke(address, "run")))
    assert result.tx_infos[0].status == "CONTRACT_FAULT"
    assert result.tx_infos[0].gas_used > 0
    _, statuses = deploy(chain, LOOPS_AT_LOAD, "looper")
    assert statuses == ["CONTRACT_REJECTED"]


def test_hostile_source_is_rejected_at_deploy_on_a_legacy_ledger() -> None:
    legacy = make_chain(runtime=contracts.EngineSet(), contract_engine="")
    _, statuses = deploy(legacy, HOSTILE, "hostile")
    assert statuses == ["CONTRACT_REJECTED"]


def test_upgrade_needs_owner_and_a_higher_version(chain: Chain) -> None:
    address, _ = deploy(chain, COUNTER)
    alice = chain.new_user("alice")
    assert chain.statuses(chain.tx(lambda b: b.add(UpgradeContract(address, COUNTER_V2, 2)), alice)) == ["PERMISSION_DENIED"]
    assert chain.statuses(chain.tx(lambda b: b.add(UpgradeContract(address, COUNTER_V2, 1)))) == ["INVALID_OPERATION"]
    assert chain.statuses(chain.tx(lambda b: b.add(UpgradeContract(address, COUNTER_V2, 2)))) == ["SUCCESS"]
    record = chain.ledger.get_contract(address)
    assert record.version == 2 and record.source == COUNTER_V2
    result = chain.commit(chain.tx(lambda b: b.invoke(address, "version")))
    assert result.tx_infos[0].status == "SUCCESS"


def test_freeze_unfreeze_revoke(chain: Chain) -> None:
    address, _ = deploy(chain, COUNTER)
    chain.commit(chain.tx(lambda b: b.add(UpdateAccountState(address, AccountState.FROZEN))))
    assert chain.statuses(chain.tx(lambda b: b.invoke(address, "bump", "k", "v"))) == ["ACCOUNT_FROZEN"]
    chain.commit(chain.tx(lambda b: b.add(UpdateAccountState(address, AccountState.NORMAL))))
    assert chain.statuses(chain.tx(lambda b: b.invoke(address, "bump", "k", "v"))) == ["SUCCESS"]
    chain.commit(chain.tx(lambda b: b.add(UpdateAccountState(address, AccountState.REVOKED))))
    assert chain.statuses(chain.tx(lambda b: b.invoke(address, "bump", "k", "v"))) == ["ACCOUNT_REVOKED"]


def test_unknown_contract_and_method(chain: Chain) -> None:
    address, _ = deploy(chain, COUNTER)
    nowhere = address_from_public_key(seeded_keypair("nowhere").public)
    assert chain.statuses(chain.tx(lambda b: b.invoke(nowhere, "bump", "k", "v"))) == ["CONTRACT_NOT_FOUND"]
    status = chain.statuses(chain.tx(lambda b: b.invoke(address, "no_such_method")))[0]
    assert status != "SUCCESS"
