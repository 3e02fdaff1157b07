"""The self-describing byte form of hashes, keys and signatures, and their base58 text form.

Every crypto value on the wire is ``2-byte big-endian algorithm code ‖ raw bytes`` (JD Chain's
``CryptoBytes``): a reader never has to guess which algorithm made a value, and a ledger can
accept several signature algorithms at once. Decoding checks the raw length against what the
algorithm produces, so a truncated or padded value is rejected before anyone tries to use it.
"""

from __future__ import annotations

from typing import Final, Literal

import base58

from ledger.crypto.registry import (
    AES_GCM,
    ECDSA_P256,
    ED25519,
    ENCRYPTION,
    HASH,
    RANDOM,
    RIPEMD160,
    SHA256,
    SIGNATURE,
    SM2,
    SM3,
    SM4,
    CryptoAlgorithm,
    algorithm_by_code,
)
from ledger.errors import CryptoError, InvalidKey

__all__ = [
    "CODE_SIZE",
    "RawKind",
    "raw_lengths",
    "encode_crypto_bytes",
    "decode_crypto_bytes",
    "to_base58",
    "from_base58",
]

CODE_SIZE: Final = 2
"""Bytes of the algorithm code that prefixes every encoded value."""

RawKind = Literal["hash", "public_key", "private_key", "signature", "symmetric_key"]
"""What a raw value is; the same algorithm code prefixes keys and signatures of different sizes."""

_LENGTHS: Final[dict[int, dict[str, frozenset[int]]]] = {
    SM3.code: {"hash": frozenset({32})},
    SHA256.code: {"hash": frozenset({32})},
    RIPEMD160.code: {"hash": frozenset({20})},
    ED25519.code: {
        "public_key": frozenset({32}),
        "private_key": frozenset({32}),
        "signature": frozenset({64}),
    },
    SM2.code: {
        "public_key": frozenset({65}),
        "private_key": frozenset({32}),
        "signature": frozenset({64}),
    },
    ECDSA_P256.code: {
        "public_key": frozenset({65}),
        "private_key": frozenset({32}),
        "signature": frozenset({64}),
    },
    SM4.code: {"symmetric_key": frozenset({16})},
    AES_GCM.code: {"symmetric_key": frozenset({16, 24, 32})},
}

_CATEGORY_NAMES: Final[dict[int, str]] = {
    RANDOM: "random",
    HASH: "hash",
    SIGNATURE: "signature",
    ENCRYPTION: "encryption",
}


def raw_lengths(algorithm: CryptoAlgorithm, kind: RawKind | None = None) -> frozenset[int]:
    """The raw sizes ``algorithm`` produces for ``kind`` (all kinds when None).

    An empty set means "any length" (only for kinds an algorithm does not fix, such as
    ciphertexts); an algorithm that never produces ``kind`` raises CryptoError.
    """
    table = _LENGTHS.get(algorithm.code, {})
    if kind is None:
        sizes: set[int] = set()
        for kind_sizes in table.values():
            sizes |= kind_sizes
        return frozenset(sizes)
    if kind not in table:
        raise CryptoError(
            f"{algorithm.name} has no {kind.replace('_', ' ')}",
            algorithm=algorithm.name,
        )
    return table[kind]


def encode_crypto_bytes(algorithm: CryptoAlgorithm, raw: bytes) -> bytes:
    """``code ‖ raw``: the self-describing form of a hash, key or signature."""
    return algorithm.code.to_bytes(CODE_SIZE, "big") + bytes(raw)


def decode_crypto_bytes(
    data: bytes,
    expected_category: int | None = None,
    *,
    kind: RawKind | None = None,
) -> tuple[CryptoAlgorithm, bytes]:
    """Split ``code ‖ raw`` into the algorithm and the raw bytes, checking both.

    ``expected_category`` (HASH, SIGNATURE, ENCRYPTION or RANDOM from the registry) rejects,
    say, a hash where a signature belongs; ``kind`` narrows the length check to one kind of
    value (a 65-byte SM2 public key is not a valid SM2 signature). Raises UnknownAlgorithm for
    an unknown code and CryptoError for a wrong category or length.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CryptoError("crypto bytes must be bytes", type=type(data).__name__)
    data = bytes(data)
    if len(data) < CODE_SIZE:
        raise CryptoError(
            f"crypto bytes too short: {len(data)} bytes, need at least {CODE_SIZE + 1}",
            length=len(data),
        )
    algorithm = algorithm_by_code(int.from_bytes(data[:CODE_SIZE], "big"))
    if expected_category is not None and not algorithm.has_category(expected_category):
        expected = _CATEGORY_NAMES.get(expected_category, hex(expected_category))
        raise CryptoError(
            f"{algorithm.name} is not a {expected} algorithm",
            algorithm=algorithm.name,
        )
    raw = data[CODE_SIZE:]
    sizes = raw_lengths(algorithm, kind)
    if sizes and len(raw) not in sizes:
        what = kind.replace("_", " ") if kind else "value"
        raise CryptoError(
            f"{algorithm.name} {what} must be {' or '.join(map(str, sorted(sizes)))} bytes, "
            f"got {len(raw)}",
            algorithm=algorithm.name,
            length=len(raw),
        )
    if not raw:
        raise CryptoError(f"{algorithm.name} value is empty", algorithm=algorithm.name)
    return algorithm, raw


def to_base58(data: bytes) -> str:
    """Bitcoin-alphabet base58, the text form JD Chain uses for keys and addresses.

    The same text as ``base58.b58encode``, about twice as fast: one big-number division per ten
    digits, then two digits per table lookup on a machine-size integer (every tx hash in a
    submit result or a stream message is shown this way: it is on the per-transaction path).
    """
    raw = bytes(data)
    number = int.from_bytes(raw, "big")
    pairs: list[str] = []  # least significant first
    while number:
        number, chunk = divmod(number, _TEN_DIGITS)
        high, low = divmod(chunk, _EIGHT_DIGITS)
        pairs.append(_DIGIT_PAIRS[low % _PAIR])
        low //= _PAIR
        pairs.append(_DIGIT_PAIRS[low % _PAIR])
        low //= _PAIR
        pairs.append(_DIGIT_PAIRS[low % _PAIR])
        pairs.append(_DIGIT_PAIRS[low // _PAIR])
        pairs.append(_DIGIT_PAIRS[high])
    text = "".join(reversed(pairs)).lstrip("1")
    zeros = len(raw) - len(raw.lstrip(b"\0"))
    return "1" * zeros + text


_BASE58_DIGITS: Final = base58.BITCOIN_ALPHABET.decode("ascii")
_PAIR: Final = 58**2
_EIGHT_DIGITS: Final = 58**8
_TEN_DIGITS: Final = 58**10
_DIGIT_PAIRS: Final = tuple(high + low for high in _BASE58_DIGITS for low in _BASE58_DIGITS)
"""Every two-digit base58 string, indexed by its value (0 .. 58² - 1)."""


def from_base58(text: str) -> bytes:
    """Decode base58 text; raises InvalidKey (a CryptoError) naming the first bad character."""
    if not isinstance(text, str):
        raise InvalidKey("base58 text must be a string", type=type(text).__name__)
    if not text:
        raise InvalidKey("base58 text is empty")
    for position, char in enumerate(text):
        if char not in _ALPHABET:
            raise InvalidKey(
                f"invalid base58 character {char!r} at position {position}",
                position=position,
            )
    return bytes(base58.b58decode(text))


_ALPHABET: Final = frozenset(base58.BITCOIN_ALPHABET.decode("ascii"))
