"""A LevelDB store whose disk filled up must reopen once the disk has room again.

A write that runs out of space can leave part of its record in LevelDB's write-ahead log. If the
process then writes again (the disk has room again, or another writer freed some), LevelDB
appends the next record after the torn one, and on the next open its paranoid checks find a
checksum mismatch in the middle of the log: the node refuses its own ledger (``LEDGER_CORRUPTED``)
and must be rebuilt from its peers. CI's chaos seed 12 found it (disk full on a tmpfs, then the
fail-stopping node's last writes after the filler was removed). So a store refuses every write
after one failed: the torn record stays the log's tail, which LevelDB drops on recovery as a
write that never finished.

The disk fills up in a child process through RLIMIT_FSIZE (a write past the limit is cut short
and fails with EFBIG, exactly as a write that finds the disk full is cut short with ENOSPC), so
the test needs neither root nor a mount; the chaos suite does the same with a real full tmpfs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = r"""
import glob, json, os, resource, signal, sys
from ledger.errors import StorageError
from ledger.store.leveldb import LevelDBStore

path, mode = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing us
store = LevelDBStore(path, sync=True)
acknowledged = {}
for index in range(4):
    key, value = b"before-%d" % index, bytes([index]) * 3000
    store.write_items([(key, value)])
    acknowledged[key] = value
log = max(glob.glob(os.path.join(path, "*.log")), key=os.path.getmtime)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(log) + 1500, hard))  # the disk fills mid-record
outcome = {}
try:
    if mode == "batch":
        store.write_items([(b"torn", b"t" * 3000)])
    else:
        store.put(b"torn", b"t" * 3000)
    outcome["torn"] = "written"
except StorageError as exc:
    outcome["torn"] = exc.code
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # the disk has room again
try:
    store.write_items([(b"after", b"a" * 3000)])
    outcome["after"] = "written"
    acknowledged[b"after"] = b"a" * 3000
except StorageError as exc:
    outcome["after"] = exc.code
    outcome["after_message"] = exc.message
store.close()
try:
    reopened = LevelDBStore(path, sync=True, create=False)
    outcome["reopen"] = "ok"
    outcome["missing"] = [k.decode() for k, v in acknowledged.items() if reopened.get(k) != v]
    reopened.write_items([(b"later", b"l")])
    outcome["writable"] = reopened.get(b"later") == b"l"
    reopened.close()
except StorageError as exc:
    outcome["reopen"] = exc.code
print(json.dumps(outcome))
"""


@pytest.mark.parametrize("mode", ["batch", "put"])
def test_a_store_reopens_after_a_write_failed_for_lack_of_space(tmp_path: Path, mode: str) -> None:
    root = str(Path(__file__).resolve().parents[3])
    env = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "db"), mode],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["torn"] == "STORAGE_ERROR"
    # The write after the failure is refused, not appended behind the torn record ...
    assert outcome["after"] == "STORAGE_ERROR", outcome
    assert "an earlier write" in outcome["after_message"]
    # ... so the database opens again, with every acknowledged write, and takes new ones.
    assert outcome["reopen"] == "ok", outcome
    assert outcome["missing"] == []
    assert outcome["writable"] is True
