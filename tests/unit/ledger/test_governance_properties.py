"""Property: any interleaving of proposals and votes by three organisations is deterministic, and a
decided proposal never changes again (Hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.governance import GOVERNANCE_ACCOUNT
from ledger.ledger import Ledger
from ledger.store.memory import MemoryStore
from ledger.types import ConfigureRole

from tests.unit.ledger.test_governance_ownership import contracts, make_consortium

ACTIONS = st.lists(
    st.tuples(st.sampled_from(["propose", "vote"]), st.integers(0, 3), st.booleans(), st.integers(0, 5)),
    min_size=1, max_size=14,
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(actions=ACTIONS, block_sizes=st.lists(st.integers(1, 4), min_size=1, max_size=14))
def test_interleavings_replay_identically_and_decisions_are_final(actions, block_sizes) -> None:
    chain = make_consortium()
    members = chain.founders  # A, A, B, C
    proposals: list[str] = []
    pending = []
    decided: dict[str, str] = {}
    sizes = iter(block_sizes * 20)
    for position, (kind, who, approve, target) in enumerate(actions):
        if kind == "propose" or not proposals:
            role = ConfigureRole(f"R{position}", (), (), (), ())
            tx = chain.tx(lambda b, role=role: b.propose([role], f"proposal {position}"), members[who])
            proposals.append(chain.ledger.tx_hash(tx).hex())
        else:
            proposal = proposals[target % len(proposals)]
            tx = chain.tx(lambda b, p=proposal, a=approve: b.vote(p, a), members[who])
        pending.append(tx)
        if len(pending) >= next(sizes) or position == len(actions) - 1:
            chain.commit(*pending)
            pending = []
            for proposal in proposals:
                record = chain.ledger.get_entry(GOVERNANCE_ACCOUNT, proposal).value.to_python()
                if proposal in decided:
                    assert record["status"] == decided[proposal], "a decided proposal changed"
                elif record["status"] != "OPEN":
                    decided[proposal] = record["status"]
    roles = {r.role for r in chain.ledger.list_roles()}
    for proposal in proposals:
        record = chain.ledger.get_entry(GOVERNANCE_ACCOUNT, proposal).value.to_python()
        created = record["reason"].split()[-1]
        assert (f"R{created}" in roles) == (record["status"] == "EXECUTED")
    replica = Ledger.create(MemoryStore(), chain.genesis, runtime=contracts.SandboxRuntime())  # type: ignore[attr-defined]
    for height in range(1, chain.ledger.height + 1):
        replica.apply_block(chain.ledger.get_block(height))
        assert replica.roots_at(height) == chain.ledger.roots_at(height)
