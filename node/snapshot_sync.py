"""Snapshot sync on the node: serve a ledger's state at a recent certified height, or start from one.

Serving (:class:`SnapshotServer`, gRPC ``/jadechain.Sync/GetSnapshot``): a peer asks for an *offer*
(:class:`ledger.snapshot_ledger.LedgerSnapshotOffer`: headers H and H + 1, the certificate of H + 1,
the chunk manifest, the accumulator frontier, the epoch changes) and then for chunks by
``(height, index)``. The node exports the highest height whose successor it holds a commit
certificate for, keeps that one export in memory for the peers that fetch it, and makes a newer one
when asked for an offer more than :data:`REFRESH_BLOCKS` blocks later. Any honest peer exports
byte-identical chunks for a height, so a joining node may take each chunk from another peer.

Joining (:func:`join_from_snapshot`), when the ledger holds only its genesis block and either
``[consensus] snapshot_sync`` is on or ``jadechain node repair`` left its request marker: the node
asks its peers for offers and takes the first one that verifies against the validators it trusts
(the genesis set, then the certified epoch changes), fetches every chunk — chunk ``i`` from peer
``i mod n`` first; a chunk that does not verify against the manifest is refused, counted and asked of
the next peer — imports the ledger at H in one atomic batch and then starts as usual: ledger sync from
H + 1 and a consensus fast-forward to the network's committed root, after which it votes. If no peer
offers a verifiable snapshot, the node replays from genesis as before.

What the state root does not prove is not fabricated: the node's history starts at H, and reads of
blocks, transactions or events below it answer ``HISTORY_NOT_AVAILABLE`` (HTTP 410).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import msgpack

from ledger.certificate import ValidatorSet, verify_epoch_chain
from ledger.crypto import to_base58
from ledger.errors import CodecError, JadechainError, ProofError
from ledger.ledger import Ledger
from ledger.snapshot import FetchChunk, SnapshotRejected, fetch_snapshot
from ledger.snapshot_ledger import (
    LedgerSnapshotOffer,
    export_ledger_chunks,
    export_ledger_snapshot,
    import_ledger_snapshot,
    verify_offer,
)

if TYPE_CHECKING:
    from node.replica import Replica

__all__ = ["REQUEST_MARKER", "SnapshotServer", "join_from_snapshot", "request_snapshot_sync", "snapshot_wanted"]

log = logging.getLogger("jadechain.snapshot")

REFRESH_BLOCKS = 64
"""An offer is made anew when the cached export is this many blocks behind the certified tip."""
CERTIFIED_LOOKBACK = 64
"""How far below its tip a node looks for the newest certified header to export below."""
REQUEST_MARKER = "snapshot-sync-requested"
"""File in ``<data_dir>/consensus/<ledger>/`` by which ``node repair`` asks the next start for a snapshot."""
OFFER_WAIT_S = 30.0
"""How long a joining node keeps asking its peers for an offer before it replays from genesis."""
CHUNK_TIMEOUT_S = 30.0
EXPORT_INTERVAL_S = 5.0
"""Least time between two exports of different heights by one node (each costs a walk of the state)."""
_OFFER = b"offer"
_CHUNK = b"chunk"


def _pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


# --- serving ----------------------------------------------------------------------------------


class SnapshotServer:
    """Offers and chunks of one ledger, one export cached (methods run in worker threads)."""

    def __init__(self, ledger: Ledger, prefix_nibbles: int = 2) -> None:
        self.ledger = ledger
        self.prefix_nibbles = prefix_nibbles
        self._lock = threading.Lock()
        self._cached: tuple[int, bytes | None, list[bytes]] | None = None
        """(height, encoded offer or None when only the chunks were asked for, chunks)."""
        self._next_export_at = 0.0

    def _certified_base(self) -> int | None:
        """The newest H with a certificate for H + 1 (and H inside this node's history)."""
        ledger = self.ledger
        floor = max(1, ledger.history_start)
        for successor in range(ledger.height, max(floor, ledger.height - CERTIFIED_LOOKBACK), -1):
            if successor - 1 >= floor and ledger.get_certificate(successor) is not None:
                return successor - 1
        return None

    def _export(self, height: int, with_offer: bool) -> tuple[bytes | None, list[bytes]]:
        """The encoded offer (with ``with_offer``) and the chunks at ``height``, from the cache or made."""
        with self._lock:
            cached = self._cached
            if cached is not None and cached[0] == height and (cached[1] is not None or not with_offer):
                return cached[1], cached[2]
            if (cached is None or cached[0] != height) and time.monotonic() < self._next_export_at:
                # Requests for alternating heights would otherwise make this node export again and
                # again; a joiner refused here asks another peer.
                raise SnapshotRejected("another snapshot height was exported moments ago", height=height)
            started = time.perf_counter()
            if with_offer:
                offer, chunks = export_ledger_snapshot(self.ledger, height, self.prefix_nibbles)
                encoded: bytes | None = offer.encode()
            else:
                # Chunks need no certificate (the joiner checks them against the manifest of an offer it
                # verified): a peer a moment behind on certificates still serves them.
                encoded, (_, chunks) = None, export_ledger_chunks(self.ledger, height, self.prefix_nibbles)
            # The pause starts after an export that was made: one refused at once cost nothing.
            self._next_export_at = time.monotonic() + EXPORT_INTERVAL_S
            self._cached = (height, encoded, chunks)
            log.info("state snapshot exported", extra={
                "height": height, "chunks": len(chunks), "bytes": sum(len(c) for c in chunks),
                "seconds": round(time.perf_counter() - started, 3)})
            return encoded, chunks

    def offer(self) -> bytes:
        """The encoded offer of the newest certified height (empty when there is none)."""
        base = self._certified_base()
        if base is None:
            return b""
        cached = self._cached
        if cached is not None and cached[1] is not None and cached[0] > base - REFRESH_BLOCKS:
            return cached[1]
        return self._export(base, with_offer=True)[0] or b""

    def chunk(self, height: int, index: int) -> bytes:
        """Chunk ``index`` of the export at ``height`` (made if this node can; empty otherwise)."""
        if not max(1, self.ledger.history_start) <= height < self.ledger.height:
            return b""
        chunks = self._export(height, with_offer=False)[1]
        return chunks[index] if 0 <= index < len(chunks) else b""

    def serve(self, request: Any) -> bytes:
        """Answer a GetSnapshot request ``[ledger hash, "offer"]`` or ``[ledger hash, "chunk", H, index]``."""
        try:
            if request[1] == _OFFER:
                return self.offer()
            if request[1] == _CHUNK and len(request) == 4:
                return self.chunk(int(request[2]), int(request[3]))
        except (JadechainError, KeyError) as error:
            log.warning("snapshot request not served: %s", error)
        return b""


def offer_request(ledger_hash: bytes) -> bytes:
    return _pack([ledger_hash, _OFFER])


def chunk_request(ledger_hash: bytes, height: int, index: int) -> bytes:
    return _pack([ledger_hash, _CHUNK, height, index])


# --- joining ----------------------------------------------------------------------------------


def marker_path(replica: "Replica") -> str:
    return os.path.join(replica._consensus_dir, REQUEST_MARKER)


def request_snapshot_sync(consensus_dir: str) -> None:
    """Ask the next start of the node to join from a snapshot (written by ``node repair``)."""
    os.makedirs(consensus_dir, exist_ok=True)
    with open(os.path.join(consensus_dir, REQUEST_MARKER), "w") as marker:
        marker.write("requested by jadechain node repair\n")


def snapshot_wanted(replica: "Replica") -> bool:
    return replica.ledger.height == 0 and (replica.settings.snapshot_sync or os.path.exists(marker_path(replica)))


def trusted_validators(ledger: Ledger, offer: LedgerSnapshotOffer) -> ValidatorSet:
    """The validators of the offer's certified header, learnt only from this ledger's genesis set
    and the offer's epoch changes (each checked by the set before it)."""
    epoch = offer.next_header.epoch
    genesis_set = ledger.validator_set(0)
    if epoch == 0:
        return genesis_set
    found = verify_epoch_chain(genesis_set, offer.epoch_certificates[:epoch], ledger_hash=ledger.ledger_hash)
    if found.epoch != epoch:
        raise SnapshotRejected("the epoch changes do not reach the snapshot header's epoch", epoch=epoch)
    return found


async def _take_offer(replica: "Replica") -> tuple[bytes, LedgerSnapshotOffer] | None:
    """The first offer from a peer that verifies (None when no peer offers one in time)."""
    ledger, transport = replica.ledger, replica.transport
    deadline = time.monotonic() + OFFER_WAIT_S
    while time.monotonic() < deadline and not replica._stopping:
        peers = transport.peer_authors()
        answered = 0
        for author in peers:
            try:
                raw = await asyncio.wait_for(transport.get_snapshot(author, offer_request(ledger.ledger_hash)), 30.0)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.info("no snapshot offer from %s: %s", to_base58(author)[:12], repr(error)[:300],
                         extra={"ledger": replica.name})
                continue
            answered += 1
            if not raw:
                log.info("no snapshot offer from %s (none certified yet)", to_base58(author)[:12], extra={"ledger": replica.name})
                continue
            try:
                offer = LedgerSnapshotOffer.decode(raw)
                verify_offer(offer, ledger_hash=ledger.ledger_hash, hash_fn=ledger.hash_fn, hash_code=ledger.hash_code,
                             validators=trusted_validators(ledger, offer))
            except (CodecError, ProofError) as error:
                replica._count("snapshot_offers_refused")
                log.warning("snapshot offer from %s refused: %s", to_base58(author)[:12], error.message,
                            extra={"ledger": replica.name})
                continue
            if offer.height < replica.settings.snapshot_min_blocks:
                return None  # the chain is short: replaying it is as cheap
            return author, offer
        if peers and answered == len(peers):
            return None  # every peer answered and none offers one (a new network): nothing to wait for
        await asyncio.sleep(1.0)
    return None


async def join_from_snapshot(replica: "Replica") -> dict[str, Any] | None:
    """Start ``replica``'s ledger (at genesis) from a verified snapshot; the report, or None to replay."""
    ledger, transport = replica.ledger, replica.transport
    started = time.perf_counter()
    taken = await _take_offer(replica)
    if taken is None:
        log.warning("no verifiable snapshot offered: replaying the chain from genesis", extra={"ledger": replica.name})
        return None
    source, offer = taken
    loop = asyncio.get_running_loop()
    peers = [source] + [a for a in transport.peer_authors() if a != source]

    def fetcher(author: bytes) -> FetchChunk:
        def fetch(index: int) -> bytes:
            request = chunk_request(ledger.ledger_hash, offer.height, index)
            raw: bytes = asyncio.run_coroutine_threadsafe(transport.get_snapshot(author, request), loop).result(CHUNK_TIMEOUT_S)
            if not raw:
                raise ConnectionError("the peer has no such chunk")
            return raw
        return fetch

    try:
        chunks, fetched = await asyncio.to_thread(fetch_snapshot, ledger.hash_fn, offer.manifest, [fetcher(p) for p in peers])
    except SnapshotRejected as error:
        log.warning("snapshot not fetched (%s): replaying the chain from genesis", error.message, extra={"ledger": replica.name})
        return None
    async with replica._writer:
        await asyncio.to_thread(import_ledger_snapshot, ledger, offer, chunks)
    with_names = getattr(transport, "names", {})
    refused = [{"chunk": index, "peer": with_names.get(peers[peer], to_base58(peers[peer])), "code": code}
               for index, peer, code in fetched.refused]
    replica._count("snapshot_syncs")
    replica._count("snapshot_chunks_refused", len(refused))
    with_marker = marker_path(replica)
    if os.path.exists(with_marker):
        os.remove(with_marker)
    report = {
        "height": offer.height, "chunks": offer.manifest.chunk_count, "bytes": fetched.bytes_received + len(offer.encode()),
        "seconds": round(time.perf_counter() - started, 3), "refused": refused,
        "source": with_names.get(source, to_base58(source)),
    }
    log.warning("joined from a state snapshot at height %d (%d chunks, %d refused and fetched again)",
                offer.height, offer.manifest.chunk_count, len(refused), extra={"ledger": replica.name})
    return report
