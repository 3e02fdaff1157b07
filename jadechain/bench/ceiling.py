"""The signature-verification ceiling: how many verifies per second this machine can do.

Every throughput benchmark reports its TPS next to this figure (and as a fraction of it):
a node cannot commit transactions faster than it can check their signatures, so the ceiling
says whether a result is limited by crypto or by everything else. It is measured the way
the node verifies at ingress: ``verify_batch`` on the thread pool, over pre-signed items,
so it reflects both the algorithm's cost and how well it scales across cores.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from ledger.crypto import CryptoAlgorithm, PublicKey, generate_keypair, sign, verify_batch

__all__ = ["measure_verify_ceiling", "measure_verify_scaling", "presigned_items"]

_KEY_COUNT = 32
_MESSAGE_SIZE = 256  # about one small signed transaction


@lru_cache(maxsize=None)
def presigned_items(
    algorithm: CryptoAlgorithm, count: int = 512
) -> tuple[tuple[PublicKey, bytes, bytes], ...]:
    """``count`` valid (public key, message, signature) items over a few keys, built once."""
    pairs = [generate_keypair(algorithm) for _ in range(min(_KEY_COUNT, count))]
    items = []
    for index in range(count):
        pair = pairs[index % len(pairs)]
        message = index.to_bytes(8, "big") * (_MESSAGE_SIZE // 8)
        items.append((pair.public, message, sign(pair.private, message)))
    return tuple(items)


def measure_verify_ceiling(
    algorithm: CryptoAlgorithm, duration_s: float, threads: int | None = None
) -> float:
    """Verifications per second with ``threads`` verifying in parallel (default: all cores).

    Runs whole batches of pre-signed items through ``verify_batch`` until ``duration_s`` has
    passed; ``threads=1`` gives the single-core figure on the same code path.
    """
    return measure_verify_scaling(algorithm, duration_s, threads)[0]


def measure_verify_scaling(
    algorithm: CryptoAlgorithm, duration_s: float, threads: int | None = None
) -> tuple[float, float]:
    """(verifies per second, CPU seconds used per wall second) of a ``verify_batch`` run.

    The second figure shows whether the threads really run at once: near ``threads`` when the
    native code releases the GIL and the cores are free, near 1 when they serialise. Unlike
    the rate, it is not skewed when other processes share the machine's cores.
    """
    workers = threads if threads is not None else (os.cpu_count() or 1)
    items = list(presigned_items(algorithm))
    min_chunk = max(1, len(items) // (4 * workers))
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        verify_batch(items[: 4 * workers], min_chunk=1, executor=pool, workers=workers)  # warm up
        verified = 0
        start = time.perf_counter()
        cpu_start = time.process_time()
        deadline = start + duration_s
        while True:
            results = verify_batch(items, min_chunk=min_chunk, executor=pool, workers=workers)
            verified += len(results)
            if not all(results):
                raise RuntimeError(f"{algorithm.name}: a pre-signed item failed to verify")
            now = time.perf_counter()
            if now >= deadline:
                cpu = time.process_time() - cpu_start
                return verified / (now - start), cpu / (now - start)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
