"""Live stream messages, built from what the committer published, are the ones replay reads from the ledger."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.crypto import to_base58
from ledger.types import TransactionInfo
from node.gateway.schemas import tx_result_json, tx_result_public
from node.gateway.sse import KINDS, block_messages
from node.solo import CommittedBlock
from tests.unit.ledger.replay_workload import block_time, build_workload


def test_published_blocks_give_byte_identical_messages_to_ledger_reads() -> None:
    workload = build_workload("SHA256")
    ledger = workload.ledger
    published = []
    for index, txs in enumerate(workload.blocks):
        result = ledger.apply_block(ledger.make_block(txs, time=block_time(index), proposer=b""))
        published.append(CommittedBlock(result.header.height, result.block_hash, result.header, result.tx_infos,
                                        result.events))
    kinds_seen = set()
    for committed in published:
        live = block_messages(ledger, committed.height, committed)
        replayed = block_messages(ledger, committed.height)
        assert [m.encode() for m in live] == [m.encode() for m in replayed]
        kinds_seen.update(m.kind for m in live)
        only_blocks = block_messages(ledger, committed.height, committed, kinds=("block",))
        assert [(m.index, m.kind) for m in only_blocks] == [(m.index, m.kind) for m in live]
        assert all(m.data == "" for m in only_blocks if m.kind != "block")
    assert kinds_seen == set(KINDS)


@given(
    st.binary(min_size=1, max_size=40),
    st.sampled_from(["SUCCESS", "VERSION_CONFLICT", "PERMISSION_DENIED", "ÜNICODE_ÇODE", 'QUOTE"\\']),
    st.integers(0, 2**63 - 1), st.integers(0, 2**31), st.integers(0, 2**63 - 1),
)
def test_tx_result_json_is_the_models_json(tx_hash: bytes, status: str, height: int, index: int, gas: int) -> None:
    info = TransactionInfo(tx_hash=tx_hash, height=height, index=index, status=status, write_set_hash=b"w",
                           events_hash=b"e", gas_used=gas)
    assert tx_result_json(info) == tx_result_public(info).model_dump_json()


@given(
    st.one_of(st.none(), st.binary(min_size=1, max_size=40)),
    st.one_of(st.none(), st.sampled_from(["MEMPOOL_FULL", "INVALID_SIGNATURE", "DUPLICATE_TRANSACTION"])),
    st.text(max_size=30),
    st.booleans(),
)
def test_submit_results_are_the_documented_models_dump(tx_hash, code, message, committed) -> None:
    from ledger.errors import JadechainError
    from node.gateway.schemas import ErrorPublic, SubmitResultPublic, submit_result_dict

    error = None
    if code is not None:
        error = JadechainError(message)
        error.code = code
    info = TransactionInfo(tx_hash=tx_hash or b"h", height=3, index=1, status="SUCCESS", write_set_hash=b"w",
                           events_hash=b"e", gas_used=7) if committed else None
    model = SubmitResultPublic(tx_hash=None if tx_hash is None else to_base58(tx_hash), accepted=error is None)
    if error is not None:
        model.error = ErrorPublic(code=error.code, message=error.message)
    if info is not None:
        model.committed = True
        model.result = tx_result_public(info)
    assert submit_result_dict(tx_hash, error, info) == model.model_dump()
