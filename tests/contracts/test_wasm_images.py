"""Contract images (``contracts.vm``): built once per node, identical everywhere, invisible to gas.

An image is the interpreter started and the contract loaded, snapshotted; every invocation
starts from a fresh copy. These tests check what makes that safe for consensus:

* the image is a deterministic function of the engine identity and the contract code: two
  independent builds (another process, another hash seed) give the same digest, and the
  traceability contract's digest is pinned, so a drift shows before it forks a ledger;
* gas and roots do not depend on cache state: a node that must rebuild the image on every call
  (a cache of one, two contracts alternating), a warm node and a fresh node agree exactly;
* nothing survives an invocation: module globals a call changes are back for the next call;
* the build is budgeted like the deploy check, and a contract that never finishes loading is refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from baas.apps.traceability.contract import CONTRACT_SOURCE
from contracts.vm import IMAGE_GAS, WasmRuntime
from ledger.crypto import address_from_public_key

from tests.contracts.wasm_kit import deploy, wasm_chain
from tests.unit.ledger.ledger_testkit import Chain, seeded_keypair

ROOT = Path(__file__).resolve().parents[2]

TRACEABILITY_IMAGE_DIGEST = "b59f6f64de2940496e785d3a8b650f7046b45be83735c6e62262f6c22ba77e16"
"""Changes only with the engine (its prelude, the interpreter build) or the traceability contract's source;
last moved by engine ABI 4 (the prelude turns MicroPython's collector off and stubs ``gc``; the fault
path reports a MemoryError without allocating; the long environment fields cross only when read; event
emitters are bound on the class once, in the image; ``ctx.address`` crosses as null) and contract v5
(the company-prefix walk starts at the longest candidate)."""
"""sha256 of the traceability contract's image under this engine identity (``ContractImage.digest``)."""

COUNTER = '''
from jadechain import contract, callable

CALLS = []

@contract
class Counter:
    @callable
    def bump(self, key: str) -> int:
        CALLS.append(key)
        self.ctx.set(self.ctx.address, key, len(CALLS), -1)
        return len(CALLS)
'''

OTHER = '''
from jadechain import contract, callable

@contract
class Other:
    @callable
    def put(self, key: str, value: str) -> int:
        me = self.ctx.address
        return self.ctx.set(me, key, value, self.ctx.get_version(me, key))
'''


def image_digest_in_another_process(seed: str) -> str:
    code = ("import sys; sys.path.insert(0, sys.argv[1]);"
            "from baas.apps.traceability.contract import CONTRACT_SOURCE;"
            "from contracts.vm import WasmRuntime;"
            "print(WasmRuntime().image(CONTRACT_SOURCE).digest)")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT)], env=dict(os.environ, PYTHONHASHSEED=seed),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_two_independent_builds_give_the_same_image() -> None:
    here = WasmRuntime().image(CONTRACT_SOURCE)
    again = WasmRuntime().image(CONTRACT_SOURCE)
    assert here == again and here.digest == again.digest
    assert image_digest_in_another_process("1") == here.digest
    assert image_digest_in_another_process("777") == here.digest
    assert here.digest == TRACEABILITY_IMAGE_DIGEST
    assert 0 < here.load_gas <= IMAGE_GAS
    assert here.page_count < 64  # a diff against blank memory, not a copy of all of it


def run_workload(runtime: WasmRuntime) -> list[object]:
    chain = wasm_chain(runtime=runtime)
    counter, status = deploy(chain, "image-counter", COUNTER)
    assert status == "SUCCESS"
    other, status = deploy(chain, "image-other", OTHER)
    assert status == "SUCCESS"
    outcomes: list[object] = []
    for i in range(4):
        result = chain.commit(
            chain.tx(lambda b, i=i: b.invoke(counter, "bump", f"k{i}")),
            chain.tx(lambda b, i=i: b.invoke(other, "put", f"k{i}", "v")),
            chain.tx(lambda b, i=i: b.invoke(counter, "bump", f"k{i}")),  # the key exists: a failed write
        )
        outcomes.append([(info.status, info.gas_used) for info in result.tx_infos])
        outcomes.append(chain.ledger.roots_at(chain.ledger.height))
    return outcomes


def test_gas_and_roots_do_not_depend_on_the_image_cache() -> None:
    warm = WasmRuntime()
    run_workload(warm)
    rebuilding = WasmRuntime(cache_size=1)
    outcomes = run_workload(rebuilding)
    assert outcomes == run_workload(warm) == run_workload(WasmRuntime())
    assert rebuilding.image_builds > 8  # it really rebuilt (two contracts, a cache of one)


def test_nothing_survives_an_invocation() -> None:
    chain = wasm_chain()
    counter, _ = deploy(chain, "image-counter-2", COUNTER)
    results = [chain.commit(chain.tx(lambda b, i=i: b.invoke(counter, "bump", f"key{i}"))) for i in range(3)]
    assert [r.tx_infos[0].status for r in results] == ["SUCCESS"] * 3
    for i in range(3):
        assert chain.ledger.get_entry(counter, f"key{i}").value.to_python() == 1  # CALLS starts empty each time


def test_a_contract_that_does_not_finish_loading_is_refused_at_deploy() -> None:
    chain: Chain = wasm_chain()
    source = "while True:\n    pass\n" + OTHER
    pair = seeded_keypair("image-never-loads")
    result = chain.commit(chain.tx(lambda b: b.deploy_contract(pair.public.encoded, source, 1)))
    assert result.tx_infos[0].status == "CONTRACT_REJECTED"
    invoke = chain.commit(chain.tx(lambda b: b.invoke(address_from_public_key(pair.public), "put", "k", "v")))
    assert invoke.tx_infos[0].status == "CONTRACT_NOT_FOUND"


def test_the_image_cache_is_bounded_by_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A contract whose top level fills the heap has an image of megabytes: the cache counts bytes too."""
    import contracts.vm as vm

    runtime = WasmRuntime()
    big = "BALLAST = (b\"x\" * 1024) * 3072\n" + OTHER
    heavy = runtime.image(big)
    heavy_bytes = heavy.page_count * 4096
    assert heavy_bytes > 3 * 1024 * 1024
    small_bytes = max(WasmRuntime().image(source).page_count for source in (COUNTER, OTHER)) * 4096
    limit = heavy_bytes + small_bytes  # room for the heavy image and one small one, not two
    monkeypatch.setattr(vm, "IMAGE_CACHE_BYTES", limit)
    runtime.image(COUNTER)
    runtime.image(OTHER)
    assert len(runtime._images) == 2 and runtime._image_bytes <= limit  # the heavy one went first
    assert runtime.image(big) == heavy  # rebuilt, identical
