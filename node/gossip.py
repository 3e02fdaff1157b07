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

**Patience.** Under saturation a designated validator's queue of chunks to verify can be longer
than :data:`ATTEST_WAIT_S` (a closed-loop client keeps seconds of work in flight). Giving up then
is the worst answer: every waiting node verifies what it was spared, the origin proposes its
chunk unattested so the others verify it again at apply, and the queues grow further (a slow
SM2 run went from 2.0 to 2.7 verifications per transaction). So a node keeps waiting, up to
:data:`MAX_ATTEST_WAIT_S` in all, while every designated validator it still waits for is
visibly working through the same origin's chunks: it attested one within the last ``wait_s``.
(Attesting other origins' chunks does not count: a faulty validator could otherwise hold one
origin's chunks for the whole cap while serving everyone else.) A validator verifies the
chunks of one origin in the order it received them, which is the order every node received
them (each link is one ordered stream), give or take the two it verifies at once. So when it
attests an origin's chunk that reached this node more than ``wait_s / 2`` after an earlier one
it has not attested, it skipped the earlier one: this node verifies that chunk at once, without
waiting out any timer.

**Liveness.** A faulty designated validator that withholds its attestation delays the chunk by
:data:`ATTEST_WAIT_S` at the nodes waiting for it if it attests none of that origin's chunks;
while it goes on attesting that origin's earlier chunks, only until it attests a later one, and
never beyond :data:`MAX_ATTEST_WAIT_S`. The nodes then verify it themselves. Waiting only ever replaces a
verification by f + 1 vouchers or by a later verification, never by nothing, so patience costs
latency at worst, not safety. A faulty origin's invalid chunk gets no honest attestation, so it
is verified when its verifier moves past it (or after the wait), refused, and its sender muted
(:class:`node.replica.Replica`). Waiting chunks and remembered attestations are bounded; past
the bound a chunk is verified at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

from ledger.certificate import max_faulty

__all__ = [
    "ATTEST_WAIT_S",
    "GossipAdmission",
    "MAX_ATTEST_WAIT_S",
    "MSG_TX_ATTEST",
    "chunk_digest",
    "designated_verifiers",
]

MSG_TX_ATTEST = 4
"""A ledger message: the 32-byte digest of a gossiped chunk whose signatures the sender checked."""

ATTEST_WAIT_S = 2.0
"""How long a chunk waits for f + 1 vouchers before this node verifies it itself, unless the
validators it waits for are still attesting other chunks (see *Patience*). The transactions are
meanwhile in the origin's and the designated validators' pools, proposable."""

MAX_ATTEST_WAIT_S = 5 * ATTEST_WAIT_S
"""The longest a chunk waits for vouchers however busy its designated validators look."""

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


@dataclass(slots=True)
class _Waiting:
    """A chunk this node waits for: another origin's (to admit) or its own (to release)."""

    origin: bytes
    since: float
    """When it arrived (or, for this node's own chunk, was sent): ``clock()`` seconds."""
    designated: tuple[bytes, ...]
    timer: asyncio.TimerHandle
    attested: set[bytes]
    """The designated validators whose attestation of it arrived."""
    raws: list[bytes]
    """Another origin's chunk: its encoded transactions."""
    tx_hashes: list[bytes]
    """This node's own chunk: the hashes to release for proposals."""


class GossipAdmission:
    """Decides, per gossiped chunk, whether this node verifies it or waits for f + 1 vouchers.

    Runs on the event loop; ``admit`` does the ingress work (in a worker thread, the replica's
    business). ``validators()`` is the current validator set in its on-chain order. ``clock()``
    (monotonic seconds) decides how long a chunk has waited and who is still attesting; the
    loop's timers only say when to look again.
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
        max_wait_s: float = MAX_ATTEST_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.me = me
        self.validators = validators
        self.admit = admit
        self.attest = attest
        self.count = count
        self.release = release
        self.wait_s = wait_s
        self.max_wait_s = max(wait_s, max_wait_s)
        self.clock = clock
        self._own: OrderedDict[bytes, _Waiting] = OrderedDict()
        self._pending: OrderedDict[bytes, _Waiting] = OrderedDict()
        self._vouchers: OrderedDict[bytes, set[bytes]] = OrderedDict()
        self._last_attested: dict[tuple[bytes, bytes], float] = {}
        """(designated validator, origin) → when its latest attestation of a chunk of that origin
        this node waits for arrived (bounded by the validator set squared)."""
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
        designated = designated_verifiers(validators, sender, digest)
        if self.me in designated:
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
        self._pending[digest] = _Waiting(sender, self.clock(), designated, timer, set(), raws, [])

    def track_own(self, digest: bytes, tx_hashes: list[bytes]) -> None:
        """This node gossiped a chunk of its clients' transactions: ``release`` them for proposals
        once its f designated validators attested it (or once it gave up waiting), not before.

        A leader proposing its own fresh transactions at once would often have them committed
        before the attestation reached the others, which then verify them at apply — a third
        verification. Held back until the attestation went out, they reach the other validators'
        pools (vouched) before any proposal can carry them.
        """
        if self._closed:
            return
        designated = designated_verifiers(tuple(self.validators()), self.me, digest)
        if not designated:
            self.release(tx_hashes)
            return
        timer = asyncio.get_running_loop().call_later(self.wait_s, self._expire, digest, True)
        self._own[digest] = _Waiting(self.me, self.clock(), designated, timer, set(), [], tx_hashes)

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
            if self._designated_attests(sender, own):
                if len(own.attested) == len(own.designated):
                    del self._own[body]
                    own.timer.cancel()
                    self.release(own.tx_hashes)
            return
        vouchers = self._remember(body, sender)
        waiting = self._pending.get(body)
        if waiting is None:
            return
        self._designated_attests(sender, waiting)
        if self._enough(vouchers, validators):
            del self._pending[body]
            self._vouchers.pop(body, None)
            waiting.timer.cancel()
            self._start(waiting.origin, waiting.raws, vouched=True, attest_as=None)

    def close(self) -> None:
        """Stop: cancel the waits (their chunks are simply not admitted) and running admissions."""
        self._closed = True
        for waiting in (*self._own.values(), *self._pending.values()):
            waiting.timer.cancel()
        self._own.clear()
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

    def _designated_attests(self, verifier: bytes, waiting: _Waiting) -> bool:
        """Note a designated validator's attestation of a chunk this node waits for (what shows
        it is working) and stop waiting for it on the chunks it passed over. False if
        ``verifier`` is not designated for this chunk (its attestation does not count)."""
        if verifier not in waiting.designated:
            return False
        waiting.attested.add(verifier)
        self._last_attested[verifier, waiting.origin] = self.clock()
        horizon = waiting.since - self.wait_s / 2
        queue, give_up = (self._own, self._give_up_own) if waiting.origin == self.me else (self._pending, self._give_up)
        passed: list[bytes] = []
        for digest, earlier in queue.items():
            if earlier.since >= horizon:
                break  # in arrival order: the rest came later
            if earlier.origin == waiting.origin and verifier in self._missing(earlier):
                passed.append(digest)
        for digest in passed:
            self.count("gossip_attest_skipped", 1)
            give_up(digest)
        return True

    @staticmethod
    def _missing(waiting: _Waiting) -> list[bytes]:
        return [verifier for verifier in waiting.designated if verifier not in waiting.attested]

    def _patient(self, waiting: _Waiting, digest: bytes, own: bool) -> bool:
        """Whether to wait longer for this chunk's vouchers (and re-arm its timer if so): every
        designated validator still missing attested a chunk of the same origin within ``wait_s``,
        and the chunk has not waited ``max_wait_s`` yet."""
        now = self.clock()
        missing = self._missing(waiting)
        if not missing or now - waiting.since >= self.max_wait_s:
            return False
        last = self._last_attested
        if any(now - last.get((verifier, waiting.origin), float("-inf")) > self.wait_s for verifier in missing):
            return False
        delay = min(self.wait_s, max(0.0, waiting.since + self.max_wait_s - now))
        waiting.timer = asyncio.get_running_loop().call_later(delay, self._expire, digest, own)
        self.count("gossip_attest_waits_extended", 1)
        return True

    def _expire(self, digest: bytes, own: bool = False) -> None:
        """A chunk's timer: wait longer (see ``_patient``) or give up on its vouchers."""
        waiting = (self._own if own else self._pending).get(digest)
        if waiting is None or self._closed or self._patient(waiting, digest, own):
            return
        if own:
            self.count("gossip_own_release_timeouts", 1)
            self._give_up_own(digest)
        else:
            self.count("gossip_attest_timeouts", 1)
            self._give_up(digest)

    def _give_up_own(self, digest: bytes) -> None:
        own = self._own.pop(digest, None)
        if own is not None and not self._closed:
            own.timer.cancel()
            self.release(own.tx_hashes)

    def _give_up(self, digest: bytes) -> None:
        """Verify the chunk here after all."""
        waiting = self._pending.pop(digest, None)
        if waiting is None or self._closed:
            return
        waiting.timer.cancel()
        self._vouchers.pop(digest, None)
        self._start(waiting.origin, waiting.raws, vouched=False, attest_as=None)

    def _start(self, sender: bytes, raws: list[bytes], *, vouched: bool, attest_as: bytes | None) -> None:
        self.count("gossip_txs_vouched" if vouched else "gossip_txs_verified", len(raws))
        task = asyncio.get_running_loop().create_task(self._admit(sender, raws, vouched, attest_as))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _admit(self, sender: bytes, raws: list[bytes], vouched: bool, attest_as: bytes | None) -> None:
        all_verified = await self.admit(sender, raws, vouched)
        if attest_as is not None and all_verified and not self._closed:
            self.attest(attest_as)
