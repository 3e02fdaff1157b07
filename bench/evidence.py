"""Evidence app benchmark: preservations per second (single and batched), verification latency.

A one-validator dev ledger (Ed25519, SHA-256) runs a solo node (committer + gateway) and the
evidence app, each on 127.0.0.1 in this process (own threads and event loops) — the same path a
real client takes: HTTP to the app, which timestamps (RFC 3161, network TSA), submits to the gateway
and waits for the commit. Measured:

* single preservations/s: digests-only records, each signed by its party, from a few client threads
  (each request waits for its block to commit);
* batched: files/s and batches/s with batches of many files under one Merkle root (one transaction);
* streamed upload: MB/s for a large file through POST /evidence (SM3 + SHA-256 computed on the fly);
* verification latency p50/p99: POST /evidence/verify by digest, with and without the proof bundle;
* offline verification of an evidence bundle (verify_evidence_zip) per bundle.

Writes bench/results/evidence.json; the very last line printed is one JSON object of headline figures.
Never passes or fails on wall time.

    .venv/bin/python bench/evidence.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from baas.apps.evidence import records, verify_evidence_zip  # noqa: E402
from baas.apps.evidence.server import EvidenceServer  # noqa: E402
from baas.apps.evidence.service import EvidenceSettings, static_authorizer  # noqa: E402
from ledger.crypto import ED25519, generate_keypair  # noqa: E402
from jadechain.devnet.solo import SoloNode, create_dev_solo  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def stats_ms(values: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 0.5) * 1000, 2), "p99": round(percentile(values, 0.99) * 1000, 2),
            "mean": round(statistics.fmean(values) * 1000, 2), "n": len(values)}


def signed_body(party: dict[str, str], key, digests: dict[str, str], title: str, index: int) -> dict:
    metadata = records.normalize_metadata(title, "invoice")
    core = records.build_file_core(digests=digests, metadata=metadata, parties=[party], size=None)
    return {"title": title, "type": "invoice", "parties": [party], "digests": digests,
            "created_at": core["created_at"], "nonce": core["nonce"],
            "signatures": [records.sign_record(records.record_hash(core), key)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "evidence.json"))
    args = parser.parse_args()
    single_count = 60 if args.quick else 600
    threads = 4 if args.quick else 16
    batches = 3 if args.quick else 10
    batch_size = 100 if args.quick else 1000
    upload_mb = 8 if args.quick else 64
    verify_count = 50 if args.quick else 500

    root = Path(tempfile.mkdtemp(prefix="bench-evidence-"))
    dev = create_dev_solo(str(root / "net"))
    node = SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], idle_block_ms=20).start()
    write_token = "jdapp_bench-" + os.urandom(16).hex()  # writes need the app's credential
    settings = EvidenceSettings(gateways=[node.url], ledger_hash=dev.ledger_hash, key=dev.key,
                                data_dir=str(root / "app"), authorize=static_authorizer({write_token: "bench"}),
                                max_records_per_organization=10**9, max_kept_bytes_per_organization=1 << 40)
    app = EvidenceServer(settings).start()
    base = app.url + "/evidence"
    party_key = generate_keypair(ED25519)
    party = {"name": "Bench Party", "public_key": party_key.public.base58}
    local = threading.local()

    def http() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=120, headers={"Authorization": f"Bearer {write_token}"})
        return local.client

    try:
        # Warm up (account registration, connections).
        http().post(base, json=signed_body(party, party_key, records.digest_bytes(b"warm-up"), "warm-up", 0)).raise_for_status()

        # --- single preservations ------------------------------------------------------------
        bodies = [signed_body(party, party_key, records.digest_bytes(f"invoice {i}".encode()), f"Invoice {i}", i)
                  for i in range(single_count)]
        latencies: list[float] = []

        def preserve(body: dict) -> None:
            started = time.perf_counter()
            response = http().post(base, json=body)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(preserve, bodies))
        single_seconds = time.perf_counter() - started
        ids = [records.record_hash(records.build_file_core(
            digests=b["digests"], metadata=records.normalize_metadata(b["title"], "invoice"), parties=[party],
            created_at=b["created_at"], nonce=b["nonce"])).hex() for b in bodies[:5]]

        sequential: list[float] = []
        for i in range(min(20, single_count)):
            body = signed_body(party, party_key, records.digest_bytes(f"sequential {i}".encode()), f"Seq {i}", i)
            t0 = time.perf_counter()
            http().post(base, json=body).raise_for_status()
            sequential.append(time.perf_counter() - t0)

        # --- batches ---------------------------------------------------------------------------
        batch_times: list[float] = []
        started = time.perf_counter()
        for b in range(batches):
            items = [{"name": f"doc-{b}-{i}.pdf", "size": 1000 + i, **records.digest_bytes(f"doc {b} {i}".encode())}
                     for i in range(batch_size)]
            body = {"title": f"Batch {b}", "type": "logistics", "parties": [party], "items": items}
            t0 = time.perf_counter()
            response = http().post(base + "/batch", json=body)
            response.raise_for_status()
            batch_times.append(time.perf_counter() - t0)
        batch_seconds = time.perf_counter() - started
        last_batch = response.json()["id"]

        # --- streamed upload ---------------------------------------------------------------------
        big = root / "big.bin"
        chunk = os.urandom(1 << 20)
        with open(big, "wb") as handle:
            for _ in range(upload_mb):
                handle.write(chunk)
        t0 = time.perf_counter()
        with open(big, "rb") as handle:
            response = http().post(base, data={"title": "Large file", "type": "other",
                                               "parties": json.dumps([party])}, files={"file": ("big.bin", handle)})
        response.raise_for_status()
        upload_seconds = time.perf_counter() - t0
        big.unlink()

        # --- verification latency -----------------------------------------------------------------------
        verify_plain: list[float] = []
        verify_proof: list[float] = []
        for i in range(verify_count):
            digest = bodies[i % len(bodies)]["digests"]["sha256"]
            t0 = time.perf_counter()
            response = http().post(base + "/verify", json={"sha256": digest}, params={"proof": "false"})
            verify_plain.append(time.perf_counter() - t0)
            assert response.json()["on_chain"]
        for i in range(verify_count):
            digest = bodies[i % len(bodies)]["digests"]["sha256"]
            t0 = time.perf_counter()
            response = http().post(base + "/verify", json={"sha256": digest})
            verify_proof.append(time.perf_counter() - t0)
            assert response.json()["on_chain"]

        # --- bundles and offline verification ---------------------------------------------------------------
        bundle_build: list[float] = []
        offline: list[float] = []
        for record_id in ids + [last_batch]:
            t0 = time.perf_counter()
            response = http().get(f"{base}/{record_id}/bundle", params={"member": 7} if record_id == last_batch else None)
            response.raise_for_status()
            bundle_build.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            report = verify_evidence_zip(response.content)
            offline.append(time.perf_counter() - t0)
            assert report.valid, report.failures
        t0 = time.perf_counter()
        pdf = http().get(f"{base}/{ids[0]}/certificate.pdf")
        pdf_seconds = time.perf_counter() - t0
        pdf.raise_for_status()
    finally:
        app.stop()
        node.stop()

    results = {
        "benchmark": "evidence",
        "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "setup": "solo node (1 validator, Ed25519/SHA-256, idle_block_ms=20) + evidence app, HTTP on loopback",
        "single": {"records": single_count, "client_threads": threads, "seconds": round(single_seconds, 3),
                   "preservations_per_s": round(single_count / single_seconds, 1),
                   "latency_ms": stats_ms(latencies), "sequential_latency_ms": stats_ms(sequential)},
        "batched": {"batches": batches, "files_per_batch": batch_size, "seconds": round(batch_seconds, 3),
                    "files_per_s": round(batches * batch_size / batch_seconds, 1),
                    "batches_per_s": round(batches / batch_seconds, 2), "batch_latency_ms": stats_ms(batch_times)},
        "streamed_upload": {"megabytes": upload_mb, "seconds": round(upload_seconds, 3),
                            "mb_per_s": round(upload_mb / upload_seconds, 1)},
        "verify_ms": {"without_proof": stats_ms(verify_plain), "with_proof": stats_ms(verify_proof)},
        "bundle_build_ms": stats_ms(bundle_build),
        "offline_verify_zip_ms": stats_ms(offline),
        "certificate_pdf_ms": round(pdf_seconds * 1000, 2),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    headline = {
        "benchmark": "evidence",
        "single_preservations_per_s": results["single"]["preservations_per_s"],
        "batched_files_per_s": results["batched"]["files_per_s"],
        "batch_size": batch_size,
        "verify_p50_ms": results["verify_ms"]["without_proof"]["p50"],
        "verify_p99_ms": results["verify_ms"]["without_proof"]["p99"],
        "verify_with_proof_p50_ms": results["verify_ms"]["with_proof"]["p50"],
        "verify_with_proof_p99_ms": results["verify_ms"]["with_proof"]["p99"],
        "offline_verify_zip_p50_ms": results["offline_verify_zip_ms"]["p50"],
        "upload_mb_per_s": results["streamed_upload"]["mb_per_s"],
    }
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
