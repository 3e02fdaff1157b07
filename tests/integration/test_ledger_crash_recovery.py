"""A ledger killed at random points always reopens at a whole block and resumes to the same chain.

A worker process (``ledger_crash_worker.py``) applies a seeded chain of KV-write blocks to a
LevelDB ledger with ``sync=True``; this test SIGKILLs it after random (seeded) delays, many
times. After each kill it reopens the database and checks that the ledger is exactly at some
height ``h``: header ``h`` present and equal to a clean replay's, the stored roots of ``h`` equal
the current roots, the accumulator and state tree recompute those roots from their stored nodes,
every transaction of blocks ``<= h`` is readable and nothing of block ``h + 1`` exists. The next
worker resumes from ``h + 1``. At the end every header hash, every root and every transaction
equals the clean replay into a MemoryStore ledger.

Seed: ``JADECHAIN_CRASH_SEED`` (default fixed); it is printed when a check fails.
"""

from __future__ import annotations

import importlib.util
import os
import random
import select
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ledger import codec
from ledger.errors import NotFound
from ledger.ledger import Ledger
from ledger.store import schema
from ledger.store.leveldb import LevelDBStore
from ledger.store.memory import MemoryStore
from node.subprocesses import child_environment, python_module_command

WORKER = Path(__file__).with_name("ledger_crash_worker.py")
REPO = Path(__file__).resolve().parents[2]
KILLS = 25
SEED = int(os.environ.get("JADECHAIN_CRASH_SEED", "20261121"))
READY_TIMEOUT_S = 60.0
FINAL_EXTRA_BLOCKS = 3


def _load_worker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ledger_crash_worker", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _load_worker()


@dataclass
class Reference:
    """A clean replay of the same chain into memory, extended on demand."""

    plan: Any
    ledger: Ledger
    header_hashes: list[bytes] = field(default_factory=list)
    roots: list[object] = field(default_factory=list)
    block_tx_hashes: list[list[bytes]] = field(default_factory=list)
    encoded_txs: dict[bytes, bytes] = field(default_factory=dict)

    @classmethod
    def start(cls, plan: Any) -> "Reference":
        ledger = Ledger.create(MemoryStore(), plan.genesis())
        reference = cls(plan, ledger)
        reference._record(0)
        return reference

    def _record(self, height: int) -> None:
        header = self.ledger.get_header(height)
        self.header_hashes.append(self.ledger.hash_header(header))
        self.roots.append(self.ledger.roots_at(height))
        hashes = self.ledger.get_block_tx_hashes(height)
        self.block_tx_hashes.append(hashes)
        for tx_hash in hashes:
            self.encoded_txs[tx_hash] = codec.encode(self.ledger.get_transaction(tx_hash).transaction)

    def extend_to(self, height: int) -> None:
        while self.ledger.height < height:
            result = self.ledger.apply_block(self.plan.make_next_block(self.ledger))
            assert all(info.status in ("SUCCESS", "VERSION_CONFLICT") for info in result.tx_infos)
            self._record(result.header.height)


@dataclass
class WorkerRun:
    process: subprocess.Popen[bytes]

    @classmethod
    def spawn(cls, db_path: Path, target: int) -> "WorkerRun":
        process = subprocess.Popen(
            python_module_command("tests.integration.ledger_crash_worker", str(db_path), str(SEED), str(target)),
            cwd=REPO, env=child_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return cls(process)

    def wait_ready(self) -> int:
        """Block until the worker printed ``open H`` (the ledger is open); return ``H``."""
        stdout = self.process.stdout
        assert stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            ready, _, _ = select.select([stdout], [], [], 0.5)
            if ready:
                line = stdout.readline()
                if line.startswith(b"open "):
                    return int(line.split()[1])
                if not line:
                    break
            elif self.process.poll() is not None:
                break
        self.kill()
        raise AssertionError(f"worker never opened the ledger: {self.finish()[1]!r}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)

    def finish(self) -> tuple[int, bytes]:
        _, stderr = self.process.communicate(timeout=120)
        return self.process.returncode, stderr


def _check_consistent(db_path: Path, reference: Reference, checked_upto: int) -> int | None:
    """Reopen the killed ledger, check it is exactly at a whole block; return its height.

    ``None`` when the worker died before the genesis batch was written (the store is empty then,
    never half a genesis).

    Blocks above ``checked_upto`` get every transaction decoded and compared; older blocks are
    checked for presence only (they were compared in full after an earlier kill).
    """
    store = LevelDBStore(str(db_path), sync=True, create=False)
    try:
        try:
            ledger = Ledger(store)
        except NotFound:
            assert next(iter(store.iterate(b"")), None) is None, "a partial genesis was left behind"
            return None
        height = ledger.height
        reference.extend_to(height + 1)
        expected_roots = reference.roots[height]

        assert ledger.hash_header(ledger.get_header(height)) == reference.header_hashes[height]
        assert ledger.hash_header(ledger.last_header) == reference.header_hashes[height]
        assert ledger.roots_at(height) == ledger.roots == expected_roots
        executed = sum(len(hashes) for hashes in reference.block_tx_hashes[: height + 1])
        assert ledger.roots.accumulator_size == executed
        accumulator = ledger.accumulator()
        assert accumulator.size == executed
        assert accumulator.root_hash() == expected_roots.accumulator_root
        assert ledger.state_tree().root_hash(height) == expected_roots.state_root

        for block_height in range(height + 1):
            hashes = reference.block_tx_hashes[block_height]
            assert ledger.get_block_tx_hashes(block_height) == hashes
            if block_height > checked_upto or block_height == height:
                first_index = sum(len(h) for h in reference.block_tx_hashes[:block_height])
                for offset, tx_hash in enumerate(hashes):
                    stored = ledger.get_transaction(tx_hash)
                    assert codec.encode(stored.transaction) == reference.encoded_txs[tx_hash]
                    assert stored.accumulator_index == first_index + offset
                    assert ledger.get_tx_hash_at(first_index + offset) == tx_hash
            else:
                assert all(store.exists(schema.make_tx_key(tx_hash)) for tx_hash in hashes)

        # Nothing of the next block: header, roots, transactions, accumulator slots.
        with pytest.raises(NotFound):
            ledger.get_header(height + 1)
        with pytest.raises(NotFound):
            ledger.roots_at(height + 1)
        with pytest.raises(NotFound):
            ledger.get_tx_hash_at(executed)
        for tx_hash in reference.block_tx_hashes[height + 1]:
            with pytest.raises(NotFound):
                ledger.get_transaction(tx_hash)
        return height
    finally:
        store.close()


def _check_equals_replay(db_path: Path, reference: Reference) -> int:
    store = LevelDBStore(str(db_path), sync=True, create=False)
    try:
        ledger = Ledger(store)
        height = ledger.height
        assert reference.ledger.height == height
        assert ledger.ledger_hash == reference.ledger.ledger_hash
        assert ledger.roots == reference.ledger.roots
        for block_height in range(height + 1):
            assert ledger.hash_header(ledger.get_header(block_height)) == reference.header_hashes[block_height]
            assert ledger.roots_at(block_height) == reference.roots[block_height]
            assert ledger.state_tree().root_hash(block_height) == reference.roots[block_height].state_root
        accumulator = ledger.accumulator()
        assert accumulator.root_hash() == reference.ledger.accumulator().root_hash()
        for index in range(accumulator.size):
            tx_hash = ledger.get_tx_hash_at(index)
            assert ledger.get_transaction(tx_hash) == reference.ledger.get_transaction(tx_hash)
        plan = reference.plan
        for account in plan.data_accounts:
            for slot in plan.hot_key_slots():
                key = f"hot/{slot}"
                try:
                    expected = reference.ledger.get_entry(account, key)
                except NotFound:
                    continue
                assert ledger.get_entry(account, key) == expected
        return height
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkilled_ledger_reopens_consistent_and_resumes_to_the_same_chain(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    db_path = tmp_path / "ledger"
    plan = worker.ChainPlan(SEED)
    reference = Reference.start(plan)
    heights: list[int] = []
    checked_upto = -1
    started = time.monotonic()
    try:
        for kill in range(KILLS):
            run = WorkerRun.spawn(db_path, target=10**9)
            if kill % 5 == 0:
                # Some kills land early: during start-up, genesis creation or the first block.
                time.sleep(rng.uniform(0.0, 0.6))
            else:
                opened_at = run.wait_ready()
                # The new worker resumes exactly where the last check found the ledger.
                assert opened_at == max(heights[-1:] + [0]), f"worker opened at {opened_at}"
                time.sleep(rng.uniform(0.0, 0.8))
            run.kill()
            returncode, stderr = run.finish()
            assert returncode == -signal.SIGKILL, f"worker ended on its own ({returncode}): {stderr!r}"
            if not db_path.exists() or not (db_path / "CURRENT").exists():
                heights.append(-1)  # killed before LevelDB created the database
                continue
            height = _check_consistent(db_path, reference, checked_upto)
            if height is None:
                heights.append(-1)
                continue
            assert height >= max(heights, default=-1), "a committed block was lost"
            heights.append(height)
            checked_upto = max(checked_upto, height)

        # A last run that is not killed, then the whole chain must equal the clean replay.
        final_target = max(max(heights), 0) + FINAL_EXTRA_BLOCKS
        run = WorkerRun.spawn(db_path, target=final_target)
        returncode, stderr = run.finish()
        assert returncode == 0, stderr.decode(errors="replace")
        reference.extend_to(final_target)
        assert _check_equals_replay(db_path, reference) == final_target
    except (AssertionError, pytest.fail.Exception) as error:
        raise AssertionError(f"seed {SEED}, heights after each kill {heights}: {error}") from error

    advanced = sum(1 for before, after in zip([-1] + heights, heights) if after > before)
    elapsed = time.monotonic() - started
    print(f"\ncrash recovery: seed {SEED}, {KILLS} kills, heights {heights}, "
          f"{advanced} runs advanced, final height {final_target}, {elapsed:.1f}s")
    # The kills must really have interrupted a chain in progress, not only idle start-ups.
    assert advanced >= KILLS // 3
