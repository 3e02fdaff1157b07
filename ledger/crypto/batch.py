"""Parallel signature verification for ingress and block validation.

Signature checks dominate the CPU cost of a transaction, and the native code behind them
(libsodium through cffi, Tongsuo through cffi, OpenSSL through cryptography's Rust bindings)
releases the GIL while it works. A plain thread pool therefore scales verification across
cores without the pickling cost of processes. Chunks keep the per-task overhead small; the
calling thread verifies the first chunk itself instead of idling. Batches smaller than two
chunks are verified inline, where a thread hand-off would cost more than it saves.

The pool is created on first use and lives until ``shutdown_verify_pool`` (or interpreter
exit), so importing the ledger never starts threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor

from ledger.crypto.keys import PublicKey, verify

__all__ = ["VerifyItem", "verify_batch", "verify_pool_size", "shutdown_verify_pool"]

VerifyItem = tuple[PublicKey, bytes, bytes]
"""(public key, message, encoded signature)."""

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def verify_pool_size() -> int:
    """Worker threads of the shared pool: one per core."""
    return os.cpu_count() or 1


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=verify_pool_size(), thread_name_prefix="jadechain-verify"
            )
        return _pool


def shutdown_verify_pool(wait: bool = True) -> None:
    """Stop the shared pool's threads (a later ``verify_batch`` starts a new pool)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=wait)


def _verify_chunk(items: Sequence[VerifyItem]) -> list[bool]:
    return [verify(public, message, signature) for public, message, signature in items]


def verify_batch(
    items: Sequence[VerifyItem],
    *,
    min_chunk: int = 64,
    executor: Executor | None = None,
    workers: int | None = None,
) -> list[bool]:
    """Verify every (public key, message, signature); result i is ``verify(*items[i])``.

    Like ``verify``, never raises for a bad signature. ``executor``/``workers`` override the
    shared one-thread-per-core pool (benchmarks use them to measure scaling).
    """
    count = len(items)
    parallelism = workers if workers is not None else verify_pool_size()
    if (executor is None and parallelism <= 1) or count < 2 * max(min_chunk, 1):
        return _verify_chunk(items)
    chunk_count = max(1, min(parallelism, count // max(min_chunk, 1)))
    chunk_size = -(-count // chunk_count)
    chunks = [items[start : start + chunk_size] for start in range(0, count, chunk_size)]
    pool = executor if executor is not None else _shared_pool()
    futures: list[Future[list[bool]]] = [pool.submit(_verify_chunk, chunk) for chunk in chunks[1:]]
    results = _verify_chunk(chunks[0])
    for future in futures:
        results.extend(future.result())
    return results
