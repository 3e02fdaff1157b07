"""Traceability benchmark: EPCIS capture throughput through the chain, then history query latency.

A one-validator dev ledger runs a solo node (committer + gateway) on 127.0.0.1 in a child process
(as in production, the app and the node are separate processes, so they do not share one GIL); the
traceability contract is deployed, one brand and one logistics partner are registered, and synthetic
EPCIS 2.0 documents are captured through the app's capture path (schema validation, event hashes,
one contract invocation per document, commit, index). The supply chain per case of 20 items:
commissioning (1 ObjectEvent for the 20 items), packing (AggregationEvent), shipping and receiving
of the case (partner), and a retail sale per item: 24 events, so an item's history is 5 events found
through its own keys and its case's (genealogy through aggregation).

Then ``GET /traceability/items/{id}/history`` over HTTP for random items (sequential, keep-alive):
p50 / p99 latency (target p99 ≤ 20 ms), and the same for an EPCIS ``/events?MATCH_epc=`` query.

``--index-level`` measures the query side at scale without the chain: the same synthetic events are
prepared exactly as a committed capture is (event hash, canonical JSON, keys, extension fields) and
written straight into the app's index (SQLite), then queried over HTTP as above; it reports history
p50/p99 and index bytes per event at 10^6 events. It does NOT measure capture: the chain path
(validation, signing, consensus, contract, commit, index) runs at ~180 events/s on the shared
machine, so it is measured separately with ``--quick`` (2·10^4 events), and a 10^6-event chain load
would take 1.5–2 hours.

Writes bench/results/traceability.json (``--index-level``: traceability_index.json); the very last
line printed is one JSON object of headline figures. Never passes or fails on wall time.

    .venv/bin/python bench/traceability.py [--quick] [--events N] [--workers W]
    .venv/bin/python bench/traceability.py --index-level [--events 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from baas.apps.traceability.app import create_app  # noqa: E402
from baas.apps.traceability.server import AppServer  # noqa: E402
from baas.apps.traceability.service import TraceabilityService, TraceabilitySettings  # noqa: E402
from ledger.crypto import ED25519, address_from_public_key, generate_keypair  # noqa: E402
from jadechain.devnet.solo import create_dev_solo  # noqa: E402

PREFIX = "9521234"
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
ITEMS_PER_CASE = 20
EVENTS_PER_CASE = ITEMS_PER_CASE + 4
BRAND_EVENTS = ITEMS_PER_CASE + 2  # commissioning, packing, and the sales (the brand's own shops)


def sgtin(n: int) -> str:
    return f"urn:epc:id:sgtin:{PREFIX}.012345.{n}"


def sscc(n: int) -> str:
    return f"urn:epc:id:sscc:{PREFIX}.{n:010d}"


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}+00:00"


def case_events(case: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the brand's events, the partner's events) of one case of 20 items."""
    base = 1_770_000_000 + case * 60
    items = [sgtin(case * ITEMS_PER_CASE + i) for i in range(ITEMS_PER_CASE)]
    common = {"eventTimeZoneOffset": "+00:00"}
    factory = {"id": f"urn:epc:id:sgln:{PREFIX}.00002.0"}
    brand = [
        {"type": "ObjectEvent", **common, "eventTime": iso(base), "epcList": items, "action": "ADD",
         "bizStep": "commissioning", "disposition": "active", "readPoint": factory},
        {"type": "AggregationEvent", **common, "eventTime": iso(base + 1), "parentID": sscc(case),
         "childEPCs": items, "action": "ADD", "bizStep": "packing", "readPoint": factory},
    ]
    partner = [
        {"type": "ObjectEvent", **common, "eventTime": iso(base + 3600), "epcList": [sscc(case)], "action": "OBSERVE",
         "bizStep": "shipping", "disposition": "in_transit", "readPoint": {"id": "urn:epc:id:sgln:9529999.00010.0"}},
        {"type": "ObjectEvent", **common, "eventTime": iso(base + 86400), "epcList": [sscc(case)],
         "action": "OBSERVE", "bizStep": "receiving", "disposition": "in_progress",
         "readPoint": {"id": "urn:epc:id:sgln:9528888.00002.0"}},
    ]
    store = {"id": f"urn:epc:id:sgln:{PREFIX}.00100.0"}
    brand += [{"type": "ObjectEvent", **common, "eventTime": iso(base + 2 * 86400 + i), "epcList": [item],
               "action": "DELETE", "bizStep": "retail_selling", "disposition": "retail_sold", "readPoint": store}
              for i, item in enumerate(items)]
    return brand, partner


def document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-01-01T00:00:00Z", "epcisBody": {"eventList": events}}


def _serve_node(data_dir: str, ledger_hash: str, key_file: str, password: str, port: int) -> None:
    import asyncio

    from node.solo import serve_solo

    asyncio.run(serve_solo(data_dir, ledger_hash, key_file, password, "127.0.0.1", port, idle_block_ms=20))


def start_node(dev: Any) -> tuple[Any, str]:
    """The solo node in a child process; returns (process, gateway URL) once it answers."""
    import multiprocessing
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_node, args=(dev.data_dir, dev.ledger_hash, dev.key_file, dev.password, port), daemon=True)
    process.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError("the solo node did not start")


def process_cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU seconds a process (or one of its threads) has used so far (Linux /proc; 0
    where it cannot be read)."""
    try:
        stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def stop_node(process: Any) -> None:
    process.terminate()  # SIGTERM: the node seals its last block and closes the ledger
    process.join(30)


def measure_queries(settings: Any, service: Any, stored: int, queries: int, failures: list[str]) -> dict[str, Any]:
    """History and ``MATCH_epc`` latency over HTTP (sequential, keep-alive) for random loaded items."""
    with AppServer(create_app(settings, service)) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        rng = random.Random(7)
        loaded_cases = max(1, stored // EVENTS_PER_CASE)
        items = [sgtin(rng.randrange(loaded_cases * ITEMS_PER_CASE)) for _ in range(queries)]
        for item in items[:50]:  # warm-up
            http.get(f"/traceability/items/{quote(item, safe='')}/history")
        history_ms = []
        sizes = []
        server_thread = server._thread.native_id if server._thread is not None else None
        server_started = process_cpu_seconds(os.getpid(), server_thread)
        cpu_started = time.process_time()
        for item in items:
            t0 = time.perf_counter()
            response = http.get(f"/traceability/items/{quote(item, safe='')}/history")
            history_ms.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                failures.append(f"history {response.status_code}")
            else:
                sizes.append(len(response.json()["events"]))
        history_cpu_ms = (time.process_time() - cpu_started) * 1000 / max(1, len(items))
        server_cpu_ms = (process_cpu_seconds(os.getpid(), server_thread) - server_started) * 1000 / max(1, len(items))
        events_ms = []
        for item in items[: queries // 2]:
            t0 = time.perf_counter()
            http.get("/traceability/events", params={"MATCH_epc": item})
            events_ms.append((time.perf_counter() - t0) * 1000)
        fresh = [sgtin(rng.randrange(loaded_cases * ITEMS_PER_CASE)) for _ in range(queries)]  # caches cold
        app_cpu_ms = app_cpu_per_request(server.app, [f"/traceability/items/{item}/history" for item in fresh],
                                         failures)
    return {
        "history_query": {
            "queries": len(history_ms), "p50_ms": round(percentile(history_ms, 0.5), 2),
            "p99_ms": round(percentile(history_ms, 0.99), 2), "mean_ms": round(statistics.fmean(history_ms), 2),
            "process_cpu_ms_per_query": round(history_cpu_ms, 2),  # client and in-process server together
            "server_cpu_ms_per_query": round(server_cpu_ms, 2),  # the server's thread alone (HTTP + query)
            "app_cpu_ms_per_query": round(app_cpu_ms, 3),  # the ASGI app alone, called in-process (no HTTP)
            "events_per_history_mean": round(statistics.fmean(sizes), 2) if sizes else 0,
            "target_p99_ms": 20,
        },
        "load_average_after_queries": os.getloadavg(),
        "events_query": {"queries": len(events_ms), "p50_ms": round(percentile(events_ms, 0.5), 2),
                         "p99_ms": round(percentile(events_ms, 0.99), 2)},
    }


def app_cpu_per_request(app: Any, paths: list[str], failures: list[str]) -> float:
    """CPU ms the ASGI app itself spends per ``GET path`` (called in-process: no HTTP server, no client)."""
    import asyncio

    async def get(path: str) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                 "path": path, "raw_path": quote(path).encode(), "query_string": b"", "root_path": "",
                 "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        if sent[0].get("status") != 200:
            failures.append(f"in-process history {sent[0].get('status')}")

    async def run() -> float:
        started = time.process_time()
        for path in paths:
            await get(path)
        return (time.process_time() - started) * 1000 / max(1, len(paths))

    return asyncio.run(run())


def index_level(args: Any) -> None:
    """Write ``args.events`` events straight into the index (no chain) and measure the queries."""
    from baas.apps.traceability.service import prepare_event

    target = args.events or 1_000_000
    cases = max(1, target // EVENTS_PER_CASE)
    directory = Path(tempfile.mkdtemp(prefix="jadechain-trace-index-"))
    print(f"index-level: writing {cases * EVENTS_PER_CASE} events ({cases} cases) into {directory}", file=sys.stderr)
    settings = TraceabilitySettings(["http://127.0.0.1:9"], "index-level", generate_keypair(ED25519),
                                    str(directory / "index.sqlite3"), follow=False)
    service = TraceabilityService(settings)  # never started: nothing here talks to a chain
    service.store.set_meta("contract", "index-level")
    for address, name in (("brand", "Bench Brand"), ("partner", "Bench Partner")):
        service.store.set_organisation(address, name)
    results: dict[str, Any] = {"benchmark": "traceability", "mode": "index-level (no chain: events written "
                               "straight into the app's index; capture through the chain is the --quick run)",
                               "python": platform.python_version(), "cpus": os.cpu_count(), "events_target": target,
                               "load_average_at_start": os.getloadavg()}
    failures: list[str] = []
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        for case in range(cases):
            own, theirs = case_events(case)
            for who, events in (("brand", own), ("partner", theirs)):
                service.store.add_events([prepare_event(e, CONTEXT).indexed for e in events], who,
                                         f"index-level-{case}-{who}", case + 1)
            if case and case % 5000 == 0:
                print(f"  {case * EVENTS_PER_CASE} events written", file=sys.stderr)
        stored = service.store.count_events()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        index_bytes = sum(p.stat().st_size for p in directory.glob("index.sqlite3*"))
        results["index_load"] = {"events": stored, "seconds": round(seconds, 1),
                                 "cpu_us_per_event": round(cpu * 1e6 / max(1, stored), 1),
                                 "index_bytes": index_bytes, "index_bytes_per_event": round(index_bytes / max(1, stored))}
        print(json.dumps(results["index_load"]), file=sys.stderr)
        results.update(measure_queries(settings, service, stored, args.queries, failures))
        results["failures"] = failures[:5]
    finally:
        service.store.close()
        service.client.close()
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    write_report(results, args.output or "traceability_index.json", {
        "mode": "index-level", "events": results["index_load"]["events"],
        "index_bytes_per_event": results["index_load"]["index_bytes_per_event"],
        "history_p50_ms": results["history_query"]["p50_ms"], "history_p99_ms": results["history_query"]["p99_ms"],
        "history_process_cpu_ms_per_query": results["history_query"]["process_cpu_ms_per_query"],
        "history_server_cpu_ms_per_query": results["history_query"]["server_cpu_ms_per_query"],
        "history_app_cpu_ms_per_query": results["history_query"]["app_cpu_ms_per_query"],
        "events_query_p99_ms": results["events_query"]["p99_ms"], "failed_queries": len(failures),
    })


def write_report(results: dict[str, Any], output: str, headline: dict[str, Any]) -> None:
    """The full report as JSON (a bare file name goes to bench/results/), printed, then the headline line."""
    out = Path(output) if os.sep in output else Path(__file__).resolve().parent / "results" / output
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(json.dumps(headline))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2·10^4 events (default: 10^6)")
    parser.add_argument("--events", type=int, help="events to load (overrides --quick)")
    # 2 cases per document (~24 events): the WebAssembly contract engine refuses a capture invocation
    # of 20 cases (~240 events per document) with CONTRACT_LIMIT_EXCEEDED (its per-call data limit).
    parser.add_argument("--cases-per-document", type=int, default=2, help="cases per capture document")
    parser.add_argument("--workers", type=int, default=2, help="concurrent capture clients")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--max-capture-seconds", type=float, default=float("inf"),
                        help="stop loading after this long and measure queries on what was loaded")
    parser.add_argument("--output", help="the JSON report's path (default: bench/results/traceability[_index].json)")
    parser.add_argument("--index-level", action="store_true",
                        help="no chain: write --events (default 10^6) straight into the index and measure queries")
    args = parser.parse_args()
    if args.index_level:
        index_level(args)
        return
    target = args.events or (20_000 if args.quick else 1_000_000)
    cases = max(1, target // EVENTS_PER_CASE)
    directory = Path(tempfile.mkdtemp(prefix="jadechain-trace-bench-"))
    print(f"loading {cases * EVENTS_PER_CASE} events ({cases} cases) into {directory}", file=sys.stderr)
    dev = create_dev_solo(str(directory / "chain"))
    node, node_url = start_node(dev)
    brand, partner = generate_keypair(ED25519), generate_keypair(ED25519)
    settings = TraceabilitySettings([node_url], dev.ledger_hash, dev.key, str(directory / "index.sqlite3"),
                                    organisations={"brand": brand, "partner": partner}, follow=False)
    service = TraceabilityService(settings).start()
    results: dict[str, Any] = {"benchmark": "traceability", "python": platform.python_version(),
                               "cpus": os.cpu_count(), "events_target": target,
                               "load_average_at_start": os.getloadavg()}
    try:
        service.register_organisation(brand.public, "brand")
        service.register_organisation(partner.public, "partner")
        service.register_brand(PREFIX, address_from_public_key(brand.public), "Bench Brand")
        service.set_partner(brand, PREFIX, address_from_public_key(partner.public), True)

        # --- capture -------------------------------------------------------------------------------
        step = args.cases_per_document
        # documents are built lazily by the workers (10^6 events would not fit in memory at once)
        jobs = [(first, who) for first in range(0, cases, step) for who in ("brand", "partner")]

        def build(first: int, who: str) -> tuple[dict[str, Any], Any, int]:
            events: list[dict[str, Any]] = []
            for case in range(first, min(cases, first + step)):
                own, theirs = case_events(case)
                events += own if who == "brand" else theirs
            return document(events), brand if who == "brand" else partner, len(events)

        lock = threading.Lock()
        latencies: list[float] = []
        failures: list[str] = []
        captured = [0]

        def worker() -> None:
            while True:
                with lock:
                    if not jobs or time.perf_counter() - begun > args.max_capture_seconds:
                        return
                    first, who = jobs.pop(0)
                doc, key, count = build(first, who)
                started = time.perf_counter()
                try:
                    service.capture(doc, key)
                except Exception as error:  # reported, never fatal for the whole run
                    with lock:
                        failures.append(repr(error)[:200])
                    continue
                with lock:
                    latencies.append(time.perf_counter() - started)
                    captured[0] += count
                    if len(latencies) % 200 == 0:
                        print(f"  {captured[0]} events captured", file=sys.stderr)

        app_cpu, node_cpu = time.process_time(), process_cpu_seconds(node.pid)
        begun = started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(args.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        capture_seconds = time.perf_counter() - started
        app_cpu, node_cpu = time.process_time() - app_cpu, process_cpu_seconds(node.pid) - node_cpu
        stored = service.store.count_events()
        results["capture"] = {
            "events": captured[0], "documents": len(latencies), "failed_documents": len(failures),
            "failures": failures[:5], "seconds": round(capture_seconds, 2),
            "events_per_second": round(captured[0] / capture_seconds, 1),
            # CPU stays meaningful on a shared machine where wall-clock rates do not
            "cpu_ms_per_event": {"app": round(app_cpu * 1000 / max(1, captured[0]), 3),
                                 "node": round(node_cpu * 1000 / max(1, captured[0]), 3)},
            "document_latency_p50_s": round(percentile(latencies, 0.5), 3) if latencies else None,
            "document_latency_p99_s": round(percentile(latencies, 0.99), 3) if latencies else None,
            "events_per_document": round(captured[0] / max(1, len(latencies)), 1),
            "indexed_events": stored,
        }
        print(json.dumps(results["capture"]), file=sys.stderr)

        results.update(measure_queries(settings, service, stored, args.queries, failures))
        results["disk_bytes"] = {
            "chain": sum(p.stat().st_size for p in Path(dev.data_dir).rglob("*") if p.is_file()),
            "index": sum(p.stat().st_size for p in directory.glob("index.sqlite3*")),
        }
        results["disk_bytes_per_event"] = {k: round(v / max(1, stored)) for k, v in results["disk_bytes"].items()}
    finally:
        service.stop()
        stop_node(node)
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    write_report(results, args.output or "traceability.json", {
        "events": results["capture"]["events"], "capture_events_per_s": results["capture"]["events_per_second"],
        "capture_cpu_ms_per_event": results["capture"]["cpu_ms_per_event"],
        "history_p50_ms": results["history_query"]["p50_ms"], "history_p99_ms": results["history_query"]["p99_ms"],
        "events_query_p99_ms": results["events_query"]["p99_ms"], "failed_documents": len(failures),
    })


if __name__ == "__main__":
    main()
