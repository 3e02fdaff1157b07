"""Byzantine validator (f = 1 of 4): honest nodes stay safe and live.

One network; node3 is restarted in each Byzantine mode of ``byzantine.py`` in turn (equivocation,
invalid blocks, wrong signing key in consensus messages and in envelopes, replays of old
messages, a flood of invalid transactions, and all of them at once), while a history-logging
load runs against the three honest nodes. In each mode the honest nodes must keep committing and
(where the attack is detectable) count what they refused; at the end the history checker must
find no violation and the honest nodes identical blocks. About 2 minutes.
"""

from __future__ import annotations


import httpx
import pytest

from tests.chaos.byzantine import start_byzantine_node
from tests.chaos.chaos_runner import DEFAULT_CONSENSUS, HistoryLoad
from tests.chaos.chaos_history import History, check_history, collect_final_state, format_violations
from jadechain.devnet.net import create_network, net_down, start_node, stop_node
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

HONEST = ["node0", "node1", "node2"]
BYZANTINE = "node3"
DETECTABLE = {"invalid_block", "wrong_key", "wrong_envelope_key", "flood"}
REFUSAL_WORDS = ("invalid", "drop", "reject", "bad", "stale", "unknown")


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    layout = create_network(tmp_path_factory.mktemp("byzantine") / "net", 4, consensus=dict(DEFAULT_CONSENSUS))
    history = History()
    try:
        for node in layout.nodes:
            start_node(layout, node.name)
        wait_until(lambda: all(_height(layout, n) >= 1 for n in HONEST + [BYZANTINE]), 90, "every node at height 1")
        load = HistoryLoad(layout, history, clients=2, seed=5)
        load.skip.add(BYZANTINE)
        load.start()
        yield layout, load, history
        load.stop()
    finally:
        net_down(layout.directory, timeout=15)


def _status(layout, name: str) -> dict:
    return httpx.get(f"{layout.node(name).url}/api/v1/node/status", timeout=3).json()["ledgers"][layout.ledger_hash]


def _height(layout, name: str) -> int:
    try:
        return int(httpx.get(f"{layout.node(name).url}/health", timeout=2).json()["ledgers"][layout.ledger_hash])
    except Exception:
        return -1


def _refusals(layout) -> int:
    """What the honest nodes counted as refused: invalid / dropped / rejected messages and envelopes."""
    total = 0
    for name in HONEST:
        status = _status(layout, name)
        total += int(status.get("invalid_messages", 0))
        for group in ("consensus", "replica"):
            total += sum(int(v) for k, v in status.get(group, {}).items()
                         if isinstance(v, (int, float)) and any(w in k for w in REFUSAL_WORDS) and k != "invalid_messages")
        metrics = httpx.get(f"{layout.node(name).url}/metrics", timeout=3).text
        for line in metrics.splitlines():
            if not line.startswith("#") and "invalid" in line.split("{")[0]:
                total += int(float(line.rsplit(" ", 1)[1]))
    return total


MODE_SETS = [
    {"equivocate"}, {"invalid_block"}, {"wrong_key"}, {"wrong_envelope_key"}, {"replay"}, {"flood"},
    {"equivocate", "replay", "flood", "wrong_key"},
]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("modes", MODE_SETS, ids=["+".join(sorted(m)) for m in MODE_SETS])
def test_honest_nodes_stay_live_against_a_byzantine_node(network, modes: set[str]) -> None:
    layout, load, _ = network
    stop_node(layout, BYZANTINE, timeout=10)
    start_byzantine_node(layout, BYZANTINE, modes)
    refused_before = _refusals(layout)
    committed_before = load.acknowledged
    start = {name: _height(layout, name) for name in HONEST}
    # Long enough for the Byzantine node to lead several rounds (leaders rotate).
    wait_until(lambda: all(_height(layout, n) >= start[n] + 12 for n in HONEST), 90,
               f"honest nodes to commit 12 blocks under {modes} from {start}")
    assert load.acknowledged > committed_before, f"no client write committed under {modes}"
    for name in HONEST:
        assert _status(layout, name)["halted"] is False
    refused = _refusals(layout) - refused_before
    print(f"byzantine {sorted(modes)}: honest nodes refused {refused} messages/txs")
    if modes & DETECTABLE:
        assert refused > 0, f"honest nodes counted nothing refused under {modes}"
    if "flood" in modes:
        # Its forged transactions carry its own attestation (node.gossip): one voucher is not the
        # f + 1 = 2 needed, so the honest nodes verified them and refused them for their signature.
        forged = {name: int(_status(layout, name).get("replica", {}).get("peer_txs_rejected_signature", 0))
                  for name in HONEST}
        assert all(count > 0 for count in forged.values()), forged


@pytest.mark.timeout(240)
def test_after_all_attacks_the_honest_history_is_valid(network) -> None:
    layout, load, history = network
    stop_node(layout, BYZANTINE, timeout=10)
    load.stop()
    tip = max(_height(layout, n) for n in HONEST)
    wait_until(lambda: all(_height(layout, n) >= tip for n in HONEST), 60, f"every honest node at height {tip}")
    final = collect_final_state({n: layout.node(n).url for n in HONEST}, layout.ledger_hash, load.account, load.all_keys)
    violations = check_history(history, final)
    assert violations == [], format_violations(violations)
    assert len(history.acknowledged()) > 0
