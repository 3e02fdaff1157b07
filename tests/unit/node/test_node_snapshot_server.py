"""A node's snapshot server (node/snapshot_sync.py): what it serves, and when."""

from __future__ import annotations

from ledger.snapshot import verify_chunk
from node.snapshot_sync import SnapshotServer
from tests.unit.ledger.ledger_testkit import make_chain
from tests.unit.ledger.test_snapshot_ledger import grow, offer_for


def test_a_peer_without_the_certificate_of_the_next_height_still_serves_the_chunks() -> None:
    # A peer a moment behind on certificates (it has block H + 1 but not yet its certificate) cannot make
    # the offer, but its chunks of H are the same bytes, and a joiner checks them against the manifest of
    # an offer it verified elsewhere: it serves them (under load such a peer refused every chunk).
    chain = make_chain()
    grow(chain, 3)
    height = chain.ledger.height
    chain.commit()  # block H + 1, not certified here
    server = SnapshotServer(chain.ledger)
    assert server.offer() == b""  # no certified height: no offer
    served = [server.chunk(height, index) for index in range(256)]
    offer, chunks = offer_for(chain, height)  # certified now, as on the peer the joiner took the offer from
    assert served == chunks
    for index, raw in enumerate(served):
        verify_chunk(chain.ledger.hash_fn, offer.manifest, index, raw)
    assert server.offer() == offer.encode()  # the same height, now with its offer (no pause between the two)
