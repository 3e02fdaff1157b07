"""Proposals as transactions: propose → votes → executed in the block where the policy is met.

Three organisations A (two nodes), B and C; majority by default. Every rule is checked by
what a member would look at: the proposal entry on chain (status, votes, result), the
objects the proposal acted on, and the status codes of refused transactions.
"""

from __future__ import annotations

import pytest

from ledger import codec
from ledger.errors import ConfigError, ProofError
from ledger.genesis import parse_genesis_config
from ledger.governance import (
    GOVERNANCE_ACCOUNT,
    Governance,
    decide,
    governance_from_json,
    proposal_view,
    tally,
)
from ledger.ledger import Ledger
from ledger.proofs import build_entry_bundle, verify_bundle
from ledger.store.memory import MemoryStore
from ledger.types import (
    AccountState,
    ConfigureRole,
    Propose,
    ProposedOperations,
    TypedValue,
    UpdateAccountState,
    UpdateLedgerSettings,
    Vote,
)

from tests.unit.ledger.test_governance_ownership import Orgs, consortium_toml, contracts, make_consortium
from tests.unit.ledger.ledger_testkit import seeded_keypair
from tests.unit.ledger.test_ledger_governance import certify_all


def propose(orgs: Orgs, operations, proposer, reason: str = "because", expiry: int = 0) -> tuple[str, str]:
    """Submit a proposal; returns (its id, the status of the proposing transaction)."""
    tx = orgs.chain.tx(lambda b: b.propose(list(operations), reason, expiry), proposer)
    status = orgs.chain.statuses(tx)[0]
    return orgs.chain.ledger.tx_hash(tx).hex(), status


def vote(orgs: Orgs, proposal_id: str, voter, approve: bool = True) -> str:
    return orgs.chain.statuses(orgs.chain.tx(lambda b: b.vote(proposal_id, approve), voter))[0]


def proposal(orgs: Orgs, proposal_id: str) -> dict:
    return orgs.chain.ledger.get_entry(GOVERNANCE_ACCOUNT, proposal_id).value.to_python()


@pytest.fixture
def orgs() -> Orgs:
    return Orgs(make_consortium())


def test_b_proposes_c_approves_and_the_executor_freezes_a_contract_in_that_block(orgs: Orgs) -> None:
    freeze = UpdateAccountState(orgs.a_contract, AccountState.FROZEN)
    proposal_id, status = propose(orgs, [freeze], orgs.b, "A's contract leaks data")
    assert status == "SUCCESS"
    record = proposal(orgs, proposal_id)
    assert record["status"] == "OPEN" and record["organization"] == "B" and record["kinds"] == ["UpdateAccountState"]
    assert set(record["votes"]) == {"B"}
    assert orgs.chain.ledger.get_contract(orgs.a_contract).state == AccountState.NORMAL
    height_before = orgs.chain.ledger.height
    assert vote(orgs, proposal_id, orgs.c) == "SUCCESS"
    record = proposal(orgs, proposal_id)
    assert record["status"] == "EXECUTED" and record["result"] == "SUCCESS"
    assert record["decided_height"] == height_before + 1 == orgs.chain.ledger.height
    assert orgs.chain.ledger.get_contract(orgs.a_contract).state == AccountState.FROZEN
    # Every version of the entry is a step of the proposal: proposed, then decided.
    versions = [v.value.to_python()["status"] for v in orgs.chain.ledger.iterate_entry_versions(GOVERNANCE_ACCOUNT, proposal_id)]
    assert versions == ["OPEN", "EXECUTED"]
    # A vote after the decision is refused, and changes nothing.
    assert vote(orgs, proposal_id, orgs.a, approve=False) == "PROPOSAL_DECIDED"
    assert proposal(orgs, proposal_id)["status"] == "EXECUTED"


def test_votes_can_change_until_decided_and_repeating_one_is_refused(orgs: Orgs) -> None:
    role = ConfigureRole("AUDITOR", (), (), (), ())
    proposal_id, _ = propose(orgs, [role], orgs.b)
    assert vote(orgs, proposal_id, orgs.b) == "ALREADY_VOTED"  # B approved by proposing
    assert vote(orgs, proposal_id, orgs.b, approve=False) == "SUCCESS"  # B changes its mind
    assert proposal(orgs, proposal_id)["votes"]["B"]["approve"] is False
    assert vote(orgs, proposal_id, orgs.b, approve=False) == "ALREADY_VOTED"
    assert vote(orgs, proposal_id, orgs.a2) == "SUCCESS"  # A, through its second admin
    assert proposal(orgs, proposal_id)["status"] == "OPEN"  # A for, B against, C silent
    assert vote(orgs, proposal_id, orgs.c, approve=False) == "SUCCESS"
    record = proposal(orgs, proposal_id)
    assert record["status"] == "REJECTED"  # two of three against: a majority can no longer approve
    assert "AUDITOR" not in [r.role for r in orgs.chain.ledger.list_roles()]
    assert vote(orgs, proposal_id, orgs.b) == "PROPOSAL_DECIDED"


def test_a_proposal_expires(orgs: Orgs) -> None:
    expiry = orgs.chain.time + 5_000
    proposal_id, status = propose(orgs, [ConfigureRole("LATE", (), (), (), ())], orgs.b, expiry=expiry)
    assert status == "SUCCESS"
    for _ in range(6):
        orgs.chain.commit()  # each block is one second later
    assert vote(orgs, proposal_id, orgs.c) == "PROPOSAL_EXPIRED"
    record = proposal(orgs, proposal_id)
    assert record["status"] == "OPEN"  # stored as last decided; readers see the expiry
    assert proposal_view(record, orgs.chain.ledger.last_header.time)["status"] == "EXPIRED"
    assert "LATE" not in [r.role for r in orgs.chain.ledger.list_roles()]
    # An expiry in the past is refused at once.
    _, status = propose(orgs, [ConfigureRole("LATE", (), (), (), ())], orgs.b, expiry=orgs.chain.time - 1)
    assert status == "INVALID_OPERATION"


def test_an_approved_proposal_whose_operation_fails_is_recorded_failed(orgs: Orgs) -> None:
    bogus = UpdateLedgerSettings("max_ops_per_tx", TypedValue.int64(-5))
    proposal_id, _ = propose(orgs, [bogus], orgs.b)
    assert vote(orgs, proposal_id, orgs.c) == "SUCCESS"  # the vote itself is recorded
    record = proposal(orgs, proposal_id)
    assert record["status"] == "FAILED" and record["result"] == "INVALID_OPERATION"
    assert orgs.chain.ledger.settings.max_ops_per_tx == 64


def test_who_may_propose_and_what(orgs: Orgs) -> None:
    role = ConfigureRole("X", (), (), (), ())
    # A plain user of A holds no APPROVE_TX: it cannot speak for A.
    _, status = propose(orgs, [role], orgs.a_user)
    assert status == "PERMISSION_DENIED"
    # Nested proposals and votes inside proposals are refused.
    inner = Propose(codec.encode(ProposedOperations((role,))), "inner", 0)
    _, status = propose(orgs, [inner], orgs.b)
    assert status == "INVALID_OPERATION"
    _, status = propose(orgs, [Vote(b"\x00" * 34, True)], orgs.b)
    assert status == "INVALID_OPERATION"
    # Undecodable operations are a malformed encoding, and an unknown proposal is named.
    bad = orgs.chain.statuses(orgs.chain.tx(lambda b: b.add(Propose(b"\xc1", "junk", 0)), orgs.b))
    assert bad == ["MALFORMED_ENCODING"]
    assert vote(orgs, "00" * 34, orgs.c) == "PROPOSAL_NOT_FOUND"
    # A forged proposal record cannot be written by hand into the governance account.
    forged = orgs.chain.statuses(orgs.chain.tx(lambda b: b.kv_set(GOVERNANCE_ACCOUNT, "00", "EXECUTED"), orgs.b, orgs.c, orgs.a))
    assert forged == ["ACCOUNT_NOT_FOUND"] or forged == ["PERMISSION_DENIED"]


def test_the_policy_table_is_changed_by_a_proposal_and_then_applies() -> None:
    orgs = Orgs(make_consortium())
    table = {
        "organizations": {"A": 1, "B": 1, "C": 1},
        "default": "majority",
        "operations": {"ConfigureRole": "unanimous"},
    }
    change = UpdateLedgerSettings("governance", TypedValue.json_(table))
    assert orgs.run(change, orgs.b) == "PROPOSAL_REQUIRED"
    proposal_id, _ = propose(orgs, [change], orgs.b)
    assert vote(orgs, proposal_id, orgs.a) == "SUCCESS"
    assert orgs.chain.ledger.settings.governance.to_python()["operations"] == {"ConfigureRole": "unanimous"}
    role_id, _ = propose(orgs, [ConfigureRole("AUDITOR", (), (), (), ())], orgs.b)
    assert vote(orgs, role_id, orgs.c) == "SUCCESS"
    assert proposal(orgs, role_id)["status"] == "OPEN"  # two of three is no longer enough
    assert vote(orgs, role_id, orgs.a) == "SUCCESS"
    assert proposal(orgs, role_id)["status"] == "EXECUTED"
    # A broken table is refused when it runs.
    broken = UpdateLedgerSettings("governance", TypedValue.json_({"organizations": {}, "default": "majority"}))
    assert orgs.run(broken, orgs.a, orgs.b, orgs.c) == "INVALID_OPERATION"


def test_weighted_policy_from_genesis() -> None:
    extra = '[governance]\ndefault = "weighted"\nweighted_threshold = 60\n[governance.weights]\nA = 3\nB = 1\nC = 1\n'
    orgs = Orgs(make_consortium(extra))
    role = ConfigureRole("W", (), (), (), ())
    # B and C together hold 2 of 5: not 60 %. A alone holds 3 of 5 = 60 %.
    assert orgs.run(role, orgs.b, orgs.c) == "THRESHOLD_NOT_MET"
    assert orgs.run(role, orgs.a) == "SUCCESS"


def test_policies_count_organisations_as_their_definitions_say() -> None:
    three = Governance((("A", 1), ("B", 1), ("C", 1)), "majority", (), 67, 1000)
    assert tally(three, "majority", ["A"], []) == "open"
    assert tally(three, "majority", ["A", "B"], []) == "met"
    assert tally(three, "majority", ["A"], ["B", "C"]) == "rejected"
    assert tally(three, "two_thirds", ["A", "B"], []) == "met"
    assert tally(three, "unanimous", ["A", "B"], []) == "open"
    assert tally(three, "unanimous", ["A", "B"], ["C"]) == "rejected"
    assert tally(three, "unanimous", ["A", "B", "C"], []) == "met"
    assert tally(three, "majority", ["A", "stranger", "other"], []) == "open"  # only members count
    four = Governance((("A", 1), ("B", 1), ("C", 1), ("D", 1)), "majority", (), 67, 1000)
    assert tally(four, "majority", ["A", "B"], []) == "open"  # half is not a majority
    assert tally(four, "majority", ["A", "B"], ["C", "D"]) == "rejected"
    assert tally(four, "two_thirds", ["A", "B"], ["C"]) == "open"
    assert tally(four, "two_thirds", ["A", "B"], ["C", "D"]) == "rejected"
    weighted = Governance((("A", 5), ("B", 3), ("C", 2)), "weighted", (), 50, 1000)
    assert tally(weighted, "weighted", ["A"], []) == "met"
    assert tally(weighted, "weighted", ["B", "C"], []) == "met"
    assert tally(weighted, "weighted", ["B"], ["A", "C"]) == "rejected"
    table = Governance((("A", 1), ("B", 1), ("C", 1)), "majority", (("ConfigureRole", "unanimous"),), 67, 1000)
    ops = [ConfigureRole("R", (), (), (), ()), UpdateAccountState("x", AccountState.FROZEN)]
    assert decide(table, ops, ["A", "B"]) == "open"  # the strictest operation decides
    assert decide(table, ops[1:], ["A", "B"]) == "met"


def test_bad_governance_tables_are_refused_with_the_field_named(tmp_path) -> None:
    with pytest.raises(Exception, match="policy must be one of"):
        governance_from_json({"organizations": {"A": 1}, "default": "most"})
    with pytest.raises(Exception, match="unknown operation"):
        governance_from_json({"organizations": {"A": 1}, "operations": {"Teleport": "majority"}})
    with pytest.raises(Exception, match="weight"):
        governance_from_json({"organizations": {"A": 0}})
    founders = [seeded_keypair("g0"), seeded_keypair("g1")]
    with pytest.raises(ConfigError, match="without a participant"):
        parse_genesis_config(consortium_toml(founders, ["A", "B"], "[governance]\n[governance.weights]\nZ = 2\n"))
    with pytest.raises(ConfigError, match="policy"):
        parse_genesis_config(consortium_toml(founders, ["A", "B"], '[governance]\ndefault = "dictator"\n'))


def test_a_proposal_and_its_votes_are_proven_offline_like_any_entry(orgs: Orgs) -> None:
    proposal_id, _ = propose(orgs, [UpdateAccountState(orgs.a_data, AccountState.FROZEN)], orgs.b, "audit")
    vote(orgs, proposal_id, orgs.c)
    orgs.chain.commit()
    orgs.chain.extra = []  # type: ignore[attr-defined]
    certify_all(orgs.chain)
    bundle = build_entry_bundle(orgs.chain.ledger, GOVERNANCE_ACCOUNT, proposal_id)
    report = verify_bundle(bundle, ledger_hash=orgs.chain.ledger.ledger_hash)
    assert report.certified
    record = bundle["claim"]["value"]["value"]
    assert record["status"] == "EXECUTED" and record["id"] == proposal_id
    assert record["votes"]["C"]["approve"] is True and bundle["claim"]["account"] == GOVERNANCE_ACCOUNT
    # Turn C's vote into a rejection in the bundle: the proof no longer holds.
    import copy

    tampered = copy.deepcopy(bundle)
    tampered["claim"]["value"]["value"]["votes"]["C"]["approve"] = False
    with pytest.raises(ProofError):
        verify_bundle(tampered, ledger_hash=orgs.chain.ledger.ledger_hash)


def test_replaying_the_blocks_from_genesis_gives_the_same_roots(orgs: Orgs) -> None:
    chain = orgs.chain
    first, _ = propose(orgs, [UpdateAccountState(orgs.a_contract, AccountState.FROZEN)], orgs.b)
    second, _ = propose(orgs, [ConfigureRole("R", (), (), (), ())], orgs.c)
    vote(orgs, second, orgs.b, approve=False)
    vote(orgs, first, orgs.c)
    vote(orgs, second, orgs.a, approve=False)
    chain.commit()
    replica = Ledger.create(MemoryStore(), chain.genesis, runtime=contracts.EngineSet())  # type: ignore[attr-defined]
    for height in range(1, chain.ledger.height + 1):
        replica.apply_block(chain.ledger.get_block(height))
        assert replica.roots_at(height) == chain.ledger.roots_at(height), height
    assert replica.get_entry(GOVERNANCE_ACCOUNT, first).value == chain.ledger.get_entry(GOVERNANCE_ACCOUNT, first).value
    assert replica.get_entry(GOVERNANCE_ACCOUNT, second).value.to_python()["status"] == "REJECTED"


def test_the_genesis_governance_example_in_the_docs_parses_as_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "governance.md").read_text(encoding="utf-8")
    block = text.split("```sh\n# (fragment: a genesis file's governance part", 1)[1].split("```", 1)[0]
    block = block.split("\n", 1)[1].replace('public_key = "..."', f'public_key = "{seeded_keypair("doc").public.base58}"')
    config = parse_genesis_config(consortium_toml([], [], "") + block)
    table = governance_from_json(__import__("json").loads(config.governance))
    assert table.organizations == (("A", 2),) and table.default == "majority"
    assert dict(table.operations) == {"UpdateParticipantState": "two_thirds", "UpdateLedgerSettings.governance": "unanimous"}
    assert table.proposal_ttl_ms == 604800000 and table.weighted_threshold == 67
