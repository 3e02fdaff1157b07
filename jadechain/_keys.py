"""Key helpers of the public package: thin wrappers over :mod:`ledger.crypto`."""

from __future__ import annotations

from ledger.crypto import CryptoAlgorithm, KeyPair, algorithm_by_name, generate_keypair

__all__ = ["generate_key"]


def generate_key(algorithm: str | CryptoAlgorithm = "ED25519") -> KeyPair:
    """A fresh signing key pair: ``"ED25519"`` (default), ``"SM2"`` or ``"ECDSA"`` (P-256)."""
    return generate_keypair(algorithm_by_name(algorithm) if isinstance(algorithm, str) else algorithm)
