"""Rotating a validator's consensus key through governance (ledger.governance.key_rotation_operations).

Organisations A (two nodes), B and C, majority policy. B proposes moving its node to a new key; the
proposal runs in the block where C's vote meets the policy, and the next height opens a new epoch
whose validator set holds the new key instead of the old. A commit signature by the old key is then
refused for that epoch, one by the new key counts.
"""

from __future__ import annotations

import pytest

from ledger.certificate import ValidatorSet, assemble_certificate, sign_commit_statement, verify_certificate
from ledger.crypto import address_from_public_key, sign
from ledger.errors import ProofError
from ledger.governance import key_rotation_operations
from ledger.types import ParticipantState

from tests.unit.ledger.ledger_testkit import seeded_keypair
from tests.unit.ledger.test_governance_ownership import Orgs, make_consortium
from tests.unit.ledger.test_governance_proposals import proposal, propose, vote


def test_a_rotation_proposal_swaps_the_key_in_one_epoch_change_and_the_old_key_no_longer_certifies() -> None:
    orgs = Orgs(make_consortium())
    ledger = orgs.chain.ledger
    before = ledger.validator_set_record()
    old = next(p for p in ledger.list_participants() if p.public_key == orgs.b.public.encoded)
    new = seeded_keypair("b-node-key-2")
    old_roles = ledger.get_user_roles(address_from_public_key(orgs.b.public))
    assert old_roles is not None and old_roles.roles
    operations = key_rotation_operations(old, new.public.encoded, "B node key 2", old_roles)

    proposal_id, status = propose(orgs, operations, orgs.b, "rotate B's node key")
    assert status == "SUCCESS" and ledger.validator_set_record() == before  # alone, B may not change it
    assert vote(orgs, proposal_id, orgs.c) == "SUCCESS"
    assert proposal(orgs, proposal_id)["status"] == "EXECUTED"
    decided_at = ledger.height

    after = ledger.validator_set_record()
    assert after.epoch == before.epoch + 1 and after.since_height == decided_at + 1
    assert set(after.public_keys) == set(before.public_keys) - {orgs.b.public.encoded} | {new.public.encoded}
    participants = {p.public_key: p for p in ledger.list_participants()}
    assert participants[old.public_key].state == ParticipantState.DEACTIVATED
    rotated = participants[new.public.encoded]
    assert (rotated.state, rotated.name, rotated.organization) == (ParticipantState.CONSENSUS, old.name, old.organization)
    user = ledger.get_account(address_from_public_key(new.public))
    assert user.organization == old.organization
    new_roles = ledger.get_user_roles(address_from_public_key(new.public))
    assert new_roles is not None and (new_roles.roles, new_roles.policy) == (old_roles.roles, old_roles.policy)

    # the first block of the new epoch: n - f = 3 of {A, A2, C, B-new}; B's old key is an outsider now
    orgs.chain.commit()
    header = ledger.get_header(ledger.height)
    assert header.epoch == after.epoch
    header_hash = ledger.hash_header(header)
    validators = ValidatorSet(after.epoch, after.public_keys)

    def certificate(*signers):
        return assemble_certificate(ledger.ledger_hash, header.height, header_hash, after.epoch, [
            sign_commit_statement(lambda m, p=p: sign(p.private, m), p.public.encoded, ledger.ledger_hash,
                                  header.height, header_hash, after.epoch)
            for p in signers])

    assert verify_certificate(certificate(orgs.a, orgs.c, new), ledger_hash=ledger.ledger_hash, height=header.height,
                              header_hash=header_hash, validators=validators) == 3
    with pytest.raises(ProofError, match="outside the validator set"):
        verify_certificate(certificate(orgs.a, orgs.c, orgs.b), ledger_hash=ledger.ledger_hash, height=header.height,
                           header_hash=header_hash, validators=validators)
    with pytest.raises(ProofError, match="quorum"):  # two valid signatures do not make a quorum of four
        verify_certificate(certificate(orgs.a, orgs.c), ledger_hash=ledger.ledger_hash, height=header.height,
                           header_hash=header_hash, validators=validators)


def test_the_rotation_alone_by_the_rotating_organisation_is_refused() -> None:
    orgs = Orgs(make_consortium())
    ledger = orgs.chain.ledger
    before = ledger.validator_set_record()
    old = next(p for p in ledger.list_participants() if p.public_key == orgs.b.public.encoded)
    operations = key_rotation_operations(old, seeded_keypair("b-node-key-2").public.encoded, "B node key 2")
    status = orgs.chain.statuses(orgs.chain.tx(lambda b: [b.add(op) for op in operations], orgs.b))[0]
    assert status in ("PROPOSAL_REQUIRED", "THRESHOLD_NOT_MET")
    assert ledger.validator_set_record() == before


def test_after_the_rotation_the_new_key_speaks_for_its_organisation() -> None:
    """Where the node's key was also its organisation's approver, the new key takes that over."""
    from ledger.types import AccountState, UpdateAccountState

    orgs = Orgs(make_consortium())
    ledger = orgs.chain.ledger
    old = next(p for p in ledger.list_participants() if p.public_key == orgs.b.public.encoded)
    new = seeded_keypair("b-node-key-2")
    operations = key_rotation_operations(old, new.public.encoded, "B node key 2",
                                         ledger.get_user_roles(address_from_public_key(orgs.b.public)))
    proposal_id, _ = propose(orgs, operations, orgs.b, "rotate B's node key")
    assert vote(orgs, proposal_id, orgs.c) == "SUCCESS" and proposal(orgs, proposal_id)["status"] == "EXECUTED"
    # C proposes acting on A's object; B's vote, signed by the new key, is the second organisation's
    freeze = UpdateAccountState(orgs.a_user_address, AccountState.FROZEN)
    second, _ = propose(orgs, [freeze], orgs.c, "freeze A's user")
    assert vote(orgs, second, new) == "SUCCESS"
    assert proposal(orgs, second)["status"] == "EXECUTED"
    assert ledger.get_account(orgs.a_user_address).state == AccountState.FROZEN
