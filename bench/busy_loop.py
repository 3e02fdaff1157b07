"""Run fault scenarios again and again on a machine kept busy by CPU burners; print the tally.

    .venv/bin/python bench/busy_loop.py --runs 10
    .venv/bin/python bench/busy_loop.py --runs 3 --burners 2 --test tests/scenario/test_network_faults.py::test_e_a_node_with_a_wiped_disk_syncs_and_rejoins_consensus

Each run is a fresh ``pytest`` process for each selected test (so every run starts its own
network), while ``--burners`` Python spinners (one busy loop each, default one per core) compete
for the CPU. A run passes when pytest exits 0 (for the chaos seed: passed, not xfailed). Figures
are printed and written as JSON (``--out``); nothing here is judged on wall time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_TESTS = [
    "tests/scenario/test_network_faults.py::test_e_a_node_with_a_wiped_disk_syncs_and_rejoins_consensus",
    "tests/chaos/test_chaos_seeds.py::test_chaos_seed_survives_with_a_valid_history[12]",
]


def _spin(stop_at: float) -> None:
    """A CPU burner: a pure-Python busy loop until ``stop_at`` (monotonic) or until killed."""
    counter = 0
    while time.monotonic() < stop_at:
        for _ in range(100_000):
            counter += 1


def run_once(test: str, timeout: float, basetemp: Path) -> dict[str, object]:
    started = time.monotonic()
    command = [sys.executable, "-m", "pytest", test, "-q", "-x", "-p", "no:cacheprovider", "-rxXs",
               f"--basetemp={basetemp}"]
    try:
        with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
            try:
                output, _ = process.communicate(timeout=timeout)
            except BaseException:
                process.send_signal(signal.SIGINT)  # pytest tears its fixtures down on SIGINT
                process.communicate(timeout=60)
                raise
            code = process.returncode
    except subprocess.TimeoutExpired as expired:
        code, output = -1, f"timed out after {timeout:.0f}s\n{expired.stdout or ''}"
    xfailed = " xfailed" in output or "XFAIL" in output
    leaked = "is still running" in output or "node processes left running" in output
    passed = code == 0 and not xfailed
    tail = "\n".join(output.strip().splitlines()[-25:])
    if passed:
        shutil.rmtree(basetemp, ignore_errors=True)  # a failed run keeps its node logs there
    return {"test": test, "passed": passed, "xfailed": xfailed, "leaked_processes": leaked, "exit_code": code,
            "seconds": round(time.monotonic() - started, 1), "tail": "" if passed else tail,
            "basetemp": "" if passed else str(basetemp)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2, help="busy-loop processes (0: none)")
    parser.add_argument("--test", action="append", help="pytest node id (repeatable); default: wiped disk + disk full")
    parser.add_argument("--timeout", type=float, default=900.0, help="per pytest run, seconds")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "busy_loop.json"))
    parser.add_argument("--workdir", default="/tmp/jadechain-busy-loop", help="pytest basetemp of each run (kept on failure)")
    args = parser.parse_args(argv)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # stop the burners and the running pytest (its fixtures stop their nodes)
    signal.signal(signal.SIGTERM, interrupted)
    tests = args.test or DEFAULT_TESTS
    budget = time.monotonic() + args.runs * len(tests) * args.timeout + 60
    context = multiprocessing.get_context("spawn")
    burners = [context.Process(target=_spin, args=(budget,), daemon=True) for _ in range(args.burners)]
    for burner in burners:
        burner.start()
    results: list[dict[str, object]] = []
    try:
        for run in range(1, args.runs + 1):
            for test in tests:
                basetemp = Path(args.workdir) / f"run{run}-{tests.index(test)}"
                shutil.rmtree(basetemp, ignore_errors=True)
                basetemp.parent.mkdir(parents=True, exist_ok=True)
                result = run_once(test, args.timeout, basetemp)
                result["run"] = run
                results.append(result)
                verdict = "PASS" if result["passed"] else ("XFAIL" if result["xfailed"] else "FAIL")
                print(f"run {run:2d} {verdict:5s} {result['seconds']:7.1f}s  {test}", flush=True)
                if not result["passed"]:
                    print(result["tail"], f"\n(node logs kept under {basetemp})", flush=True)
    finally:
        for burner in burners:
            burner.terminate()
        for burner in burners:
            burner.join(10)
    tally = {test: {"passed": sum(1 for r in results if r["test"] == test and r["passed"]),
                    "runs": sum(1 for r in results if r["test"] == test)} for test in tests}
    print("\ntally (burners: %d on %d cores):" % (args.burners, os.cpu_count() or 0))
    for test, counts in tally.items():
        print(f"  {counts['passed']}/{counts['runs']}  {test}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"burners": args.burners, "cores": os.cpu_count(), "tally": tally, "runs": results},
                              indent=1))
    return 0 if all(c["passed"] == c["runs"] for c in tally.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
