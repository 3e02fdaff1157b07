"""Gossiped transactions, their signatures verified by f + 1 validators instead of all n.

A validator gossips the transactions its ingress admitted, in chunks (``MSG_TXS``: a msgpack list
of encoded transactions). Every validator used to verify every signature of every chunk: n
verifications of each transaction, on a machine whose cores the validators may share, and for SM2
most of a node's CPU. Now:

- the chunk's **origin** verified it at ingress; its sending the chunk vouches for it;
- **f designated validators** (chosen from the chunk's digest, so the work spreads evenly over the
  set) verify it and, if every signature holds, broadcast an *attestation*: ``MSG_TX_ATTEST``,
  the chunk's digest, inside their own signed network envelope;
- every other validator admits the chunk **without verifying** once f + 1 distinct validators of
  the current set vouch for the same digest, and verifies it itself if that has not happened
  within :data:`ATTEST_WAIT_S`;
- the origin proposes the chunk's transactions only once its designated validators attested it
  (:meth:`GossipAdmission.track_own`), so they are in the others' pools, vouched, before a block
  carries them; otherwise the others would verify them a third time, at apply.

**Safety.** At most f validators are faulty, so among f + 1 distinct vouchers one is honest. An
honest validator vouches only for bytes whose signatures it checked itself, or for which it
holds f + 1 vouchers (by induction, also checked by an honest validator). The digest covers the
exact bytes (content *and* signatures), and admission marks exactly those bytes verified
(:meth:`node.mempool.Mempool.preverified_for`), so a copy with the same hash and other signatures
is still verified by the executor. Admission is a node's local decision: proposals, votes,
execution and the ledger are unchanged, and a transaction a node meets only in a proposal is
verified by its executor as before — only the number of verifications changes, never an outcome.
With n ≤ 3 (f = 0) the origin alone vouches, as BFT with no faulty node assumes anyway.

**Liveness.** A faulty designated validator that withholds its attestation delays the chunk by
:data:`ATTEST_WAIT_S` at the nodes waiting for it; they then verify it themselves. A faulty
origin's invalid chunk gets no honest attestation, so it is verified after the wait, refused, and
its sender muted (:class:`node.replica.Replica`). Waiting chunks and remembered attestations are
bounded; past the bound a chunk is verified at once.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from typing import Awaitable, Callable, Sequence

from ledger.certificate import max_faulty

__all__ = [
    "ATTEST_WAIT_S",
    "GossipAdmission",
    "MSG_TX_ATTEST",
    "chunk_digest",
    "designated_verifiers",
]

MSG_TX_ATTEST = 4
"""A ledger message: the 32-byte digest of a gossiped chunk whose signatures the sender checked."""

ATTEST_WAIT_S = 2.0
"""How long a chunk waits for f + 1 vouchers before this node verifies it itself. Generous: under
saturation a designated validator's attestation takes a few hundred milliseconds, and a node
that gives up early verifies what it was spared (more load, later attestations, and so on); the
transactions are meanwhile in the origin's and the designated validators' pools, proposable."""

MAX_PENDING_CHUNKS = 2048
"""Chunks waiting for vouchers; beyond this a new chunk is verified at once."""

MAX_VOUCHED_DIGESTS = 16384
"""Digests whose vouchers are remembered (attestations can arrive before their chunk)."""

_DIGEST_DOMAIN = b"JADECHAIN/GOSSIP/CHUNK/v1\x00"

Admit = Callable[[bytes, list[bytes], bool], Awaitable[bool]]
"""``admit(sender, raws, vouched)``: put the chunk through ingress (signatures not verified if
``vouched``); True if afterwards every transaction of it is, byte for byte, one this node holds as
verified (what an attestation may claim)."""


def chunk_digest(body: bytes) -> bytes:
    """What vouchers agree on: a hash of the chunk's exact bytes."""
    digest = hashlib.sha256(_DIGEST_DOMAIN)
    digest.update(body)
    return digest.digest()


def designated_verifiers(validators: Sequence[bytes], origin: bytes, digest: bytes) -> tuple[bytes, ...]:
    """The f validators besides ``origin`` that verify (and attest) a chunk; () if f = 0 or the
    origin is not a validator.

    The origin's successors in the set's order, starting at an offset taken from the digest, so
    each validator verifies about f / (n - 1) of the others' chunks.
    """
    n = len(validators)
    f = max_faulty(n)
    if f == 0 or origin not in validators:
        return ()
    position = validators.index(origin)
    offset = int.from_bytes(digest[:8], "big") % (n - 1)
    return tuple(validators[(position + 1 + (offset + k) % (n - 1)) % n] for k in range(f))


class GossipAdmission:
    """Decides, per gossiped chunk, whether this node verifies it or waits for f + 1 vouchers.

    Runs on the event loop; ``admit`` does the ingress work (in a worker thread, the replica's
    business). ``validators()`` is the current validator set in its on-chain order.
    """

    def __init__(
        self,
        *,
        me: bytes,
        validators: Callable[[], Sequence[bytes]],
        admit: Admit,
        attest: Callable[[bytes], None],
        count: Callable[[str, int], None],
        release: Callable[[list[bytes]], None] = lambda tx_hashes: None,
        wait_s: float = ATTEST_WAIT_S,
    ) -> None:
        self.me = me
        self.validators = validators
        self.admit = admit
        self.attest = attest
        self.count = count
        self.release = release
        self.wait_s = wait_s
        self._own: OrderedDict[bytes, tuple[set[bytes], list[bytes], asyncio.TimerHandle]] = OrderedDict()
        self._pending: OrderedDict[bytes, tuple[bytes, list[bytes], asyncio.TimerHandle]] = OrderedDict()
        self._vouchers: OrderedDict[bytes, set[bytes]] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # --- messages ----------------------------------------------------------------------------

    def on_chunk(self, sender: bytes, raws: list[bytes], digest: bytes) -> None:
        """A chunk of encoded transactions gossiped by an authenticated peer."""
        if self._closed:
            return
        validators = tuple(self.validators())
        if sender not in validators:
            self._start(sender, raws, vouched=False, attest_as=None)
            return
        if self.me in designated_verifiers(validators, sender, digest):
            self._start(sender, raws, vouched=False, attest_as=digest)
            return
        if digest in self._pending:
            return  # the same bytes again (a relay or a replay): the first copy is waiting
        vouchers = self._remember(digest, sender)
        if self._enough(vouchers, validators):
            self._vouchers.pop(digest, None)
            self._start(sender, raws, vouched=True, attest_as=None)
            return
        if len(self._pending) >= MAX_PENDING_CHUNKS:
            self.count("gossip_pending_overflow", 1)
            self._start(sender, raws, vouched=False, attest_as=None)
            return
        timer = asyncio.get_running_loop().call_later(self.wait_s, self._expire, digest)
        self._pending[digest] = (sender, raws, timer)

    def track_own(self, digest: bytes, tx_hashes: list[bytes]) -> None:
        """This node gossiped a chunk of its clients' transactions: ``release`` them for proposals
        once its f designated validators attested it (or after the wait), not before.

        A leader proposing its own fresh transactions at once would often have them committed
        before the attestation reached the others, which then verify them at apply — a third
        verification. Held back until the attestation went out, they reach the other validators'
        pools (vouched) before any proposal can carry them.
        """
        if self._closed:
            return
        designated = set(designated_verifiers(tuple(self.validators()), self.me, digest))
        if not designated:
            self.release(tx_hashes)
            return
        timer = asyncio.get_running_loop().call_later(self.wait_s, self._release_own, digest)
        self._own[digest] = (designated, tx_hashes, timer)

    def on_attestation(self, sender: bytes, body: bytes) -> None:
        """A validator says it checked every signature of the chunk with this digest."""
        if self._closed:
            return
        validators = tuple(self.validators())
        if len(body) != 32 or sender not in validators:
            self.count("invalid_messages", 1)
            return
        own = self._own.get(body)
        if own is not None:
            own[0].discard(sender)
            if not own[0]:
                del self._own[body]
                own[2].cancel()
                self.release(own[1])
            return
        vouchers = self._remember(body, sender)
        waiting = self._pending.get(body)
        if waiting is not None and self._enough(vouchers, validators):
            del self._pending[body]
            self._vouchers.pop(body, None)
            origin, raws, timer = waiting
            timer.cancel()
            self._start(origin, raws, vouched=True, attest_as=None)

    def close(self) -> None:
        """Stop: cancel the waits (their chunks are simply not admitted) and running admissions."""
        self._closed = True
        for _, _, timer in self._own.values():
            timer.cancel()
        self._own.clear()
        for _, _, timer in self._pending.values():
            timer.cancel()
        self._pending.clear()
        for task in list(self._tasks):
            task.cancel()

    @property
    def waiting(self) -> int:
        """Chunks waiting for vouchers."""
        return len(self._pending)

    # --- internals ---------------------------------------------------------------------------

    def _remember(self, digest: bytes, voucher: bytes) -> set[bytes]:
        vouchers = self._vouchers.get(digest)
        if vouchers is None:
            vouchers = self._vouchers[digest] = set()
            while len(self._vouchers) > MAX_VOUCHED_DIGESTS:
                self._vouchers.popitem(last=False)
        vouchers.add(voucher)
        return vouchers

    @staticmethod
    def _enough(vouchers: set[bytes], validators: tuple[bytes, ...]) -> bool:
        needed = max_faulty(len(validators)) + 1
        return sum(1 for voucher in vouchers if voucher in validators) >= needed

    def _release_own(self, digest: bytes) -> None:
        own = self._own.pop(digest, None)
        if own is not None and not self._closed:
            self.count("gossip_own_release_timeouts", 1)
            self.release(own[1])

    def _expire(self, digest: bytes) -> None:
        waiting = self._pending.pop(digest, None)
        if waiting is None or self._closed:
            return
        self._vouchers.pop(digest, None)
        origin, raws, _ = waiting
        self.count("gossip_attest_timeouts", 1)
        self._start(origin, raws, vouched=False, attest_as=None)

    def _start(self, sender: bytes, raws: list[bytes], *, vouched: bool, attest_as: bytes | None) -> None:
        self.count("gossip_txs_vouched" if vouched else "gossip_txs_verified", len(raws))
        task = asyncio.get_running_loop().create_task(self._admit(sender, raws, vouched, attest_as))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _admit(self, sender: bytes, raws: list[bytes], vouched: bool, attest_as: bytes | None) -> None:
        all_verified = await self.admit(sender, raws, vouched)
        if attest_as is not None and all_verified and not self._closed:
            self.attest(attest_as)
