"""Hostile contracts against the WebAssembly engine, on the real ledger.

* ``hostile_wasm/``: one or more cases per root cause of issue 14 (finalisers, dunders, views,
  sets, ranges, huge literals, huge output, recursion, version-dependent messages,
  ``while True``, confused deputy, re-entrancy...). Each ends as a failed transaction with the
  code(s) its first line names (``# expect: A|B``, or ``reject`` at deploy).
* ``hostile/``: the legacy sandbox's corpus. Many of its attacks no longer apply (they attacked
  the CPython policy); under the new engine each must simply leave the host and chain intact.

Every block holds the deploy, the attack and a benign write; the chain keeps committing, and
three replicas in fresh processes (different hash seeds, recursion limits, GC thresholds,
data rlimits) reach identical roots, statuses and gas at every height.
"""

from __future__ import annotations

from pathlib import Path

from ledger.crypto import address_from_public_key

from tests.contracts.replay_wasm import assert_replicas_agree
from tests.contracts.wasm_kit import wasm_chain
from tests.unit.ledger.ledger_testkit import Chain, seeded_keypair

HERE = Path(__file__).resolve().parent
NEW_CORPUS = sorted((HERE / "hostile_wasm").glob("hostile_*.py"))
OLD_CORPUS = sorted((HERE / "hostile").glob("hostile_*.py"))
GAS_LIMIT = 300_000


def _expected(source: str) -> set[str]:
    first = source.split("\n", 1)[0]
    assert first.startswith("# expect: "), first
    return set(first[len("# expect: "):].strip().split("|"))


def _run(chain: Chain, account: str, paths: list[Path], strict: bool) -> dict[str, list[str]]:
    outcomes: dict[str, list[str]] = {}
    for number, path in enumerate(paths):
        source = path.read_text(encoding="utf-8").replace("VICTIM_ADDRESS", account)
        pair = seeded_keypair(f"wasm-hostile-{path.parent.name}-{path.stem}")
        address = address_from_public_key(pair.public)
        deploy = chain.tx(lambda b: b.deploy_contract(pair.public.encoded, source, 1))
        attack = chain.tx(lambda b: b.invoke(address, "attack", gas_limit=GAS_LIMIT))
        version = chain.ledger.get_entry(account, "counter").version
        benign = chain.tx(lambda b: b.kv_set(account, "counter", number, version))
        height = chain.ledger.height
        result = chain.commit(deploy, attack, benign)
        statuses = [info.status for info in result.tx_infos]
        assert chain.ledger.height == height + 1, path.name
        assert statuses[2] == "SUCCESS", (path.name, statuses)
        outcomes[path.name] = statuses
        if strict:
            expected = _expected(source)
            if expected == {"reject"}:
                assert statuses[:2] == ["CONTRACT_REJECTED", "CONTRACT_NOT_FOUND"], (path.name, statuses)
            else:
                assert statuses[0] == "SUCCESS", (path.name, statuses)
                assert statuses[1] in expected, (path.name, statuses, expected)
                assert result.tx_infos[1].gas_used > 0, path.name
    return outcomes


def test_new_corpus_fails_with_its_codes_and_replays_identically(tmp_path: Path) -> None:
    chain = wasm_chain()
    account = chain.new_data_account("benign")
    chain.commit(chain.tx(lambda b: b.kv_set(account, "counter", 0, -1)))
    outcomes = _run(chain, account, NEW_CORPUS, strict=True)
    assert len(outcomes) >= 25
    assert_replicas_agree(chain, tmp_path)


def test_legacy_corpus_leaves_the_host_and_chain_intact_and_replays_identically(tmp_path: Path) -> None:
    chain = wasm_chain()
    account = chain.new_data_account("benign")
    chain.commit(chain.tx(lambda b: b.kv_set(account, "counter", 0, -1)))
    outcomes = _run(chain, account, OLD_CORPUS, strict=False)
    assert len(outcomes) == len(OLD_CORPUS) >= 100
    assert chain.ledger.get_entry(account, "counter").version == len(OLD_CORPUS)
    assert_replicas_agree(chain, tmp_path)
