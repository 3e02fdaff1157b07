"""Evidence records: canonical core bytes, record hash, party signatures, batch inclusion paths."""

from __future__ import annotations

import hashlib

import pytest

from baas.apps.evidence import records
from baas.apps.evidence.records import EvidenceError
from ledger.crypto import ED25519, SM2, generate_keypair
from ledger.errors import ProofError


def _parties(*pairs):
    return [{"name": f"party{i}", "public_key": pair.public.base58} for i, pair in enumerate(pairs)]


def _core(parties, data=b"hello"):
    metadata = records.normalize_metadata("Contract", "contract", file_name="/tmp/x/contract.pdf")
    return records.build_file_core(digests=records.digest_bytes(data), metadata=metadata, parties=parties,
                                   size=len(data), created_at=1_700_000_000_000, nonce="00" * 16)


def test_streaming_digests_equal_one_shot_sha256_and_sm3() -> None:
    data = bytes(range(256)) * 1000
    streaming = records.StreamingDigests()
    for start in range(0, len(data), 7919):
        streaming.update(data[start:start + 7919])
    assert streaming.digests()["sha256"] == hashlib.sha256(data).hexdigest()
    assert streaming.digests()["sm3"] == hashlib.new("sm3", data).hexdigest()
    assert streaming.size == len(data)
    # GB/T 32905-2016 test vector for SM3("abc")
    assert records.digest_bytes(b"abc")["sm3"] == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_record_hash_is_sha256_of_canonical_core_and_metadata_is_bound() -> None:
    core = _core(_parties(generate_keypair(ED25519)))
    assert records.record_hash(core) == hashlib.sha256(records.canonical_json(core)).digest()
    assert core["metadata"]["file_name"] == "contract.pdf"  # no client paths leak into the record
    assert core["metadata_hash"] == hashlib.sha256(records.canonical_json(core["metadata"])).hexdigest()
    changed = dict(core, metadata=dict(core["metadata"], title="Other"))
    assert records.record_hash(changed) != records.record_hash(core)


@pytest.mark.parametrize("algorithm", [SM2, ED25519])
def test_party_signatures_verify_and_status_completes(algorithm) -> None:
    first, second = generate_keypair(algorithm), generate_keypair(ED25519)
    core = _core(_parties(first, second))
    record_hash = records.record_hash(core)
    one = records.check_signature(core, record_hash, records.sign_record(record_hash, first))
    assert records.record_status(core, [one]) == records.STATUS_PENDING
    two = records.check_signature(core, record_hash, records.sign_record(record_hash, second))
    assert records.record_status(core, [one, two]) == records.STATUS_COMPLETE


def test_signature_of_outsider_or_over_other_hash_is_refused() -> None:
    party, outsider = generate_keypair(ED25519), generate_keypair(ED25519)
    core = _core(_parties(party))
    record_hash = records.record_hash(core)
    with pytest.raises(EvidenceError) as outside:
        records.check_signature(core, record_hash, records.sign_record(record_hash, outsider))
    assert outside.value.code == "NOT_A_PARTY"
    with pytest.raises(EvidenceError) as wrong:
        records.check_signature(core, record_hash, records.sign_record(b"\x00" * 32, party))
    assert wrong.value.code == "INVALID_SIGNATURE"


def test_invalid_inputs_have_stable_codes() -> None:
    with pytest.raises(EvidenceError, match="type"):
        records.normalize_metadata("t", "novel")
    with pytest.raises(EvidenceError) as bad_digest:
        records.normalize_digests({"sha256": "zz"})
    assert bad_digest.value.code == "INVALID_DIGEST"
    key = generate_keypair(ED25519).public.base58
    with pytest.raises(EvidenceError) as twice:
        records.normalize_parties([{"name": "a", "public_key": key}, {"name": "b", "public_key": key}])
    assert twice.value.code == "INVALID_PARTY"


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 33])
def test_every_batch_member_has_an_inclusion_path_to_the_root(size: int) -> None:
    members = [records.normalize_member({"name": f"f{i}", "size": i, **records.digest_bytes(bytes([i]) * 10)})
               for i in range(size)]
    tree = records.BatchTree(members)
    for index, member in enumerate(members):
        assert records.member_root(member, index, size, tree.path(index)) == tree.root
    if size > 1:
        tampered = dict(members[0], name="other")
        assert records.member_root(tampered, 0, size, tree.path(0)) != tree.root
        with pytest.raises(ProofError):
            records.member_root(members[0], 0, size, tree.path(0) + ["00" * 32])


def test_batch_core_commits_to_the_member_list() -> None:
    items = [{"name": f"f{i}", **records.digest_bytes(bytes([i]))} for i in range(4)]
    parties = _parties(generate_keypair(ED25519))
    metadata = records.normalize_metadata("Shipments", "logistics")
    core = records.build_batch_core(members=items, metadata=metadata, parties=parties, created_at=1, nonce="ab")
    reordered = records.build_batch_core(members=items[::-1], metadata=metadata, parties=parties, created_at=1, nonce="ab")
    assert core["batch"]["size"] == 4 and core["batch"]["root"] != reordered["batch"]["root"]
