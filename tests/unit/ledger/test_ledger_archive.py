"""Archiving old blocks to files and importing them back (ledger/archive.py).

The stories an operator relies on: archived heights answer ARCHIVED (not a crash), the node keeps
executing exactly as a node that archived nothing, an altered file is refused with the database
untouched, and an import gives back the database byte for byte, proofs included.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ledger.archive import (
    archive_ledger,
    decode_archive,
    encode_archive,
    import_archive,
    list_archive_files,
    plan_ranges,
)
from ledger.certificate import assemble_certificate, sign_commit_statement
from ledger.crypto import SM2, address_from_public_key, sign
from ledger.errors import Archived, ArchiveInvalid, ArchiveRefused, NotFound
from ledger.proofs import build_entry_bundle, build_event_bundle, build_transaction_bundle, verify_bundle
from ledger.store.memory import MemoryStore

from tests.unit.ledger.ledger_testkit import Chain, make_chain, seeded_keypair


def certify(chain: Chain, heights=None) -> None:
    for height in heights or range(1, chain.ledger.height + 1):
        if chain.ledger.get_certificate(height) is not None:
            continue
        header_hash = chain.ledger.hash_header(chain.ledger.get_header(height))
        signatures = [
            sign_commit_statement(lambda m, p=p: sign(p.private, m), p.public.encoded,
                                  chain.ledger.ledger_hash, height, header_hash, 0)
            for p in chain.founders[:3]
        ]
        chain.ledger.put_certificate(assemble_certificate(chain.ledger.ledger_hash, height, header_hash, 0, signatures))


def build_history(blocks: int = 12, sm: bool = False) -> Chain:
    """Entries, events and several transactions per block; every header certified."""
    chain = (make_chain(store=MemoryStore(), algorithm=SM2, hash_algorithm="SM3") if sm
             else make_chain(store=MemoryStore()))
    account = chain.new_data_account("archive-acct")
    events = seeded_keypair("archive-events")
    chain.commit(chain.tx(lambda b: b.register_event_account(events.public.encoded)))
    chain.account = account  # type: ignore[attr-defined]
    chain.events = address_from_public_key(events.public)  # type: ignore[attr-defined]
    for round_ in range(blocks):
        chain.commit(
            chain.tx(lambda b, r=round_: b.kv_set(account, f"k{r}", f"v{r}", -1).publish(chain.events, "t", f"e{r}")),
            chain.tx(lambda b, r=round_: b.kv_set(account, "shared", r, r - 1)),
        )
    chain.commit()
    certify(chain)
    return chain


def store_items(chain: Chain) -> dict[bytes, bytes]:
    return dict(chain.ledger.store.iterate(b""))


@pytest.mark.parametrize("sm", [False, True], ids=["ed25519-sha256", "sm2-sm3"])
def test_archive_then_import_restores_the_database_byte_for_byte(tmp_path, sm: bool) -> None:
    chain = build_history(sm=sm)
    before = store_items(chain)
    report = archive_ledger(chain.ledger, 10, str(tmp_path), blocks_per_file=4)
    assert report.first_held == 10 and report.blocks == 9 and report.transactions > 9
    assert [os.path.basename(p) for p in report.files] == [
        "blocks-000000000001-000000000004.jca", "blocks-000000000005-000000000008.jca",
        "blocks-000000000009-000000000009.jca"]
    after_archive = store_items(chain)
    assert sum(map(len, after_archive.values())) < sum(map(len, before.values()))
    assert all(os.stat(p).st_mode & 0o077 == 0 for p in report.files)
    imported = import_archive(chain.ledger, str(tmp_path))
    assert imported.first_held == 1 and imported.blocks == 9 and imported.transactions == report.transactions
    assert store_items(chain) == before
    # importing again changes nothing
    assert import_archive(chain.ledger, str(tmp_path)).blocks == 0 and store_items(chain) == before


def test_archived_heights_answer_archived_and_recent_ones_still_serve(tmp_path) -> None:
    chain = build_history()
    ledger = chain.ledger
    early_tx = ledger.get_block_tx_hashes(3)[0]
    archive_ledger(ledger, 8, str(tmp_path))
    for read in (lambda: ledger.get_header(3), lambda: ledger.get_block(3), lambda: ledger.get_block_tx_hashes(3),
                 lambda: ledger.roots_at(3), lambda: ledger.get_transaction(early_tx), lambda: ledger.get_tx_hash_at(2),
                 lambda: ledger.get_events(chain.events, "t", 0)):
        with pytest.raises(Archived) as caught:
            read()
        assert caught.value.code == "ARCHIVED" and caught.value.http_status == 410
    assert isinstance(caught.value, NotFound)  # callers that treat "not here" alike keep working
    assert ledger.get_certificate(3) is None
    assert ledger.get_header(0).height == 0 and ledger.get_header(8).height == 8  # genesis and the anchor stay
    with pytest.raises(NotFound) as missing:
        ledger.get_header(ledger.height + 5)
    assert missing.value.code == "NOT_FOUND"
    # state is whole: every entry (also those written in archived blocks) and later events read as before
    assert ledger.get_entry(chain.account, "k0").value.to_python() == "v0"
    assert ledger.get_entry(chain.account, "shared").value.to_python() == 11
    later = ledger.get_events(chain.events, "t", 9)
    assert [e.sequence for e in later] == [9, 10, 11]
    # a proof of state at a recent certified header needs nothing archived
    bundle = build_entry_bundle(ledger, chain.account, "k0")
    assert verify_bundle(json.loads(json.dumps(bundle)), trusted_validators=ledger.validator_set()).claim["value"]["value"] == "v0"


def test_a_node_that_archived_executes_exactly_as_one_that_did_not(tmp_path) -> None:
    archived, plain = build_history(), build_history()
    replay = archived.ledger.get_block(3).transactions[0]
    archive_ledger(archived.ledger, 10, str(tmp_path))
    assert archived.ledger.has_transaction(archived.ledger.tx_hash(replay))
    fresh = [archived.tx(lambda b: b.kv_set(archived.account, "after", 1, -1))]
    plain.nonce_counter = archived.nonce_counter
    results = []
    for chain in (archived, plain):
        result = chain.commit(replay, *fresh)
        results.append((result.roots, result.block_hash, [i.status for i in result.tx_infos], result.skipped_duplicates))
    assert results[0] == results[1]
    assert results[0][3] == (archived.ledger.tx_hash(replay),)  # the replayed transaction is a duplicate on both


def test_proofs_of_archived_then_imported_entries_verify(tmp_path) -> None:
    chain = build_history()
    ledger = chain.ledger
    old_version = build_entry_bundle(ledger, chain.account, "shared", 2)
    tx_hash = ledger.get_entry(chain.account, "shared", 2).tx_hash
    tx_bundle = build_transaction_bundle(ledger, tx_hash)
    event_bundle = build_event_bundle(ledger, chain.events, "t", 1)
    archive_ledger(ledger, 10, str(tmp_path))
    with pytest.raises(Archived):
        build_entry_bundle(ledger, chain.account, "shared", 2)  # its certifying header is archived
    with pytest.raises(Archived):
        build_transaction_bundle(ledger, tx_hash)
    import_archive(ledger, str(tmp_path))
    trusted = ledger.validator_set()
    for before, after in ((old_version, build_entry_bundle(ledger, chain.account, "shared", 2)),
                          (tx_bundle, build_transaction_bundle(ledger, tx_hash)),
                          (event_bundle, build_event_bundle(ledger, chain.events, "t", 1))):
        assert after == before
        assert verify_bundle(json.loads(json.dumps(after)), trusted_validators=trusted, require_certificate=True)


def test_the_request_is_refused_before_anything_changes(tmp_path) -> None:
    chain = build_history()
    chain.commit()  # an uncertified tip
    before = store_items(chain)
    for below, why in ((1, "archived already"), (chain.ledger.height + 1, "past the latest block"),
                       (chain.ledger.height, "no commit certificate")):
        with pytest.raises(ArchiveRefused) as caught:
            archive_ledger(chain.ledger, below, str(tmp_path / "out"))
        assert why in caught.value.message and caught.value.code == "ARCHIVE_REFUSED"
    assert store_items(chain) == before and not (tmp_path / "out").exists()


def test_ranges_end_at_certified_headers() -> None:
    chain = make_chain(store=MemoryStore())
    for _ in range(10):
        chain.commit()
    certify(chain, [3, 7, 9])
    assert plan_ranges(chain.ledger, 9, 4) == [(1, 3), (3, 7), (7, 9)]
    certify(chain, [1, 2])
    assert plan_ranges(chain.ledger, 3, 1) == [(1, 2), (2, 3)]
    sparse = make_chain(store=MemoryStore())
    for _ in range(10):
        sparse.commit()
    certify(sparse, [6, 9])
    assert plan_ranges(sparse.ledger, 9, 2) == [(1, 6), (6, 9)]  # no certified header within 2: stretched


def test_import_refuses_gaps_and_foreign_files(tmp_path) -> None:
    chain = build_history()
    report = archive_ledger(chain.ledger, 10, str(tmp_path / "a"), blocks_per_file=4)
    after_archive = store_items(chain)
    os.remove(report.files[1])
    with pytest.raises(ArchiveRefused, match="gap"):
        import_archive(chain.ledger, str(tmp_path / "a"))
    other = make_chain(n_founders=3, store=MemoryStore())
    for _ in range(4):
        other.commit()
    certify(other)
    archive_ledger(other.ledger, 3, str(tmp_path / "b"))
    with pytest.raises(ArchiveInvalid, match="for ledger"):
        import_archive(chain.ledger, str(tmp_path / "b"))
    assert store_items(chain) == after_archive


@pytest.fixture(scope="module")
def archived_once(tmp_path_factory):
    directory = tmp_path_factory.mktemp("archive")
    chain = build_history(blocks=4)
    report = archive_ledger(chain.ledger, 5, str(directory))
    (path,) = report.files
    with open(path, "rb") as handle:
        raw = handle.read()
    return chain, str(directory), path, raw, store_items(chain)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_a_file_altered_in_any_one_byte_is_refused_and_nothing_changes(archived_once, position, flip) -> None:
    chain, directory, _, raw, archived_items = archived_once
    tampered = bytearray(raw)
    tampered[position % len(raw)] ^= flip
    with pytest.raises(ArchiveInvalid) as caught:
        import_archive(chain.ledger, directory, read=lambda _: bytes(tampered))
    assert caught.value.code == "ARCHIVE_INVALID" and "nothing was imported" in caught.value.message
    assert store_items(chain) == archived_items


def _with_forged_signature(raw: bytes, block_index: int, tx_index: int) -> bytes:
    """The file re-encoded (canonically) with one endpoint signature of one transaction altered."""
    from dataclasses import replace

    from ledger import codec

    archive = decode_archive(raw)
    block = archive.blocks[block_index]
    txs = codec.unpack_canonical(block.body)
    content, signatures = codec.unpack_canonical(txs[tx_index])
    forged = bytearray(signatures[0][1])
    forged[-1] ^= 1
    txs[tx_index] = codec.pack_canonical([content, [[signatures[0][0], bytes(forged)], *signatures[1:]]])
    blocks = list(archive.blocks)
    blocks[block_index] = replace(block, body=codec.pack_canonical(txs))
    return encode_archive(replace(archive, blocks=tuple(blocks)))


def test_an_altered_signature_is_refused_by_verification_or_by_the_kept_digest(tmp_path) -> None:
    """Signatures are not under the transaction root: a successful transaction's are verified again,
    a failed one's (which may never have verified) are covered by the digest the node keeps."""
    from ledger.archive import verify_archive

    chain = build_history(blocks=2)
    account = chain.account
    conflict = chain.tx(lambda b: b.kv_set(account, "k0", "late", 5))  # wrong version: recorded as failed
    assert chain.statuses(conflict) == ["VERSION_CONFLICT"]
    failed_height = chain.ledger.height
    chain.commit()
    certify(chain)
    report = archive_ledger(chain.ledger, chain.ledger.height, str(tmp_path))
    (path,) = report.files
    raw = Path(path).read_bytes()
    archived_items = store_items(chain)
    first = decode_archive(raw).first_height
    with pytest.raises(ArchiveInvalid, match="endpoint signature of a successful transaction"):
        verify_archive(chain.ledger, _with_forged_signature(raw, 1, 0))  # block 2 registers the event account
    forged_failed = _with_forged_signature(raw, failed_height - first, 0)
    verify_archive(chain.ledger, forged_failed)  # passes the chain's own checks ...
    with pytest.raises(ArchiveInvalid, match="differs from the one this node archived"):
        import_archive(chain.ledger, str(tmp_path), read=lambda _: forged_failed)  # ... not the digest
    assert store_items(chain) == archived_items


def test_every_single_byte_change_of_a_small_file_fails_its_own_verification(archived_once) -> None:
    from ledger.archive import verify_archive

    chain, _, _, raw, _ = archived_once
    accepted = []
    for position in range(len(raw)):
        changed = bytearray(raw)
        changed[position] ^= 0x01
        try:
            verify_archive(chain.ledger, bytes(changed))
        except ArchiveInvalid:
            continue
        accepted.append(position)
    assert accepted == []


def test_archive_files_are_listed_in_height_order(tmp_path) -> None:
    chain = build_history()
    archive_ledger(chain.ledger, 10, str(tmp_path), blocks_per_file=3)
    names = [os.path.basename(p) for p in list_archive_files(str(tmp_path))]
    assert names == sorted(names) and len(names) == 3


def _flip(raw: bytes, at: int = -1) -> bytes:
    changed = bytearray(raw)
    changed[at] ^= 1
    return bytes(changed)


@pytest.mark.parametrize("part", ["header", "body content", "certificate", "info", "events", "frontier",
                                  "anchor header", "anchor certificate", "heights"])
def test_the_file_verifies_on_its_own_bytes_without_the_kept_digest(archived_once, part) -> None:
    """Every certified part of a file is checked by the chain of hashes up to the anchor's certificate."""
    from dataclasses import replace

    from ledger import codec
    from ledger.archive import verify_archive

    chain, _, _, raw, _ = archived_once
    archive = decode_archive(raw)
    verify_archive(chain.ledger, raw)
    block = next(b for b in archive.blocks if any(b.events))
    index = archive.blocks.index(block)
    if part == "body content":
        txs = codec.unpack_canonical(block.body)
        content, signatures = codec.unpack_canonical(txs[0])
        content[3] = _flip(content[3])  # the nonce
        txs[0] = codec.pack_canonical([content, signatures])
        block = replace(block, body=codec.pack_canonical(txs))
    elif part == "events":
        events = list(block.events)
        at = next(i for i, e in enumerate(events) if e)
        events[at] = _flip(events[at], -3)
        block = replace(block, events=tuple(events))
    elif part in ("header", "certificate", "info"):
        field = {"header": "header", "certificate": "certificate", "info": "infos"}[part]
        value = getattr(block, field)
        block = replace(block, **{field: (_flip(value[0], -3), *value[1:]) if part == "info" else _flip(value, -3)})
    blocks = (*archive.blocks[:index], block, *archive.blocks[index + 1:])
    changed = replace(archive, blocks=blocks)
    if part == "frontier":
        level, node_index, node = archive.frontier[0]
        changed = replace(archive, frontier=((level, node_index, _flip(node)), *archive.frontier[1:]))
    elif part == "anchor header":
        changed = replace(archive, anchor_header=_flip(archive.anchor_header, -3))
    elif part == "anchor certificate":
        changed = replace(archive, anchor_certificate=_flip(archive.anchor_certificate, -3))
    elif part == "heights":
        changed = replace(archive, first_height=archive.first_height + 1, anchor_height=archive.anchor_height + 1)
    with pytest.raises(ArchiveInvalid):
        verify_archive(chain.ledger, encode_archive(changed))


def test_the_block_where_the_current_epoch_starts_is_never_archived(tmp_path) -> None:
    """A restarting node reads the header before its epoch's first block; archiving stops there."""
    from ledger.governance import key_rotation_operations
    from tests.unit.ledger.test_governance_ownership import Orgs, make_consortium
    from tests.unit.ledger.test_governance_proposals import propose, vote

    orgs = Orgs(make_consortium())
    ledger = orgs.chain.ledger
    old = next(p for p in ledger.list_participants() if p.public_key == orgs.b.public.encoded)
    proposal_id, _ = propose(orgs, key_rotation_operations(old, seeded_keypair("b-2").public.encoded, "b2"), orgs.b)
    assert vote(orgs, proposal_id, orgs.c) == "SUCCESS"
    record = ledger.validator_set_record()
    assert record.epoch == 1
    for _ in range(4):
        orgs.chain.commit()
    with pytest.raises(ArchiveRefused, match="current epoch 1 starts"):
        plan_ranges(ledger, record.since_height, 10)
    certify(Chain(ledger, orgs.chain.founders), [record.since_height - 1])
    assert plan_ranges(ledger, record.since_height - 1, 1000) == [(1, record.since_height - 1)]

