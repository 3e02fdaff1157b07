"""A signature verified at ingress vouches for those exact bytes, not for every transaction with its hash.

A transaction's hash covers its content, not its endpoint signatures. A node that had admitted T
(content C, signed by Bob) used to hand the executor ``preverified = "hash in the verified set"``,
so a Byzantine leader could propose T' = C with other signatures — a garbage signature by the
administrator, say — and every node holding T executed T' as co-signed by the administrator
without verifying a byte of it (nodes that had not seen T refused it: a fork as well).
"""

from __future__ import annotations

import dataclasses

import pytest

from ledger import codec
from ledger.executor import SignedTransaction
from ledger.transactions import sign_content
from ledger.types import EndpointSignature, Transaction
from node.replica_parts import ReplicaMempool, apply_payload_txs
from tests.unit.ledger.ledger_testkit import Chain, make_chain


@pytest.fixture
def chain() -> Chain:
    return make_chain(2)


def _kv(chain: Chain, key: str) -> Transaction:
    account = chain.new_data_account(f"acct-{key}", owner=chain.founders[1])
    content = chain.builder().kv_set(account, key, "v").content(nonce=key.encode().ljust(16, b"\0"))
    return sign_content(content, chain.founders[1])


def _forged_with_admin(tx: Transaction, admin_key: bytes) -> Transaction:
    """The same content (so the same hash) with an extra 'administrator' signature of garbage."""
    junk = EndpointSignature(admin_key, bytes(64))
    return dataclasses.replace(tx, signatures=tx.signatures + (junk,))


def _apply(chain: Chain, pool: ReplicaMempool, txs: list[Transaction]):
    signed = pool.signed_payload([codec.encode(tx) for tx in txs])
    chain.time += 1000
    return apply_payload_txs(
        chain.ledger, signed, time_ms=chain.time, proposer=b"", epoch=chain.ledger.current_epoch(),
        preverified=pool.preverified_for(signed),
    )


def test_a_proposal_reusing_a_pooled_hash_with_other_signatures_is_verified(chain: Chain) -> None:
    pool = ReplicaMempool.for_ledger(chain.ledger)
    honest = _kv(chain, "k1")
    assert pool.submit_many([codec.encode(honest)], from_peer=True)[0].accepted
    forged = _forged_with_admin(honest, chain.admin.public.encoded)
    assert chain.ledger.tx_hash(forged) == chain.ledger.tx_hash(honest)

    result = _apply(chain, pool, [forged])
    (info,) = result.tx_infos
    assert info.status != "SUCCESS", "a garbage administrator signature was executed unverified"
    assert "SIGNATURE" in str(info.status) or "SIGNATURE" in str(getattr(info, "error", ""))


def test_the_forged_copy_ahead_of_the_honest_one_in_a_block_is_verified_too(chain: Chain) -> None:
    pool = ReplicaMempool.for_ledger(chain.ledger)
    honest = _kv(chain, "k2")
    assert pool.submit_many([codec.encode(honest)], from_peer=True)[0].accepted
    forged = _forged_with_admin(honest, chain.admin.public.encoded)
    result = _apply(chain, pool, [forged, honest])
    statuses = [info.status for info in result.tx_infos]
    assert "SUCCESS" not in statuses[:1], statuses


def test_the_exact_bytes_ingress_verified_skip_verification(chain: Chain) -> None:
    pool = ReplicaMempool.for_ledger(chain.ledger)
    txs = [_kv(chain, f"e{i}") for i in range(3)]
    assert all(r.accepted for r in pool.submit_many([codec.encode(tx) for tx in txs], from_peer=True))
    checked: list[int] = []
    original = chain.ledger.check_signatures
    chain.ledger.check_signatures = lambda items: checked.append(len(items)) or original(items)
    result = _apply(chain, pool, txs)
    assert [info.status for info in result.tx_infos] == ["SUCCESS"] * 3
    assert sum(checked) == 0


def test_preverified_for_needs_every_copy_of_a_hash_to_match(chain: Chain) -> None:
    pool = ReplicaMempool.for_ledger(chain.ledger)
    honest = _kv(chain, "k3")
    pool.submit_many([codec.encode(honest)], from_peer=True)
    (mine,) = pool.signed_payload([codec.encode(honest)])
    forged = SignedTransaction.decode(codec.encode(_forged_with_admin(honest, chain.admin.public.encoded)),
                                      pool.hash_fn, pool.hash_code)
    assert pool.preverified_for([mine])(mine.tx_hash)
    assert not pool.preverified_for([forged])(mine.tx_hash)
    assert not pool.preverified_for([mine, forged])(mine.tx_hash)
    assert not pool.preverified_for([forged, mine])(mine.tx_hash)
