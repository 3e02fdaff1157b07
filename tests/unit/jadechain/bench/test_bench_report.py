"""Report schema, headline line, targets, Markdown tables, /metrics parsing, load generators (no network)."""

import asyncio
import json

from jadechain.bench.load import LoadResult, Submitter, run_closed_loop, run_open_loop
from jadechain.bench.observe import parse_stage_metrics
from jadechain.bench.report import REPORT_KEYS, headline, summary_table, target_verdicts, validate_report
from jadechain.bench.runner import comparison_rows, comparison_table


def sample_report(nodes=4, crypto="classic", tps=3200.0, p99=1.5):
    return {
        "benchmark": "tps", "machine": {"cpus": 2},
        "config": {"nodes": nodes, "crypto": crypto, "workload": "kv-write", "mode": "closed-loop 16 clients",
                   "transport": "grpc", "duration_s": 60.0, "batch": 200, "max_block_txs": 2000, "quick": False},
        "results": {"committed_tps": tps, "committed_tps_by_header_time": tps, "latency": {
            "count": 10, "mean_s": 1.0, "p50_s": 0.9, "p90_s": 1.2, "p99_s": p99, "max_s": 1.6},
            "offered": 10, "accepted": 10, "committed": 10, "uncommitted": 0, "outcome": {}, "blocks": 2,
            "txs_per_block": 5.0},
        "ceiling": {"verifies_per_s_machine": 20000.0, "nodes_verifying_each_tx": nodes, "tps_ceiling": 5000.0,
                    "fraction_of_ceiling": 0.64},
        "nodes": {"node0": {"rss_mb_peak": 150.0}, "node1": {"rss_mb_peak": 171.4}},
        "profile": {"stage_seconds": {}, "stage_ms_per_tx": {}, "node_cpu_ms_per_tx": 1.5, "api_submit_ms": None},
        "targets": target_verdicts(nodes, crypto, "kv-write", tps, p99),
    }


def test_a_full_report_passes_the_schema_and_a_cut_one_names_what_is_missing():
    report = sample_report()
    assert validate_report(report) == []
    del report["results"]["latency"]
    del report["ceiling"]
    assert validate_report(report) == ["ceiling", "results.latency"]


def test_schema_names_the_figures_the_issue_asks_for():
    assert "committed_tps" in REPORT_KEYS["results"] and "latency" in REPORT_KEYS["results"]
    assert "fraction_of_ceiling" in REPORT_KEYS["ceiling"]
    assert "node_cpu_ms_per_tx" in REPORT_KEYS["profile"]


def test_headline_is_one_json_line_of_the_key_figures():
    line = headline(sample_report())
    text = json.dumps(line)
    assert "\n" not in text
    assert line["committed_tps"] == 3200.0 and line["p99_s"] == 1.5 and line["targets_met"] == [True]


def test_targets_apply_only_to_their_configuration():
    assert target_verdicts(4, "classic", "kv-write", 3500.0, 2.5)[0]["met"] is False  # p99 too high
    assert target_verdicts(4, "sm", "kv-write", 1200.0, 9.0)[0]["met"] is True       # no p99 bound for SM2
    assert target_verdicts(1, "classic", "kv-write", 5000.0, 0.1)[0]["met"] is False
    assert target_verdicts(7, "classic", "kv-write", 5000.0, 0.1) == []
    assert target_verdicts(4, "classic", "contract", 5000.0, 0.1) == []


def test_summary_table_has_one_row_per_run():
    table = summary_table([sample_report(), sample_report(crypto="sm", tps=900.0)])
    rows = table.strip().splitlines()
    assert len(rows) == 4
    assert rows[2].startswith("| 4 | classic | kv-write | 2000 | 3,200 |")
    assert "| 171 |" in rows[2]  # peak RSS of the largest node


def test_comparison_with_pysyncobj_takes_the_best_run_per_node_count():
    runs = [sample_report(tps=1000.0), sample_report(tps=1500.0)]
    raft = [{"nodes": 4, "ops_per_s": 600.0, "latency_p99_ms": 900.0, "payload_bytes": 246}]
    rows = comparison_rows(runs, raft)
    assert rows == [{"nodes": 4, "jadechain_tps": 1500.0, "jadechain_p99_s": 1.5, "pysyncobj_ops_per_s": 600.0,
                     "pysyncobj_p99_ms": 900.0, "payload_bytes": 246, "ratio": 2.5, "target_2x_met": True}]
    assert "| 4 | 1,500 | 600 | 2.5 | yes |" in comparison_table(rows)


def test_stage_timers_are_read_from_prometheus_text():
    text = "\n".join([
        "# HELP jadechain_stage_seconds_total Seconds spent per replica stage",
        "# TYPE jadechain_stage_seconds_total counter",
        'jadechain_stage_seconds_total{ledger="L1",stage="execution"} 12.5',
        'jadechain_stage_seconds_total{ledger="L1",stage="ingress_verify"} 3.0',
        'jadechain_stage_seconds_total{ledger="L2",stage="execution"} 99.0',
        'jadechain_height{ledger="L1"} 7.0',
    ])
    assert parse_stage_metrics(text, "L1") == {"execution": 12.5, "ingress_verify": 3.0}


class FakeSubmitter(Submitter):
    """Accepts everything except one MEMPOOL_FULL answer per transaction the first time it is seen."""

    transport = "fake"

    def __init__(self, full_once: bool = False) -> None:
        self.calls: list[int] = []
        self.seen: set[str] = set()
        self.full_once = full_once
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def targets(self) -> int:
        return 2

    async def send(self, target, batch):
        self.calls.append(target)
        self.in_flight += len(batch)
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0)
        self.in_flight -= len(batch)
        answers = []
        for tx_hash, _ in batch:
            if self.full_once and tx_hash not in self.seen:
                self.seen.add(tx_hash)
                answers.append((tx_hash, "MEMPOOL_FULL"))
            else:
                answers.append((tx_hash, None))
        return answers


def txs(count):
    return [(f"h{i}", b"x") for i in range(count)]


def test_open_loop_offers_every_transaction_in_batches_over_all_nodes_and_retries_back_pressure():
    submitter = FakeSubmitter(full_once=True)
    result = asyncio.run(run_open_loop(submitter, txs(50), rate=100_000.0, batch=10, duration=30.0))
    assert isinstance(result, LoadResult)
    assert len(result.submitted_at) == 50
    assert result.outcome["accepted"] == 50
    assert result.outcome["retried_mempool_full"] == 50
    assert set(submitter.calls) == {0, 1}


def test_closed_loop_keeps_at_most_clients_times_batch_in_flight():
    submitter = FakeSubmitter()
    committed_batches = []

    async def wait_committed(hashes, timeout):
        committed_batches.append(len(hashes))
        await asyncio.sleep(0)
        return True

    result = asyncio.run(run_closed_loop(submitter, txs(95), clients=3, batch=10, duration=30.0,
                                         wait_committed=wait_committed))
    assert len(result.submitted_at) == 95
    assert submitter.max_in_flight <= 3 * 10
    assert sum(committed_batches) == 95
    assert result.outcome.get("pool_exhausted_before_deadline") == 1


def test_commit_listener_records_blocks_first_commits_and_repeated_inclusions():
    from jadechain.bench.observe import CommitListener

    listener = CommitListener("http://127.0.0.1:1", "L", 5)
    listener._record("block", {"height": 5, "tx_count": 2, "time": 1000}, 10.0)
    listener._record("tx", {"tx_hash": "a", "status": "SUCCESS", "height": 5}, 10.1)
    listener._record("tx", {"tx_hash": "b", "status": "SUCCESS", "height": 5}, 10.2)
    listener._record("block", {"height": 6, "tx_count": 1, "time": 2000}, 11.0)
    listener._record("tx", {"tx_hash": "a", "status": "DUPLICATE_TRANSACTION", "height": 6}, 11.1)
    assert listener.tx_seen == {"a": 10.1, "b": 10.2}
    assert listener.tx_status["a"] == "SUCCESS"
    assert listener.repeated == {"a": 1}
    assert sorted(listener.blocks) == [5, 6] and listener.blocks[6].tx_count == 1
    assert listener.wait_for(["a", "b"], timeout=0.0)
    assert not listener.wait_for(["c"], timeout=0.0)
