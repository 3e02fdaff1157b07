"""A whole ledger from a certified snapshot: offer verified against a certified header, state and
readable indexes rebuilt from proven leaves, history below the snapshot refused with a stable code,
and the next blocks apply with the same roots as on the source."""

from __future__ import annotations

import dataclasses

import pytest

from ledger import codec
from ledger.certificate import ValidatorSignature, assemble_certificate, encode_commit_statement
from ledger.crypto import sign
from ledger.errors import CodecError, HistoryNotAvailable, NotFound, ProofError
from ledger.ledger import Ledger
from ledger.snapshot import SnapshotRejected, verify_chunk
from ledger.snapshot_ledger import (
    LedgerSnapshotOffer,
    classify_leaf,
    export_ledger_snapshot,
    frontier_positions,
    import_ledger_snapshot,
    verify_offer,
)
from ledger.store.memory import MemoryStore
from tests.unit.ledger.ledger_testkit import Chain, make_chain


def certify(chain: Chain, height: int, signers: int = 3) -> None:
    ledger = chain.ledger
    header = ledger.get_header(height)
    header_hash = ledger.hash_header(header)
    statement = encode_commit_statement(ledger.ledger_hash, height, header_hash, header.epoch)
    signatures = [ValidatorSignature(p.public.encoded, sign(p.private, statement)) for p in chain.founders[:signers]]
    ledger.put_certificate(assemble_certificate(ledger.ledger_hash, height, header_hash, header.epoch, signatures))


def grow(chain: Chain, blocks: int, start: int = 0) -> str:
    account = chain.new_data_account("snap-data")
    for block in range(start, start + blocks):
        chain.commit(*[chain.tx(lambda b, i=i: b.kv_set(account, f"k{i}", f"v{i}-{block}", expected_version=-1 if block == 0 else block - 1))
                       for i in range(10)])
    return account


def joiner_of(chain: Chain) -> Ledger:
    genesis = chain.ledger.get_block(0)
    return Ledger.create(MemoryStore(), genesis)


def offer_for(chain: Chain, height: int) -> tuple[LedgerSnapshotOffer, list[bytes]]:
    certify(chain, height + 1)
    return export_ledger_snapshot(chain.ledger, height)


def small_certified_offer() -> tuple[Chain, LedgerSnapshotOffer]:
    """A chain of a few blocks and the offer of its next-to-last height (the last one certified)."""
    chain = make_chain()
    grow(chain, 2)
    height = chain.ledger.height
    chain.commit()
    return chain, offer_for(chain, height)[0]


def verify(chain: Chain, offer: LedgerSnapshotOffer) -> None:
    ledger = chain.ledger
    verify_offer(offer, ledger_hash=ledger.ledger_hash, hash_fn=ledger.hash_fn, hash_code=ledger.hash_code,
                 validators=ledger.validator_set(0))


def test_frontier_positions_are_the_binary_decomposition() -> None:
    assert frontier_positions(0) == []
    assert frontier_positions(1) == [(0, 0)]
    assert frontier_positions(6) == [(2, 0), (1, 2)]
    assert frontier_positions(13) == [(3, 0), (2, 2), (0, 12)]


def test_a_joined_ledger_continues_with_the_same_roots_and_refuses_older_history() -> None:
    chain = make_chain()
    account = grow(chain, 4)
    height = chain.ledger.height
    chain.commit(chain.tx(lambda b: b.kv_set(account, "after", "x")))  # block H + 1 (carries the roots after H)
    offer, chunks = offer_for(chain, height)
    verify(chain, offer)
    joiner = joiner_of(chain)
    verified = [verify_chunk(joiner.hash_fn, offer.manifest, i, raw) for i, raw in enumerate(chunks)]
    import_ledger_snapshot(joiner, offer, verified)

    source = chain.ledger
    assert (joiner.height, joiner.roots, joiner.history_start) == (height, source.roots_at(height), height)
    # readable state equals the source's at H: the latest entry versions, accounts, validators
    for i in range(10):
        assert joiner.get_entry(account, f"k{i}") == source.get_entry(account, f"k{i}")
    assert joiner.get_account(account) == source.get_account(account)
    assert joiner.validator_set() == source.validator_set()
    assert joiner.settings == source.settings
    # the next blocks (H + 1 from the source, then one more) apply with identical roots
    joiner.apply_block(source.get_block(height + 1))
    chain.commit(chain.tx(lambda b: b.kv_set(account, "k0", "again", expected_version=3)))
    result = joiner.apply_block(source.get_block(height + 2))
    assert result.roots == source.roots
    assert joiner.get_entry(account, "k0").version == 4
    # history below H is refused with its own code, not fabricated
    with pytest.raises(HistoryNotAvailable) as refused:
        joiner.get_header(1)
    assert refused.value.code == "HISTORY_NOT_AVAILABLE" and refused.value.http_status == 410
    with pytest.raises(HistoryNotAvailable):
        joiner.get_block(height)
    with pytest.raises(HistoryNotAvailable):
        joiner.roots_at(height - 1)
    old_tx = source.get_block_tx_hashes(2)[0]
    with pytest.raises(NotFound, match="history starts"):
        joiner.get_transaction(old_tx)
    assert joiner.get_header(height) == source.get_header(height)
    assert joiner.get_block(height + 2) == source.get_block(height + 2)


def test_an_offer_that_does_not_follow_from_the_certified_header_is_refused() -> None:
    chain, offer = small_certified_offer()
    height = offer.height
    other = make_chain()
    grow(other, 3)
    other.commit()
    forged, _ = offer_for(other, other.ledger.height - 1)
    bad_offers = [
        dataclasses.replace(offer, manifest=forged.manifest),  # another state
        dataclasses.replace(offer, frontier=offer.frontier[:-1] + (b"\x00" * 32,)),  # another accumulator
        dataclasses.replace(offer, header=chain.ledger.get_header(height - 1)),  # not the parent
        dataclasses.replace(offer, certificate=dataclasses.replace(offer.certificate, signatures=offer.certificate.signatures[:2])),
        dataclasses.replace(offer, next_header=dataclasses.replace(offer.next_header, state_root=forged.next_header.state_root)),
    ]
    for bad in bad_offers:
        with pytest.raises((SnapshotRejected, ProofError)):
            verify(chain, LedgerSnapshotOffer.decode(bad.encode()))
    verify(chain, LedgerSnapshotOffer.decode(offer.encode()))


def test_a_leaf_that_is_no_known_record_is_refused() -> None:
    chain = make_chain()
    account = grow(chain, 1)
    entry = chain.ledger.get_entry(account, "k1")
    encoded = codec.encode(entry)
    key_hash = chain.ledger.entry_state_key(account, "k1")
    record, _ = classify_leaf(chain.ledger.hash_fn, key_hash, encoded)
    assert record == entry
    with pytest.raises(SnapshotRejected):
        classify_leaf(chain.ledger.hash_fn, chain.ledger.entry_state_key(account, "k2"), encoded)  # another key
    with pytest.raises(SnapshotRejected):
        classify_leaf(chain.ledger.hash_fn, key_hash, b"\x01garbage")


def test_every_single_byte_change_of_an_encoded_offer_is_refused() -> None:
    chain, offer = small_certified_offer()
    encoded = offer.encode()
    accepted = 0
    for position in range(len(encoded)):
        changed = bytearray(encoded)
        changed[position] ^= 0x01
        try:
            verify(chain, LedgerSnapshotOffer.decode(bytes(changed)))
        except (SnapshotRejected, ProofError, CodecError):
            continue
        accepted += 1
    assert accepted == 0

