"""The executor against a model: random KV and freeze operations by random signers, in random blocks.

For every transaction the model predicts SUCCESS or the exact failure code (version conflict,
permission denied, frozen account); at the end every entry and every version matches the model,
and a replica replaying the blocks reaches the same roots at every height.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.crypto import address_from_public_key
from ledger.ledger import Ledger
from ledger.store.memory import MemoryStore
from ledger.types import AccountState, UpdateAccountState

from tests.unit.ledger.ledger_testkit import make_chain, seeded_keypair

KEYS = ["a", "b", "c"]

operation = st.one_of(
    st.tuples(st.just("write"), st.integers(0, 2), st.sampled_from(KEYS), st.integers(-1, 4)),
    st.tuples(st.just("freeze"), st.booleans()),
)
blocks = st.lists(st.lists(operation, min_size=1, max_size=6), min_size=1, max_size=6)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks)
def test_executor_matches_the_model(plan: list[list[tuple]]) -> None:
    chain = make_chain(1)
    owner = chain.new_user("owner")
    outsider = chain.new_user("outsider")
    signers = [chain.admin, owner, outsider]  # admin registers the account; owner co-owns it
    account_pair = seeded_keypair("model-account")
    chain.commit(chain.tx(lambda b: b.register_data_account(account_pair.public.encoded), chain.admin, owner))
    account = address_from_public_key(account_pair.public)

    versions = {key: -1 for key in KEYS}
    history: dict[str, list[int]] = {key: [] for key in KEYS}
    frozen = False
    for block_plan in plan:
        txs, expected = [], []
        for item in block_plan:
            if item[0] == "write":
                _, who, key, expected_version = item
                value = len(history[key]) * 10 + who
                txs.append(chain.tx(lambda b, k=key, v=value, e=expected_version: b.kv_set(account, k, v, e), signers[who]))
                if frozen:
                    expected.append("ACCOUNT_FROZEN")
                elif who == 2:
                    expected.append("PERMISSION_DENIED")
                elif expected_version != versions[key]:
                    expected.append("VERSION_CONFLICT")
                else:
                    expected.append("SUCCESS")
                    versions[key] += 1
                    history[key].append(value)
            else:
                state = AccountState.FROZEN if item[1] else AccountState.NORMAL
                txs.append(chain.tx(lambda b, s=state: b.add(UpdateAccountState(account, s))))
                expected.append("SUCCESS")
                frozen = item[1]
        assert chain.statuses(*txs) == expected

    for key in KEYS:
        assert chain.ledger.get_latest_version(account, key) == versions[key]
        stored = [record.value.to_python() for record in chain.ledger.iterate_entry_versions(account, key)]
        assert stored == history[key]

    replica = Ledger.create(MemoryStore(), chain.ledger.get_block(0))
    for height in range(1, chain.ledger.height + 1):
        assert replica.apply_block(chain.ledger.get_block(height)).roots == chain.ledger.roots_at(height)
