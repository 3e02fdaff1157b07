"""The history checker itself, on synthetic good and bad histories (no processes, < 1 s)."""

from __future__ import annotations

import pytest

from tests.chaos.chaos_history import BlockView, FinalState, History, check_history, format_violations


def _good() -> tuple[History, FinalState]:
    history = History()
    final = FinalState()
    for version, (tx_hash, value, height) in enumerate([("t1", "v1", 2), ("t2", "v2", 3), ("t3", "v3", 3)]):
        op_id = history.new_id()
        history.record("submit", op_id, "c0", node="node0", tx_hash=tx_hash, key="r0", value=value, expected_version=version - 1)
        history.record("result", op_id, "c0", tx_hash=tx_hash, outcome="ok", status="SUCCESS", height=height)
        final.chain_txs[tx_hash] = [(height, version, "SUCCESS")]
    final.versions["r0"] = [(0, "v1", "t1"), (1, "v2", "t2"), (2, "v3", "t3")]
    read = history.new_id()
    history.record("read", read, "c1", node="node1", key="r0", version=1, value="v2", outcome="ok")
    # An unknown outcome that did commit, and a refused one that did not: both fine.
    op_id = history.new_id()
    history.record("submit", op_id, "c0", tx_hash="t4", key="r1", value="w1", expected_version=-1)
    history.record("result", op_id, "c0", tx_hash="t4", outcome="info", error="ReadTimeout")
    final.chain_txs["t4"] = [(4, 0, "SUCCESS")]
    final.versions["r1"] = [(0, "w1", "t4")]
    op_id = history.new_id()
    history.record("submit", op_id, "c0", tx_hash="t5", key="r1", value="w2", expected_version=0)
    history.record("result", op_id, "c0", tx_hash="t5", outcome="fail", error="MEMPOOL_FULL")
    blocks = [BlockView(h, f"h{h}", f"s{h}", f"a{h}", h) for h in range(1, 5)]
    final.blocks = {"node0": blocks, "node1": blocks[:3], "node2": list(blocks)}
    return history, final


def test_a_valid_history_passes() -> None:
    history, final = _good()
    assert check_history(history, final) == []


def _kinds(history: History, final: FinalState) -> set[str]:
    violations = check_history(history, final)
    assert violations, "the checker missed the violation"
    text = format_violations(violations)
    assert all(v.history or v.kind == "divergence" for v in violations), text
    return {v.kind for v in violations}


def test_a_lost_acknowledged_commit_is_reported_with_its_history() -> None:
    history, final = _good()
    del final.chain_txs["t2"]
    violations = check_history(history, final)
    lost = [v for v in violations if v.kind == "lost-commit"]
    assert len(lost) == 1
    # The minimal history: the submit and the acknowledgement of t2, nothing else.
    assert [(op.kind, op.tx_hash) for op in lost[0].history] == [("submit", "t2"), ("result", "t2")]
    assert "t2" in lost[0].render()


def test_a_commit_twice_in_the_ledger_is_reported() -> None:
    history, final = _good()
    final.chain_txs["t1"].append((4, 1, "SUCCESS"))
    assert "duplicate-commit" in _kinds(history, final)


def test_an_acknowledgement_at_another_height_is_reported() -> None:
    history, final = _good()
    final.chain_txs["t1"] = [(3, 0, "SUCCESS")]
    assert "moved-commit" in _kinds(history, final)


def test_a_changed_on_chain_status_is_reported() -> None:
    history, final = _good()
    final.chain_txs["t2"] = [(3, 1, "VERSION_CONFLICT")]
    assert "changed-result" in _kinds(history, final)


def test_a_refused_write_found_on_chain_is_reported() -> None:
    history, final = _good()
    final.chain_txs["t5"] = [(4, 1, "SUCCESS")]
    assert "refused-but-committed" in _kinds(history, final)


def test_a_version_gap_is_reported() -> None:
    history, final = _good()
    final.versions["r0"] = [(0, "v1", "t1"), (2, "v3", "t3")]
    assert {"version-gap", "lost-write"} <= _kinds(history, final)


def test_a_value_nobody_wrote_is_reported() -> None:
    history, final = _good()
    final.versions["r0"][1] = (1, "forged", "t2")
    assert "phantom-write" in _kinds(history, final)


def test_versions_out_of_commit_order_are_reported() -> None:
    history, final = _good()
    final.chain_txs["t3"] = [(2, 5, "SUCCESS")]
    final.chain_txs["t2"] = [(3, 1, "SUCCESS")]
    history.operations = [op for op in history.operations if not (op.kind == "result" and op.tx_hash == "t3")]
    assert "version-order" in _kinds(history, final)


@pytest.mark.parametrize("version, value, kind", [(7, "v2", "read-uncommitted"), (1, "v9", "read-wrong-value")])
def test_a_read_of_data_that_was_never_committed_is_reported(version: int, value: str, kind: str) -> None:
    history, final = _good()
    history.record("read", history.new_id(), "c2", node="node3", key="r0", version=version, value=value, outcome="ok")
    violations = [v for v in check_history(history, final) if v.kind == kind]
    assert len(violations) == 1
    assert violations[0].history[0].node == "node3"


def test_diverging_nodes_are_reported_at_the_first_differing_height() -> None:
    history, final = _good()
    forked = list(final.blocks["node2"])
    forked[2] = BlockView(3, "evil", "s3x", "a3", 3)
    final.blocks["node2"] = forked
    violations = [v for v in check_history(history, final) if v.kind == "divergence"]
    assert len(violations) == 1 and "height 3" in violations[0].message


def test_divergence_beyond_the_lowest_common_height_is_not_judged() -> None:
    history, final = _good()
    forked = list(final.blocks["node0"])
    final.blocks["node1"] = forked[:2]
    final.blocks["node2"] = forked[:3] + [BlockView(4, "other", "s", "a", 4)]
    final.blocks["node0"] = forked[:2] + [BlockView(3, "x", "y", "z", 3)]
    # node1 only reaches height 2: heights 1..2 agree.
    assert check_history(history, final) == []


def test_the_history_round_trips_through_its_file(tmp_path) -> None:
    path = tmp_path / "history.jsonl"
    history = History(path)
    op_id = history.new_id()
    history.record("submit", op_id, "c0", tx_hash="t1", key="r0", value="v1", expected_version=-1)
    history.record("result", op_id, "c0", tx_hash="t1", outcome="ok", status="SUCCESS", height=2)
    history.close()
    loaded = History.load(path)
    assert [(op.kind, op.tx_hash, op.outcome) for op in loaded.operations] == [("submit", "t1", ""), ("result", "t1", "ok")]
