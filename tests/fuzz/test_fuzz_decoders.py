"""Every decoder that faces the network fails only with CodecError, whatever bytes arrive.

Inputs are random bytes, random msgpack trees, and mutations (byte flips, truncations,
insertions) of valid encodings, which reach far deeper into the decoders than random bytes.
`JADECHAIN_FUZZ_EXAMPLES` raises the example count for long runs (atheris-style soak).
"""

from __future__ import annotations

import os
from typing import Any, Callable

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consensus import types as consensus_types
from ledger import codec
from ledger.certificate import CommitCertificate
from ledger.errors import CodecError
from ledger.types import Block, BlockHeader, Transaction, TransactionInfo

from tests.unit.ledger.ledger_testkit import make_chain

EXAMPLES = int(os.environ.get("JADECHAIN_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid_samples() -> dict[str, bytes]:
    chain = make_chain()
    account = chain.new_data_account("fuzz")
    tx = chain.tx(lambda b: b.kv_set(account, "k", {"a": [1, 2]}, -1).publish(account, "t", "x"))
    result = chain.commit(tx)
    block = chain.ledger.get_block(chain.ledger.height)
    return {
        "transaction": codec.encode(tx),
        "block": codec.encode(block),
        "header": codec.encode(block.header),
        "info": codec.encode(result.tx_infos[0]),
    }


SAMPLES = _valid_samples()
LEDGER_DECODERS: dict[str, Callable[[bytes], Any]] = {
    "transaction": lambda data: codec.decode(Transaction, data),
    "block": lambda data: codec.decode(Block, data),
    "header": lambda data: codec.decode(BlockHeader, data),
    "info": lambda data: codec.decode(TransactionInfo, data),
    "certificate": lambda data: codec.decode(CommitCertificate, data),
}
CONSENSUS_DECODERS: list[Callable[[bytes], Any]] = [
    consensus_types.decode_message,
    consensus_types.decode_block,
    consensus_types.decode_vote,
    consensus_types.decode_quorum_certificate,
    consensus_types.decode_timeout_certificate,
]


def _only_codec_errors(decoder: Callable[[bytes], Any], data: bytes) -> None:
    try:
        decoder(data)
    except CodecError:
        pass


def _mutate(data: bytes, how: int, position: int, byte: int) -> bytes:
    position %= max(len(data), 1)
    if how == 0:
        mutated = bytearray(data)
        mutated[position] ^= byte or 1
        return bytes(mutated)
    if how == 1:
        return data[:position]
    if how == 2:
        return data[:position] + bytes([byte]) + data[position:]
    return data[:position] + data[position + 1:]


plain_trees = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.binary(max_size=8), st.text(max_size=8)),
    lambda children: st.lists(children, max_size=5),
    max_leaves=20,
)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    for decoder in [*LEDGER_DECODERS.values(), *CONSENSUS_DECODERS]:
        _only_codec_errors(decoder, data)


@FUZZ
@given(plain_trees)
def test_random_msgpack_trees(tree: Any) -> None:
    data = msgpack.packb(tree, use_bin_type=True)
    for decoder in [*LEDGER_DECODERS.values(), *CONSENSUS_DECODERS]:
        _only_codec_errors(decoder, data)


@FUZZ
@given(st.sampled_from(sorted(SAMPLES)), st.integers(0, 3), st.integers(0, 10**6), st.integers(0, 255))
def test_mutated_valid_encodings(kind: str, how: int, position: int, byte: int) -> None:
    data = _mutate(SAMPLES[kind], how, position, byte)
    _only_codec_errors(LEDGER_DECODERS[kind], data)
    for decoder in CONSENSUS_DECODERS:
        _only_codec_errors(decoder, data)


def test_deeply_nested_input_is_refused_not_crashing() -> None:
    nested = b"\x91" * 100_000 + b"\xc0"
    for decoder in [*LEDGER_DECODERS.values(), *CONSENSUS_DECODERS]:
        _only_codec_errors(decoder, nested)
