"""Proof bundles: built from a ledger, checked with nothing but the bundle (and a trusted validator set)."""

from __future__ import annotations

import copy
import json

import pytest

from ledger.certificate import ValidatorSet, assemble_certificate, sign_commit_statement
from ledger.crypto import SM2, sign, to_base58
from ledger.errors import ProofError
from ledger.proofs import (
    ProofPending,
    build_consistency_bundle,
    build_entry_bundle,
    build_event_bundle,
    build_transaction_bundle,
    verify_bundle,
)

from tests.unit.ledger.ledger_testkit import Chain, make_chain, seeded_keypair


def certify(chain: Chain, signers=None) -> None:
    for height in range(1, chain.ledger.height + 1):
        if chain.ledger.get_certificate(height) is not None:
            continue
        header = chain.ledger.get_header(height)
        header_hash = chain.ledger.hash_header(header)
        signatures = [
            sign_commit_statement(lambda m, p=p: sign(p.private, m), p.public.encoded,
                                  chain.ledger.ledger_hash, height, header_hash, 0)
            for p in (signers or chain.founders[:3])
        ]
        chain.ledger.put_certificate(assemble_certificate(chain.ledger.ledger_hash, height, header_hash, 0, signatures))


@pytest.fixture(params=["classic", "sm"])
def chain(request) -> Chain:
    if request.param == "sm":
        chain = make_chain(algorithm=SM2, hash_algorithm="SM3")
    else:
        chain = make_chain()
    account = chain.new_data_account("acct")
    events = seeded_keypair("ev")
    chain.commit(chain.tx(lambda b: b.register_event_account(events.public.encoded)))
    from ledger.crypto import address_from_public_key

    chain.events_account = address_from_public_key(events.public)  # type: ignore[attr-defined]
    chain.account = account  # type: ignore[attr-defined]
    chain.commit(chain.tx(lambda b: b.kv_set(account, "k", "v0", -1).publish(chain.events_account, "t", "hello")))
    chain.commit(chain.tx(lambda b: b.kv_set(account, "k", "v1", 0)))
    chain.commit()  # certifies the roots of the previous block
    certify(chain)
    return chain


def roundtrip(bundle: dict) -> dict:
    return json.loads(json.dumps(bundle))


def test_entry_bundles_for_latest_and_old_versions_verify(chain: Chain) -> None:
    trusted = chain.ledger.validator_set()
    latest = verify_bundle(roundtrip(build_entry_bundle(chain.ledger, chain.account, "k")),
                           trusted_validators=trusted, require_certificate=True)
    assert latest.claim["value"]["value"] == "v1" and latest.certified and latest.signers == 3
    old = verify_bundle(roundtrip(build_entry_bundle(chain.ledger, chain.account, "k", 0)),
                        trusted_validators=trusted, require_certificate=True)
    assert old.claim["version"] == 0 and old.claim["value"]["value"] == "v0"


def test_transaction_and_event_bundles_verify(chain: Chain) -> None:
    trusted = chain.ledger.validator_set()
    tx_hash = chain.ledger.get_entry(chain.account, "k", 0).tx_hash
    report = verify_bundle(roundtrip(build_transaction_bundle(chain.ledger, tx_hash)), trusted_validators=trusted)
    assert report.claim["status"] == "SUCCESS"
    event = verify_bundle(roundtrip(build_event_bundle(chain.ledger, chain.events_account, "t", 0)), trusted_validators=trusted)
    assert event.claim["content"]["value"] == "hello"


def test_consistency_bundle_verifies(chain: Chain) -> None:
    report = verify_bundle(roundtrip(build_consistency_bundle(chain.ledger, 1)))
    assert report.claim["new_size"] > report.claim["old_size"]


def test_absent_key_has_no_bundle_and_pending_data_says_so(chain: Chain) -> None:
    from ledger.errors import NotFound

    with pytest.raises(NotFound):
        build_entry_bundle(chain.ledger, chain.account, "missing")
    chain.commit(chain.tx(lambda b: b.kv_set(chain.account, "fresh", 1, -1)))
    with pytest.raises(ProofPending):
        build_entry_bundle(chain.ledger, chain.account, "fresh")


def _expect_rejected(bundle: dict, **kwargs) -> str:
    with pytest.raises(ProofError) as caught:
        verify_bundle(bundle, **kwargs)
    return caught.value.message


def test_every_tampering_is_detected(chain: Chain) -> None:
    original = roundtrip(build_entry_bundle(chain.ledger, chain.account, "k"))
    trusted = chain.ledger.validator_set()

    def tampered(mutate) -> dict:
        bundle = copy.deepcopy(original)
        mutate(bundle)
        return bundle

    def flip_hex(text: str, at: int = -1) -> str:
        raw = bytearray(bytes.fromhex(text))
        raw[at] ^= 1
        return raw.hex()

    cases = {
        "claimed value": lambda b: b["claim"]["value"].__setitem__("value", "forged"),
        "record bytes": lambda b: b.__setitem__("record", flip_hex(b["record"], 10)),
        "proof sibling": lambda b: b["state_proof"]["proof"]["siblings"].__setitem__(
            0, flip_hex(b["state_proof"]["proof"]["siblings"][0])),
        "header bytes": lambda b: b["header"].__setitem__("encoded", flip_hex(b["header"]["encoded"], 40)),
        "certificate signature": lambda b: b["header"]["certificate"]["signatures"][0].__setitem__(
            "signature", to_base58(b"\x41\x15" + b"\x00" * 64)),
        "certificate quorum": lambda b: b["header"]["certificate"].__setitem__(
            "signatures", b["header"]["certificate"]["signatures"][:2]),
        "ledger hash": lambda b: b.__setitem__("ledger_hash", b["ledger_hash"][:-1] + ("1" if b["ledger_hash"][-1] != "1" else "2")),
        "format": lambda b: b.__setitem__("format", "other"),
    }
    for name, mutate in cases.items():
        message = _expect_rejected(tampered(mutate), trusted_validators=trusted, require_certificate=True)
        assert message, name
    # A validator set the verifier does not trust is refused.
    outsider = ValidatorSet(0, tuple(sorted(seeded_keypair(f"x{i}").public.encoded for i in range(4))))
    assert "validator set" in _expect_rejected(copy.deepcopy(original), trusted_validators=outsider)


def test_uncertified_data_is_pending_and_an_uncertified_header_is_always_refused() -> None:
    chain = make_chain()
    account = chain.new_data_account("acct")
    chain.commit(chain.tx(lambda b: b.kv_set(account, "k", 1, -1)))
    chain.commit()
    with pytest.raises(ProofPending):  # no header certifies it: no bundle rather than a useless one
        build_entry_bundle(chain.ledger, account, "k")
    certify(chain)
    bundle = roundtrip(build_entry_bundle(chain.ledger, account, "k"))
    assert verify_bundle(copy.deepcopy(bundle), ledger_hash=chain.ledger.ledger_hash).certified
    bundle["header"]["certificate"] = None
    for kwargs in ({}, {"require_certificate": False}, {"ledger_hash": chain.ledger.ledger_hash}):
        assert "no commit certificate" in _expect_rejected(copy.deepcopy(bundle), **kwargs)


def test_proofs_use_the_latest_certified_header_not_the_latest_header(chain: Chain) -> None:
    chain.commit(chain.tx(lambda b: b.kv_set(chain.account, "other", 1, -1)))
    chain.commit()  # two headers on top, neither certified yet
    bundle = build_entry_bundle(chain.ledger, chain.account, "k")
    assert bundle["header"]["height"] == chain.ledger.height - 2
    assert verify_bundle(bundle, ledger_hash=chain.ledger.ledger_hash).claim["value"]["value"] == "v1"
    consistency = build_consistency_bundle(chain.ledger, 0)
    assert consistency["header"]["height"] == chain.ledger.height - 2


def test_genesis_transaction_and_consistency_from_zero_verify(chain: Chain) -> None:
    genesis_tx = chain.ledger.get_tx_hash_at(0)
    report = verify_bundle(roundtrip(build_transaction_bundle(chain.ledger, genesis_tx)),
                           ledger_hash=chain.ledger.ledger_hash)
    assert report.claim["height"] == 0 and report.claim["index"] == 0
    zero = verify_bundle(roundtrip(build_consistency_bundle(chain.ledger, 0)), ledger_hash=chain.ledger.ledger_hash)
    assert zero.claim["old_height"] == 0 and zero.claim["new_size"] > zero.claim["old_size"]
    # Another ledger's genesis header is not a height-0 header of this one.
    other = make_chain(n_founders=5, hash_algorithm="SM3" if "SM3" in chain.ledger.hash_algorithm.name else "SHA256")
    forged = roundtrip(build_consistency_bundle(chain.ledger, 0))
    forged["old_header"] = roundtrip(build_consistency_bundle(chain.ledger, 0))["old_header"] | {
        "encoded": _encoded_genesis_header(other), "hash": to_base58(other.ledger.ledger_hash)}
    assert "genesis header" in _expect_rejected(forged, ledger_hash=chain.ledger.ledger_hash)


def _encoded_genesis_header(chain: Chain) -> str:
    from ledger import codec

    return codec.encode(chain.ledger.get_header(0)).hex()


def test_a_forged_validator_set_is_refused_even_without_a_trusted_set(chain: Chain) -> None:
    """A forger re-signs the header with keys of their own and ships them as 'the validators'.

    The bundle's genesis block binds the real validator set to the ledger hash, so the
    verifier refuses the swap with nothing but the bundle in hand.
    """
    from ledger.certificate import encode_commit_statement
    from ledger.crypto import from_base58
    from ledger.proofs import certificate_to_json, validators_to_json

    bundle = roundtrip(build_entry_bundle(chain.ledger, chain.account, "k"))
    honest = verify_bundle(copy.deepcopy(bundle), ledger_hash=chain.ledger.ledger_hash)
    assert any("genesis" in check for check in honest.checks) and not honest.warnings
    assert honest.anchor == "pinned ledger hash"
    unpinned = verify_bundle(copy.deepcopy(bundle))
    assert unpinned.anchor == "none" and unpinned.warnings

    forgers = [seeded_keypair(f"forger{i}") for i in range(4)]
    header = bundle["header"]
    header_hash = from_base58(header["hash"])
    statement = encode_commit_statement(chain.ledger.ledger_hash, header["height"], header_hash, 0)
    from ledger.certificate import CommitCertificate, ValidatorSignature

    forged = CommitCertificate(chain.ledger.ledger_hash, header["height"], header_hash, 0, tuple(
        ValidatorSignature(p.public.encoded, sign(p.private, statement)) for p in forgers
    ))
    bundle["header"]["certificate"] = certificate_to_json(forged)
    bundle["validators"] = validators_to_json(ValidatorSet(0, tuple(sorted(p.public.encoded for p in forgers))))
    assert "outside the validator set" in _expect_rejected(bundle)


def test_quorum_is_n_minus_f_so_any_two_quorums_share_an_honest_validator() -> None:
    for n in range(1, 23):
        faulty = (n - 1) // 3
        quorum = ValidatorSet(0, tuple(bytes([i]) for i in range(n))).quorum
        assert quorum == n - faulty
        assert 2 * quorum - n >= faulty + 1  # overlap of two quorums exceeds the faulty count


def test_the_search_for_a_certified_header_is_bounded(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node that stopped certifying answers PROOF_PENDING at once rather than scanning its whole history."""
    import ledger.proofs as proofs

    monkeypatch.setattr(proofs, "CERTIFIED_SCAN_LIMIT", 2)
    for _ in range(3):
        chain.commit()  # uncertified headers on top
    with pytest.raises(ProofPending):
        build_entry_bundle(chain.ledger, chain.account, "k")
    monkeypatch.setattr(proofs, "CERTIFIED_SCAN_LIMIT", 3)
    assert build_entry_bundle(chain.ledger, chain.account, "k")["header"]["height"] == chain.ledger.height - 3
