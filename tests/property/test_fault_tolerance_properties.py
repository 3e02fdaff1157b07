"""f, quorums and vouchers: one formula (``ledger.certificate.max_faulty``) and what it must give.

Certificates (ledger), consensus quorums and gossip's f + 1 vouchers all take f from it; these
properties are checked from BFT's definitions, not from the formula itself."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consensus.interfaces import ValidatorSet as ConsensusValidatorSet
from consensus.types import Author, Epoch
from ledger.certificate import ValidatorSet, max_faulty

SIZES = st.integers(1, 400)


@given(SIZES)
def test_f_is_the_most_faults_n_validators_tolerate(n: int) -> None:
    f = max_faulty(n)
    assert n >= 3 * f + 1  # tolerated ...
    assert n < 3 * (f + 1) + 1  # ... and one more would not be


@given(SIZES)
def test_two_quorums_share_an_honest_validator_and_the_honest_alone_form_one(n: int) -> None:
    f = max_faulty(n)
    quorum = ValidatorSet(0, tuple(i.to_bytes(4, "big") for i in range(n))).quorum
    assert 2 * quorum - n >= f + 1  # any two quorums overlap in f + 1: at least one honest
    assert quorum <= n - f  # the honest validators alone reach a quorum (liveness)
    assert f + 1 <= n  # f + 1 distinct vouchers always exist


@given(SIZES)
def test_consensus_and_certificates_agree_on_f_and_the_quorum(n: int) -> None:
    authors = tuple(Author(i.to_bytes(4, "big")) for i in range(n))
    consensus = ConsensusValidatorSet(Epoch(0), authors)
    ledger = ValidatorSet(0, tuple(bytes(a) for a in authors))
    assert consensus.max_faulty == max_faulty(n)
    assert consensus.quorum == ledger.quorum
