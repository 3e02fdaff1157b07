"""A certificate the replica cannot store stops the node (exit 75), like any other failed write.

Storing a commit or epoch certificate runs in a task of its own. A disk-full error there was a
task exception nobody retrieved: the node went on voting with a store that had failed under it
(seen in the chaos suite's disk-full fault, ``Task exception was never retrieved``)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from ledger.crypto import generate_keypair
from ledger.errors import StorageError
from tests.unit.node.test_node_replica_sync import PeerAhead, ledger, make_replica  # noqa: F401 (fixture)


def _full_disk(*_: object) -> None:
    raise StorageError("write to /data/ledger failed: IO error: No space left on device")


CASES = {
    "commit certificate": ("put_certificate", lambda r: r._store_certificate(SimpleNamespace(height=r.ledger.height + 1)),
                           "certificate of height"),
    "epoch certificate": ("put_epoch_certificate", lambda r: r._store_epoch_certificate(SimpleNamespace(epoch=7)),
                          "certificate of epoch 7"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_certificate_that_cannot_be_stored_fail_stops_the_node(ledger, monkeypatch, case: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    method, store, what = CASES[case]
    chain, _, _ = ledger
    replica = make_replica(ledger, PeerAhead(generate_keypair().public.encoded, chain.height))
    fatal: list[str] = []
    replica.on_fatal = fatal.append
    monkeypatch.setattr(chain, method, _full_disk)
    try:
        asyncio.run(store(replica))
    finally:
        replica.store.close()
    assert replica.halted
    assert len(fatal) == 1 and what in fatal[0] and "No space left on device" in fatal[0]
    assert "certificates" not in replica.counters and "epoch_certificates" not in replica.counters
