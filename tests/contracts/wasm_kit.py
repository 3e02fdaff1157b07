"""A dev ledger that runs contracts in the WebAssembly engine (its identity recorded at genesis)."""

from __future__ import annotations

from ledger.crypto import address_from_public_key
from ledger.ledger import Ledger
from ledger.store.memory import MemoryStore

from contracts.vm import WasmRuntime
from tests.unit.ledger.ledger_testkit import Chain, make_genesis, seeded_keypair

_RUNTIME: WasmRuntime | None = None


def shared_runtime() -> WasmRuntime:
    """One engine per test process (the module is compiled once, as on a node)."""
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = WasmRuntime()
    return _RUNTIME


def wasm_chain(n_founders: int = 1, runtime: object = None, identity: str | None = None, extra: str = "") -> Chain:
    engine = runtime if runtime is not None else shared_runtime()
    recorded = identity if identity is not None else shared_runtime().identity
    founders = [seeded_keypair(f"founder-{i}-ED25519") for i in range(n_founders)]
    genesis = make_genesis(founders, extra=f'contract_engine = "{recorded}"\n{extra}')
    ledger = Ledger.create(MemoryStore(), genesis, runtime=engine)
    return Chain(ledger, founders)


def deploy(chain: Chain, seed: str, source: str) -> tuple[str, str]:
    """Deploy ``source``; returns (contract address, deploy status)."""
    pair = seeded_keypair(seed)
    result = chain.commit(chain.tx(lambda b: b.deploy_contract(pair.public.encoded, source, 1)))
    return address_from_public_key(pair.public), result.tx_infos[0].status
