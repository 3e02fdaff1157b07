"""The offline proof verifier rejects every mutated bundle with ProofError and nothing else,
and never accepts a bundle whose claim was changed."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import ProofError
from ledger.light_client import LightClientError, new_light_client, verify_fact
from ledger.proofs import build_entry_bundle, build_transaction_bundle, verify_bundle

from tests.unit.ledger.ledger_testkit import make_chain
from tests.unit.ledger.test_ledger_proofs import certify

EXAMPLES = int(os.environ.get("JADECHAIN_FUZZ_EXAMPLES", "300"))


CHAIN = make_chain()
LIGHT_CLIENT = new_light_client(CHAIN.ledger.ledger_hash, "fuzzed", 0, 0, CHAIN.ledger.validator_set(0).public_keys)


def _bundles() -> list[dict[str, Any]]:
    chain = CHAIN
    account = chain.new_data_account("fuzz")
    chain.commit(chain.tx(lambda b: b.kv_set(account, "k", "v", -1)))
    chain.commit()
    certify(chain)  # certified bundles: every part, the validator set included, is checked
    tx_hash = chain.ledger.get_entry(account, "k").tx_hash
    return [
        json.loads(json.dumps(build_entry_bundle(chain.ledger, account, "k"))),
        json.loads(json.dumps(build_transaction_bundle(chain.ledger, tx_hash))),
    ]


BUNDLES = _bundles()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append(prefix + (key,))
            found.extend(_paths(value, prefix + (key,)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append(prefix + (index,))
            found.extend(_paths(value, prefix + (index,)))
    return found


replacements = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**12), st.text(max_size=12),
    st.text(alphabet="0123456789abcdef", min_size=2, max_size=80),
    st.lists(st.integers(0, 3), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _mutated(which: int, data: st.DataObject, replacement: Any) -> tuple[dict[str, Any], tuple[Any, ...]] | None:
    bundle = copy.deepcopy(BUNDLES[which])
    paths = _paths(bundle)
    path = data.draw(st.sampled_from(paths))
    parent = bundle
    for step in path[:-1]:
        parent = parent[step]
    original = parent[path[-1]]
    if original == replacement:
        return None
    parent[path[-1]] = replacement
    return bundle, path


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(BUNDLES) - 1), st.data(), replacements)
def test_mutated_bundles_fail_cleanly(which: int, data: st.DataObject, replacement: Any) -> None:
    mutated = _mutated(which, data, replacement)
    if mutated is None:
        return
    bundle, path = mutated
    try:
        verify_bundle(bundle, ledger_hash=CHAIN.ledger.ledger_hash)
    except ProofError:
        return
    # Accepting a changed bundle is only fine when the change touched nothing that is proven
    # (the informational parts of the header section are recomputed and compared, so none remain).
    raise AssertionError(f"mutated bundle accepted: {path} = {replacement!r}")


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(BUNDLES) - 1), st.data(), replacements)
def test_a_ledgers_executor_refuses_mutated_foreign_proofs_with_a_stable_code(
    which: int, data: st.DataObject, replacement: Any,
) -> None:
    """What another ledger's executor runs (ledger/light_client.py): a code, never a crash."""
    assert verify_fact(LIGHT_CLIENT, copy.deepcopy(BUNDLES[which]), block_time=0)
    mutated = _mutated(which, data, replacement)
    if mutated is None:
        return
    bundle, path = mutated
    try:
        claim = verify_fact(LIGHT_CLIENT, bundle, block_time=0)
    except LightClientError as error:
        assert error.code.startswith("FOREIGN_"), error.code
        return
    # The light client trusts its own validator sets, so the bundle's genesis block and epoch
    # changes (how a verifier without them would derive the set) are not evidence here.
    if path[0] in ("genesis", "epoch_changes"):
        assert claim == BUNDLES[which]["claim"]
        return
    raise AssertionError(f"mutated foreign proof accepted: {path} = {replacement!r}")
