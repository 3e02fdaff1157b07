"""Account addresses, derived from public keys exactly as JD Chain derives them.

``base58(0x91 ‖ algorithm code (2 B) ‖ RIPEMD160(SHA256(raw public key)) ‖ checksum)``
where the checksum is the first 4 bytes of SHA256(SHA256(everything before it)). The version
byte lets the format evolve; the algorithm code tells which kind of key owns the account; the
checksum catches a mistyped address before value or permissions go to an account nobody
holds. ``validate_address`` says precisely what is wrong with a bad one.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final, NewType

from ledger.crypto.encoding import from_base58, to_base58
from ledger.crypto.hashing import hash_raw
from ledger.crypto.keys import PublicKey
from ledger.crypto.registry import RIPEMD160, CryptoAlgorithm, algorithm_by_code
from ledger.errors import CryptoError, InvalidAddress, UnknownAlgorithm

__all__ = [
    "Address",
    "ADDRESS_VERSION",
    "ADDRESS_SIZE",
    "address_from_public_key",
    "decode_address",
    "validate_address",
]

Address = NewType("Address", str)
"""A base58 account address (a ``str`` that passed validation or was derived from a key)."""

ADDRESS_VERSION: Final = 0x91
"""JD Chain's address version V1."""
_KEY_HASH_SIZE: Final = 20
_CHECKSUM_SIZE: Final = 4
ADDRESS_SIZE: Final = 1 + 2 + _KEY_HASH_SIZE + _CHECKSUM_SIZE
"""Decoded address bytes: version, algorithm code, key hash, checksum."""


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:_CHECKSUM_SIZE]


def address_from_public_key(public: PublicKey) -> Address:
    """The address of the account owned by ``public``."""
    key_hash = hash_raw(RIPEMD160, hashlib.sha256(public.raw).digest())
    payload = bytes([ADDRESS_VERSION]) + public.algorithm.code.to_bytes(2, "big") + key_hash
    return Address(to_base58(payload + _checksum(payload)))


def decode_address(text: str) -> tuple[CryptoAlgorithm, bytes]:
    """The key algorithm and 20-byte key hash of an address; InvalidAddress if it is not one."""
    if not isinstance(text, str):
        raise InvalidAddress("address must be a string", type=type(text).__name__)
    if not text:
        raise InvalidAddress("address is empty")
    try:
        data = from_base58(text)
    except CryptoError as error:
        raise InvalidAddress(
            f"address {text!r} is not base58: {error.message}", address=text
        ) from None
    if len(data) != ADDRESS_SIZE:
        raise InvalidAddress(
            f"address {text!r} decodes to {len(data)} bytes, expected {ADDRESS_SIZE}",
            address=text,
        )
    if data[0] != ADDRESS_VERSION:
        raise InvalidAddress(
            f"address {text!r} has version byte 0x{data[0]:02x}, expected 0x{ADDRESS_VERSION:02x}",
            address=text,
        )
    payload, checksum = data[:-_CHECKSUM_SIZE], data[-_CHECKSUM_SIZE:]
    if not hmac.compare_digest(checksum, _checksum(payload)):
        raise InvalidAddress(
            f"address {text!r} has a bad checksum (mistyped?)", address=text
        )
    code = int.from_bytes(payload[1:3], "big")
    try:
        algorithm = algorithm_by_code(code)
    except UnknownAlgorithm:
        raise InvalidAddress(
            f"address {text!r} names unknown algorithm code 0x{code:04x}", address=text
        ) from None
    if not algorithm.is_signature:
        raise InvalidAddress(
            f"address {text!r} names {algorithm.name}, which is not a signature algorithm",
            address=text,
        )
    return algorithm, payload[3:]


def validate_address(text: str) -> Address:
    """Return ``text`` as an Address if it is well formed; raise InvalidAddress saying why not."""
    decode_address(text)
    return Address(text)
