"""Ingress and mempool for one ledger: every check a transaction meets before it may wait for a block.

A submission is checked in this order, each failure with its stable code:

1. size (``TRANSACTION_TOO_LARGE``), then strict canonical decoding (``MALFORMED_ENCODING``);
2. the ledger hash it names (``LEDGER_MISMATCH``), operations present (``INVALID_TRANSACTION``),
   expiry against the caller's clock (``TRANSACTION_EXPIRED``);
3. its endpoint signatures: at least one, keys that parse (``INVALID_SIGNATURE``) and whose
   algorithms the ledger accepts (``ALGORITHM_NOT_ACCEPTED``);
4. duplicates, in the batch, in the pool, in flight or already committed
   (``DUPLICATE_TRANSACTION``);
5. every signature of the whole batch is verified in one parallel pass
   (:func:`ledger.crypto.verify_batch`, native code releases the GIL) — ``INVALID_SIGNATURE``;
6. room in the pool (``MEMPOOL_FULL``: back-pressure, the client retries later).

Accepted transactions wait in one FIFO queue per first signer; :meth:`Mempool.pull` takes them
round-robin across signers, so one busy client cannot starve the others. Pulled transactions
stay "in flight" (still de-duplicated, still marked verified) until :meth:`Mempool.remove_committed`
or :meth:`Mempool.requeue`. :meth:`Mempool.preverified_for` is what the executor's ``preverified=``
takes, so a signature is verified once per node. It vouches for the exact bytes that were
verified, not for a hash: a transaction's hash covers its content, not its signatures, so another
transaction with the same hash and other signatures (a Byzantine proposer's forgery) is verified.

The API is deliberately small (``submit_many``, ``pull``, ``remove_committed``, ``requeue``,
``preverified_for``, ``size``) so that the consensus proposer can reuse it unchanged. Thread-safe:
one lock guards the queues; verification runs outside it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Collection, Sequence

from ledger.crypto import PublicKey, algorithm_by_code, hasher, verify_batch
from ledger.errors import (
    AlgorithmNotAccepted,
    CodecError,
    CryptoError,
    DuplicateTransaction,
    InvalidSignature,
    InvalidTransaction,
    JadechainError,
    LedgerMismatch,
    MempoolFull,
    NotFound,
    PermissionDenied,
    TransactionExpired,
)
from ledger.executor import SignedTransaction
from ledger.ledger import Ledger
from ledger.types import AccountKind, Transaction

__all__ = ["Mempool", "SubmitResult", "TransactionTooLarge", "MempoolStats", "registered_user_check"]


def registered_user_check(ledger: Ledger, *, cache_size: int = 100_000) -> Callable[[PublicKey], bool]:
    """``check(key)``: is the key's address a registered user of ``ledger`` (committed state)?

    Ingress refuses a transaction with an unregistered signer instead of letting it take a block
    slot only to fail as PERMISSION_DENIED. Only positive answers are cached: a user once
    registered stays an account (its frozen or revoked state is the executor's to judge).
    """
    from ledger.crypto import address_from_public_key

    known: set[bytes] = set()

    def check(key: PublicKey) -> bool:
        if key.encoded in known:
            return True
        try:
            record = ledger.get_account(address_from_public_key(key))
        except NotFound:
            return False
        if record.kind != AccountKind.USER:
            return False
        if len(known) < cache_size:
            known.add(key.encoded)
        return True

    return check


@lru_cache(maxsize=65536)
def _parse_public_key(encoded: bytes) -> PublicKey:
    """An endpoint key, parsed once per distinct key (clients sign many transactions each)."""
    return PublicKey.from_encoded(encoded)


class TransactionTooLarge(InvalidTransaction):
    """The encoded transaction exceeds the ledger's (or the node's) size limit."""

    code = "TRANSACTION_TOO_LARGE"
    http_status = 413


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The outcome of one submission: a tx hash, or the error that rejected it."""

    tx_hash: bytes | None
    """``code ‖ H(content)``; None only when the bytes could not even be decoded."""
    error: JadechainError | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class MempoolStats:
    pending: int
    in_flight: int
    verifying: int
    """Signatures currently being verified (the verify queue)."""
    accepted_total: int
    rejected_total: int


@dataclass(slots=True)
class _Entry:
    signed: SignedTransaction
    """The transaction, its canonical bytes and its hash: decoded and hashed once, at ingress."""
    tx_hash: bytes
    size: int
    signer: bytes
    admitted: float
    keys: tuple[PublicKey, ...]


class Mempool:
    """Checked, verified, de-duplicated transactions waiting for a block, fair across signers."""

    def __init__(
        self,
        ledger_hash: bytes,
        hash_code: int,
        accepted_algorithms: Collection[int],
        *,
        max_size: int = 100_000,
        max_tx_bytes: int = 1 << 20,
        is_committed: Callable[[bytes], bool] | None = None,
        verify_chunk: int = 64,
    ) -> None:
        """``hash_code`` is the ledger's hash algorithm code; ``is_committed`` answers whether a
        tx hash is already on the ledger (so a re-submission is refused as a duplicate)."""
        self.ledger_hash = ledger_hash
        self.hash_code = hash_code
        self.hash_fn = hasher(algorithm_by_code(hash_code))
        self._hash_prefix = hash_code.to_bytes(2, "big")
        self.accepted_algorithms = frozenset(accepted_algorithms)
        self.max_size = max_size
        self.max_tx_bytes = max_tx_bytes
        self.is_committed = is_committed
        self.verify_chunk = verify_chunk
        self.signer_registered: Callable[[PublicKey], bool] | None = None
        """When set, a transaction whose endpoint keys are not all registered users is refused."""
        self._lock = threading.Lock()
        self._queues: dict[bytes, deque[_Entry]] = {}
        self._signer_order: deque[bytes] = deque()
        self._pending: dict[bytes, _Entry] = {}
        self._in_flight: OrderedDict[bytes, _Entry] = OrderedDict()
        self._verified: dict[bytes, bytes] = {}
        """Tx hash -> the encoded transaction (content *and* signatures) whose signatures were checked."""
        self._verifying = 0
        self._accepted_total = 0
        self._rejected_total = 0

    @classmethod
    def for_ledger(cls, ledger: Ledger, **options: Any) -> "Mempool":
        """A mempool with the ledger's hash, algorithms and size limit, that knows its committed txs."""

        options.setdefault("max_tx_bytes", ledger.settings.max_tx_bytes)
        mempool = cls(
            ledger.ledger_hash, ledger.hash_code, ledger.settings.signature_algorithms,
            is_committed=ledger.has_transaction, **options,
        )
        mempool.signer_registered = registered_user_check(ledger)
        return mempool

    # --- ingress ---------------------------------------------------------------------

    def submit(self, item: bytes | Transaction | SignedTransaction, *, now_ms: int | None = None) -> SubmitResult:
        return self.submit_many([item], now_ms=now_ms)[0]

    def submit_many(
        self, items: Sequence[bytes | Transaction | SignedTransaction], *, now_ms: int | None = None,
        signatures_vouched: bool = False, verify_workers: int | None = None,
    ) -> list[SubmitResult]:
        """Check, verify (one parallel pass for the whole batch) and admit transactions.

        Returns one result per item, in order. Never raises for a bad transaction. If
        ``now_ms`` is given, a transaction whose non-zero expiry is before it is refused.
        ``signatures_vouched``: f + 1 validators vouched for these exact bytes (see
        :mod:`node.gossip`), so every check but the signature verification itself is made.
        ``verify_workers=1`` verifies on the calling thread instead of the shared verify pool.
        """
        results: list[SubmitResult | None] = [None] * len(items)
        candidates: list[tuple[int, _Entry]] = []
        seen: set[bytes] = set()
        admitted_at = time.monotonic()
        for position, item in enumerate(items):
            tx_hash: bytes | None = None
            try:
                signed = self._decode(item)
                tx_hash = signed.tx_hash
                keys = self._check(signed.tx, now_ms)
                if tx_hash in seen or self._known(tx_hash):
                    raise DuplicateTransaction("transaction already submitted")
            except JadechainError as error:
                results[position] = SubmitResult(tx_hash, error)
                continue
            seen.add(tx_hash)
            candidates.append((position, _Entry(
                signed, tx_hash, len(signed.encoded), signed.tx.signatures[0].public_key, admitted_at, keys,
            )))

        verified = [True] * len(candidates) if signatures_vouched else self._verify(candidates, verify_workers)
        with self._lock:
            for (position, entry), ok in zip(candidates, verified):
                if not ok:
                    results[position] = SubmitResult(
                        entry.tx_hash, InvalidSignature("an endpoint signature does not verify")
                    )
                elif entry.tx_hash in self._pending or entry.tx_hash in self._in_flight:
                    results[position] = SubmitResult(
                        entry.tx_hash, DuplicateTransaction("transaction already submitted")
                    )
                elif len(self._pending) + len(self._in_flight) >= self.max_size:
                    results[position] = SubmitResult(
                        entry.tx_hash, MempoolFull(f"mempool holds {self.max_size} transactions; retry later")
                    )
                else:
                    self._admit(entry)
                    results[position] = SubmitResult(entry.tx_hash)
            final = [result for result in results if result is not None]
            self._accepted_total += sum(1 for result in final if result.accepted)
            self._rejected_total += sum(1 for result in final if not result.accepted)
        return final

    def _decode(self, item: bytes | Transaction | SignedTransaction) -> SignedTransaction:
        """The transaction decoded (strictly), cut into its canonical parts and hashed: once.

        Size first, so an oversized body is never decoded. The content bytes (what the tx hash
        covers) are cut from the wire bytes, not re-encoded.
        """
        if isinstance(item, SignedTransaction):
            signed = item if item.tx_hash[:2] == self._hash_prefix else self.sign_parts(item.tx)
        elif isinstance(item, Transaction):
            signed = self.sign_parts(item)
        elif isinstance(item, (bytes, bytearray, memoryview)):
            if len(item) > self.max_tx_bytes:
                raise TransactionTooLarge(f"transaction of {len(item)} bytes exceeds {self.max_tx_bytes}")
            try:
                signed = SignedTransaction.decode(bytes(item), self.hash_fn, self.hash_code)
            except CodecError:
                raise
            except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError) as exc:
                raise CodecError(f"not a transaction: {type(exc).__name__}") from exc
        else:
            raise CodecError("expected encoded transaction bytes")
        if len(signed.encoded) > self.max_tx_bytes:
            raise TransactionTooLarge(f"transaction of {len(signed.encoded)} bytes exceeds {self.max_tx_bytes}")
        return signed

    def sign_parts(self, tx: Transaction) -> SignedTransaction:
        """A transaction object as one :class:`SignedTransaction` with this ledger's hash."""
        return SignedTransaction.of(tx, self.hash_fn, self.hash_code)

    def _check(self, tx: Transaction, now_ms: int | None) -> tuple[PublicKey, ...]:
        """Every stateless check but the signatures themselves; returns the parsed endpoint keys."""
        content = tx.content
        if content.ledger_hash != self.ledger_hash:
            raise LedgerMismatch("transaction is for another ledger")
        if not content.operations:
            raise InvalidTransaction("transaction has no operations")
        if now_ms is not None and content.expiry and now_ms > content.expiry:
            raise TransactionExpired("transaction expired before it reached the node")
        if not tx.signatures:
            raise InvalidSignature("transaction has no endpoint signature")
        keys = []
        for signature in tx.signatures:
            code = int.from_bytes(signature.public_key[:2], "big") if len(signature.public_key) >= 2 else -1
            if code not in self.accepted_algorithms:
                raise AlgorithmNotAccepted("signature algorithm not accepted by this ledger")
            try:
                keys.append(_parse_public_key(signature.public_key))
            except CryptoError as exc:
                raise InvalidSignature(f"invalid endpoint public key: {exc.message}") from exc
        if self.signer_registered is not None:
            for key in keys:
                if not self.signer_registered(key):
                    raise PermissionDenied(f"signer {key.base58} is not a registered user of this ledger")
        return tuple(keys)

    def _known(self, tx_hash: bytes) -> bool:
        with self._lock:
            if tx_hash in self._pending or tx_hash in self._in_flight:
                return True
        return self.is_committed is not None and self.is_committed(tx_hash)

    def _verify(self, candidates: Sequence[tuple[int, _Entry]], workers: int | None = None) -> list[bool]:
        items = []
        owners = []
        for owner, (_, entry) in enumerate(candidates):
            for key, signature in zip(entry.keys, entry.signed.tx.signatures):
                items.append((key, entry.tx_hash, signature.signature))
                owners.append(owner)
        with self._lock:
            self._verifying += len(items)
        try:
            checks = verify_batch(items, min_chunk=self.verify_chunk, workers=workers)
        finally:
            with self._lock:
                self._verifying -= len(items)
        ok = [True] * len(candidates)
        for owner, valid in zip(owners, checks):
            if not valid:
                ok[owner] = False
        return ok

    def _admit(self, entry: _Entry) -> None:
        queue = self._queues.get(entry.signer)
        if queue is None:
            queue = self._queues[entry.signer] = deque()
            self._signer_order.append(entry.signer)
        queue.append(entry)
        self._pending[entry.tx_hash] = entry
        self._verified[entry.tx_hash] = entry.signed.encoded

    # --- the proposer's side ------------------------------------------------------------

    def pull_signed(self, max_txs: int, max_bytes: int = 1 << 62) -> list[SignedTransaction]:
        """Take up to ``max_txs`` transactions (``max_bytes`` encoded), round-robin across signers.

        Each signer's transactions keep their submission order. Pulled transactions are in
        flight: not pulled again, still refused as duplicates, until committed or requeued.
        Give them to ``Ledger.make_block`` and ``Ledger.apply_block(signed=...)`` as they are.
        """
        taken: list[SignedTransaction] = []
        total = 0
        with self._lock:
            while len(taken) < max_txs and self._signer_order:
                signer = self._signer_order.popleft()
                queue = self._queues[signer]
                while queue and self._pending.get(queue[0].tx_hash) is not queue[0]:
                    queue.popleft()  # committed (or requeued ahead) while it waited: a stale slot
                if not queue:
                    del self._queues[signer]
                    continue
                entry = queue[0]
                if taken and total + entry.size > max_bytes:
                    self._signer_order.appendleft(signer)
                    break
                queue.popleft()
                if queue:
                    self._signer_order.append(signer)
                else:
                    del self._queues[signer]
                del self._pending[entry.tx_hash]
                self._in_flight[entry.tx_hash] = entry
                taken.append(entry.signed)
                total += entry.size
        return taken

    def remove_committed(self, tx_hashes: Collection[bytes]) -> list[float]:
        """Forget transactions that a committed block holds (pending or in flight), O(1) each.

        A pending one leaves a stale slot in its signer's queue, dropped when a pull reaches it.
        Returns the admission times (``time.monotonic()``) of those this pool held, for latency metrics.
        """
        admitted: list[float] = []
        with self._lock:
            for tx_hash in tx_hashes:
                self._verified.pop(tx_hash, None)
                entry = self._in_flight.pop(tx_hash, None)
                if entry is None:
                    entry = self._pending.pop(tx_hash, None)
                if entry is not None:
                    admitted.append(entry.admitted)
                    self._forget(entry)
        return admitted

    def _forget(self, entry: _Entry) -> None:
        """A transaction left the pool for good (called under the lock)."""

    def requeue(self, tx_hashes: Collection[bytes]) -> None:
        """Put in-flight transactions back (their block was not committed), ahead of newer ones."""
        with self._lock:
            for tx_hash in reversed(list(tx_hashes)):
                entry = self._in_flight.pop(tx_hash, None)
                if entry is None:
                    continue
                queue = self._queues.get(entry.signer)
                if queue is None:
                    queue = self._queues[entry.signer] = deque()
                    self._signer_order.appendleft(entry.signer)
                queue.appendleft(entry)
                self._pending[entry.tx_hash] = entry

    def preverified_for(self, signed: Sequence[SignedTransaction]) -> Callable[[bytes], bool]:
        """The executor's ``preverified=`` for a block of these transactions.

        A hash answers True only if every transaction of the block with that hash is, byte for
        byte, one whose signatures this pool checked: the executor asks by hash, and a forged
        copy (same content, other signatures) may sit beside the honest one in the same block.
        """
        with self._lock:
            forged = {item.tx_hash for item in signed if not self._checked_exactly(item.tx_hash, item.encoded)}
            exact = {item.tx_hash for item in signed} - forged
        return exact.__contains__

    def _checked_exactly(self, tx_hash: bytes, encoded: bytes) -> bool:
        """Were these very bytes (content and signatures) the ones checked for ``tx_hash``? Under the lock."""
        return self._verified.get(tx_hash) == encoded

    def size(self) -> int:
        """Transactions waiting to be pulled."""
        return len(self._pending)

    def stats(self) -> MempoolStats:
        with self._lock:
            return MempoolStats(
                pending=len(self._pending), in_flight=len(self._in_flight), verifying=self._verifying,
                accepted_total=self._accepted_total, rejected_total=self._rejected_total,
            )
