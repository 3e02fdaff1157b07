"""Parallel batch verification gives exactly the per-item answers."""

import os
from concurrent.futures import ThreadPoolExecutor

from ledger.crypto.batch import shutdown_verify_pool, verify_batch
from ledger.crypto.encoding import encode_crypto_bytes
from ledger.crypto.keys import PublicKey, generate_keypair, sign, verify
from ledger.crypto.registry import SIGNATURE_ALGORITHMS


def _mixed_items() -> list[tuple[PublicKey, bytes, bytes]]:
    items: list[tuple[PublicKey, bytes, bytes]] = []
    pairs = [generate_keypair(algorithm) for algorithm in SIGNATURE_ALGORITHMS for _ in range(2)]
    for index in range(150):
        pair = pairs[index % len(pairs)]
        message = b"tx-%d" % index
        signature = sign(pair.private, message)
        kind = index % 5
        if kind == 1:
            message += b"!"  # tampered message
        elif kind == 2:
            signature = signature[:-1] + bytes([signature[-1] ^ 0x80])  # tampered signature
        elif kind == 3:
            other = pairs[(index + 2) % len(pairs)]  # another algorithm's key
            signature = sign(other.private, message)
        elif kind == 4 and index % 2:
            signature = os.urandom(index % 70)  # garbage
        items.append((pair.public, message, signature))
    items.append((pairs[0].public, b"m", encode_crypto_bytes(pairs[0].algorithm, bytes(64))))
    return items


def test_batch_equals_individual_verification() -> None:
    items = _mixed_items()
    expected = [verify(*item) for item in items]
    assert True in expected and False in expected
    assert verify_batch(items, min_chunk=8) == expected  # parallel path on the shared pool
    assert verify_batch(items) == expected  # default chunking
    assert verify_batch(items[:10]) == expected[:10]  # inline path
    assert verify_batch([]) == []
    with ThreadPoolExecutor(max_workers=3) as pool:
        assert verify_batch(items, min_chunk=4, executor=pool, workers=3) == expected
    shutdown_verify_pool()
    assert verify_batch(items, min_chunk=8) == expected  # a new pool starts on demand
    shutdown_verify_pool()
