"""Validator-set changes: governed by the current validators, epoch by epoch, provable offline."""

from __future__ import annotations

import pytest

from ledger.certificate import (
    EpochChangeCertificate,
    ValidatorSignature,
    assemble_certificate,
    encode_epoch_change_statement,
    sign_commit_statement,
)
from ledger.crypto import address_from_public_key, sign
from ledger.errors import InvalidBlock, ProofError
from ledger.proofs import build_entry_bundle, verify_bundle
from ledger.types import ParticipantState, RegisterParticipant, UpdateParticipantState

from tests.unit.ledger.ledger_testkit import Chain, make_chain, seeded_keypair


def register_node(chain: Chain, name: str, signers) -> tuple[object, list[str]]:
    node = seeded_keypair(name)
    statuses = chain.statuses(chain.tx(lambda b: b.add(RegisterParticipant(name, node.public.encoded)), *signers))
    return node, statuses


def set_state(chain: Chain, node, state: ParticipantState, signers) -> list[str]:
    address = address_from_public_key(node.public)
    return chain.statuses(chain.tx(lambda b: b.add(UpdateParticipantState(address, state)), *signers))


def test_one_admin_cannot_change_the_validator_set_a_majority_can() -> None:
    chain = make_chain(4)
    _, alone = register_node(chain, "node5", [chain.founders[0]])
    assert alone == ["PROPOSAL_REQUIRED"]
    _, two = register_node(chain, "node5", chain.founders[:2])
    assert two == ["THRESHOLD_NOT_MET"]  # a majority of 4 organisations is 3
    node, three = register_node(chain, "node5", chain.founders[:3])
    assert three == ["SUCCESS"]
    assert chain.ledger.validator_set().epoch == 0  # registered, not yet a validator
    assert set_state(chain, node, ParticipantState.CONSENSUS, chain.founders[1:4]) == ["SUCCESS"]
    record = chain.ledger.validator_set_record()
    assert record.epoch == 1 and node.public.encoded in record.public_keys and len(record.public_keys) == 5
    assert record.since_height == chain.ledger.height + 1


def test_blocks_of_the_old_epoch_are_refused_after_a_change() -> None:
    chain = make_chain(4)
    node, _ = register_node(chain, "node5", chain.founders[:3])
    set_state(chain, node, ParticipantState.CONSENSUS, chain.founders[:3])
    stale = chain.ledger.make_block([], time=chain.time + 1000, epoch=0)
    with pytest.raises(InvalidBlock):
        chain.ledger.apply_block(stale)
    chain.commit()
    assert chain.ledger.last_header.epoch == 1


def test_illegal_transitions_and_the_last_validator() -> None:
    chain = make_chain(4)
    node, _ = register_node(chain, "node5", chain.founders[:3])
    assert set_state(chain, node, ParticipantState.CONSENSUS, chain.founders[:3]) == ["SUCCESS"]
    # Five validators now: three signatures are a majority, but a validator cannot go back to READY.
    assert set_state(chain, node, ParticipantState.READY, chain.founders[:3]) == ["INVALID_OPERATION"]
    assert set_state(chain, node, ParticipantState.DEACTIVATED, chain.founders[:2]) == ["THRESHOLD_NOT_MET"]
    assert set_state(chain, node, ParticipantState.DEACTIVATED, chain.founders[:3]) == ["SUCCESS"]
    assert set_state(chain, node, ParticipantState.CONSENSUS, chain.founders[:3]) == ["INVALID_OPERATION"]

    solo = make_chain(1)
    founder = solo.founders[0]
    assert set_state(solo, founder, ParticipantState.DEACTIVATED, [founder]) == ["INVALID_OPERATION"]
    assert solo.ledger.validator_set().public_keys == (founder.public.encoded,)


def certify_all(chain: Chain) -> None:
    """Sign every header with its epoch's validators and every epoch change with the previous set."""
    keys = {p.public.encoded: p for p in chain.founders + chain.extra}  # type: ignore[attr-defined]
    for height in range(1, chain.ledger.height + 1):
        header = chain.ledger.get_header(height)
        validators = chain.ledger.validator_set(header.epoch)
        header_hash = chain.ledger.hash_header(header)
        signatures = [
            sign_commit_statement(lambda m, p=keys[k]: sign(p.private, m), k, chain.ledger.ledger_hash, height, header_hash, header.epoch)
            for k in validators.public_keys
        ]
        chain.ledger.put_certificate(assemble_certificate(chain.ledger.ledger_hash, height, header_hash, header.epoch, signatures))
    for epoch in range(1, chain.ledger.current_epoch() + 1):
        new = chain.ledger.validator_set_record(epoch)
        old = chain.ledger.validator_set(epoch - 1)
        statement = encode_epoch_change_statement(chain.ledger.ledger_hash, epoch, new.public_keys, new.since_height)
        chain.ledger.put_epoch_certificate(EpochChangeCertificate(
            chain.ledger.ledger_hash, epoch, new.public_keys, new.since_height,
            tuple(ValidatorSignature(k, sign(keys[k].private, statement)) for k in old.public_keys),
        ))


def test_a_light_client_follows_epoch_changes_from_the_ledger_hash_alone() -> None:
    chain = make_chain(4)
    node, _ = register_node(chain, "node5", chain.founders[:3])
    set_state(chain, node, ParticipantState.CONSENSUS, chain.founders[:3])           # epoch 1: 5 validators
    gone = chain.founders[3]
    chain.commit()
    gone_address = address_from_public_key(gone.public)
    assert chain.statuses(chain.tx(
        lambda b: b.add(UpdateParticipantState(gone_address, ParticipantState.DEACTIVATED)), *chain.founders[:3]
    )) == ["SUCCESS"]                                                                  # epoch 2: 4 validators
    account = chain.new_data_account("acct")
    chain.commit(chain.tx(lambda b: b.kv_set(account, "k", "after two epochs", -1)))
    chain.commit()
    chain.extra = [node]  # type: ignore[attr-defined]
    certify_all(chain)
    bundle = build_entry_bundle(chain.ledger, account, "k")
    report = verify_bundle(bundle, require_certificate=True)
    assert report.certified and any("2 certified epoch change" in check for check in report.checks)

    # A forged epoch change (signed by keys outside the previous set) breaks the chain.
    import copy

    from ledger import codec

    forged = copy.deepcopy(bundle)
    change = codec.decode(EpochChangeCertificate, bytes.fromhex(forged["epoch_changes"][1]))
    outsiders = [seeded_keypair(f"x{i}") for i in range(5)]
    statement = encode_epoch_change_statement(change.ledger_hash, 2, change.public_keys, change.since_height)
    forged["epoch_changes"][1] = codec.encode(EpochChangeCertificate(
        change.ledger_hash, 2, change.public_keys, change.since_height,
        tuple(ValidatorSignature(p.public.encoded, sign(p.private, statement)) for p in outsiders),
    )).hex()
    with pytest.raises(ProofError):
        verify_bundle(forged)


def test_participants_publish_their_network_address_on_chain() -> None:
    chain = make_chain(4)
    node = seeded_keypair("node5")
    op = RegisterParticipant("node5", node.public.encoded, "127.0.0.1:7105")
    assert chain.statuses(chain.tx(lambda b: b.add(op), *chain.founders[:3])) == ["SUCCESS"]
    record = next(p for p in chain.ledger.list_participants() if p.name == "node5")
    assert record.network_address == "127.0.0.1:7105" and record.state == ParticipantState.READY
