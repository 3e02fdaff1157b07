"""Gas does not depend on how wasmtime lays out a new instance's memory on this platform.

wasmtime maps the MicroPython module's data segments copy-on-write where it can, and copies
them (burning fuel) where it cannot: a property of the platform or build, not of the contract.
Two nodes differing only in that must charge the same gas and reach the same roots.
"""

from __future__ import annotations

import contracts.vm as vm
from contracts.vm import WasmRuntime

from tests.contracts.test_wasm_ledger import STORE
from tests.contracts.wasm_kit import deploy, wasm_chain


def runtime(memory_init_cow: bool) -> WasmRuntime:
    engine = WasmRuntime()
    engine._engine = vm._engine(None, memory_init_cow=memory_init_cow)
    return engine


def test_the_same_gas_and_roots_with_and_without_copy_on_write_memory() -> None:
    outcomes = []
    for cow in (True, False):
        chain = wasm_chain(runtime=runtime(cow))
        address, status = deploy(chain, "platform-gas", STORE)
        assert status == "SUCCESS"
        result = chain.commit(chain.tx(lambda b: b.invoke(address, "put", address, "k", "v")))
        info = result.tx_infos[0]
        assert info.status == "SUCCESS" and info.gas_used > 0
        outcomes.append((info.gas_used, chain.ledger.roots_at(chain.ledger.height)))
    assert outcomes[0] == outcomes[1]


def test_an_empty_program_costs_the_same_either_way() -> None:
    used = []
    for cow in (True, False):
        engine = runtime(cow)
        run = engine._new_run(1_000_000, argv=[b"jadechain", b"-c", b"pass"])
        engine._execute(run)
        assert run.exit_code in (None, 0)
        used.append(run.gas_used())
    assert used[0] == used[1] > 0
