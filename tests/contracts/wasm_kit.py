"""A dev ledger that runs contracts in the WebAssembly engine (its identity recorded at genesis)."""

from __future__ import annotations

import hashlib
import json

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


def traceability_brand(chain: Chain, seed: str) -> str:
    """Deploy the traceability app's contract, initialise it and register brand prefix 9521234 to the
    chain's admin (so a capture's company-prefix walk reads the registry); the contract's address."""
    from baas.apps.traceability.contract import CONTRACT_SOURCE

    pair = seeded_keypair(seed)
    contract = address_from_public_key(pair.public)
    admin = address_from_public_key(chain.admin.public)
    setup = chain.commit(chain.tx(lambda b: b.deploy_contract(pair.public.encoded, CONTRACT_SOURCE, 1)
                                  .invoke(contract, "init", admin)
                                  .invoke(contract, "register_brand", "9521234", admin, "Bench Tea")))
    assert [i.status for i in setup.tx_infos] == ["SUCCESS"], setup.tx_infos
    return contract


def capture_item(i: int) -> list[object]:
    """One event of a ``capture`` call (event id, hash, the brand's GS1 key, document, flags), the ``i``-th."""
    event = json.dumps({"type": "ObjectEvent", "n": i}, separators=(",", ":"))
    return [hashlib.sha256(b"e%d" % i).hexdigest(), hashlib.sha256(event.encode()).hexdigest(),
            ["https://id.gs1.org/01/09521234%06d" % (i % 1_000_000)], event, False, ""]
