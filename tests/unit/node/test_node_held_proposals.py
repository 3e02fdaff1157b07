"""A leader with nothing but its own unattested transactions proposes only a few of them.

Its client transactions wait for their gossip attestation before they are proposed
(node.gossip), so the other validators hold them, vouched, when a block carries them. A leader
with nothing else to propose for THROTTLE_PATIENCE_S proposes them anyway, rather than let the
round time out; the other validators then verify them at apply. Under saturation that was a whole
backlog at once (a saturated SM2 run: one such block of ~900, 2,800 extra verifications).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import node.replica as replica_module
from ledger import codec
from node.config import ConsensusSection
from node.replica import MAX_HELD_PROPOSAL_TXS, Replica
from node.replica_parts import decode_payload
from tests.unit.ledger.ledger_testkit import make_chain
from tests.unit.node.test_node_mempool import kv_tx
from tests.unit.node.test_node_replica_sync import PeerAhead


@pytest.mark.parametrize("attested", [False, True])
def test_a_leader_proposes_few_of_its_own_unattested_transactions(tmp_path: Path, monkeypatch, attested: bool) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(replica_module, "THROTTLE_PATIENCE_S", 0.0)  # the leader has waited its patience out
    chain = make_chain(4)  # four validators: f = 1, so client transactions wait for an attestation
    replica = Replica(chain.ledger, data_dir=str(tmp_path), keypair=chain.admin,
                      transport=PeerAhead(chain.founders[1].public.encoded, 0), settings=ConsensusSection())
    try:
        count = 3 * MAX_HELD_PROPOSAL_TXS
        raws = [codec.encode(kv_tx(chain, f"k{i}")) for i in range(count)]
        assert all(result.accepted for result in replica.mempool.submit_many(raws))
        assert replica.mempool.held == count
        if attested:
            replica.mempool.release([tx_hash for _, tx_hash in replica.mempool.take_outbox()])
        proposed = decode_payload(replica.pull(2000, 1 << 30, []), 2000).txs
        if attested:
            assert len(proposed) == count  # attested transactions are proposed in full
        else:
            assert len(proposed) == MAX_HELD_PROPOSAL_TXS and replica.counters["proposals_of_held_txs"] == 1
    finally:
        replica.gossip.close()
        replica.store.close()
