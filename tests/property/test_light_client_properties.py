"""A light client follows an epoch change exactly when a quorum of its current validators signed it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import codec
from ledger.certificate import EpochChangeCertificate, ValidatorSignature, encode_epoch_change_statement
from ledger.crypto import sign
from ledger.light_client import LightClientError, advance_light_client, new_light_client
from tests.unit.ledger.ledger_testkit import seeded_keypair

KEYS = [seeded_keypair(f"validator-{i}") for i in range(10)]
LEDGER = b"\x20\x18" + b"\x07" * 32


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 7), st.data())
def test_an_epoch_change_is_followed_iff_a_quorum_of_the_current_set_signed_it(size: int, data: st.DataObject) -> None:
    current = KEYS[:size]
    public = tuple(sorted(k.public.encoded for k in current))
    record = new_light_client(LEDGER, "a", 0, 0, public)
    signers = data.draw(st.lists(st.sampled_from(KEYS), max_size=8, unique_by=lambda k: k.public.encoded))
    duplicate = data.draw(st.booleans()) and bool(signers)
    new_keys = sorted({k.public.encoded for k in data.draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=5))})
    statement = encode_epoch_change_statement(LEDGER, 1, new_keys, 10)
    signatures = [ValidatorSignature(k.public.encoded, sign(k.private, statement)) for k in signers]
    if duplicate:
        signatures.append(signatures[0])
    change = codec.encode(EpochChangeCertificate(LEDGER, 1, tuple(new_keys), 10, tuple(signatures)))
    quorum = size - (size - 1) // 3
    members = set(public)
    should_follow = (not duplicate and all(k.public.encoded in members for k in signers)
                     and len(signers) >= quorum)
    try:
        advanced = advance_light_client(record, change)
    except LightClientError as error:
        assert not should_follow, error.message
        assert error.code in ("LIGHT_CLIENT_EPOCH_INVALID", "FOREIGN_PROOF_UNKNOWN_SIGNER",
                              "FOREIGN_PROOF_DUPLICATE_SIGNATURE")
        return
    assert should_follow
    assert advanced.latest.epoch == 1 and list(advanced.latest.public_keys) == new_keys
    assert advanced.epochs[0] == record.epochs[0]
