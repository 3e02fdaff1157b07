"""docs/governance.md runs as written: its sh and python blocks, in order, in one shell, against a
real 4-node network that the document itself starts (and stops)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "governance.md"
FENCE = re.compile(r"^```(\S*)\s*$")
FRAGMENT = re.compile(r"^#\s*\(fragment: [^)]+\)")


def runnable_blocks(path: Path) -> list[tuple[str, str]]:
    blocks: list[tuple[str, str]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opened = FENCE.match(lines[index])
        index += 1
        if opened is None:
            continue
        body: list[str] = []
        while lines[index].rstrip() != "```":
            body.append(lines[index])
            index += 1
        index += 1
        text = "\n".join(body) + "\n"
        if not FRAGMENT.match(text):
            assert opened.group(1) in ("sh", "python"), f"a ```{opened.group(1)} block must be a fragment"
            blocks.append((opened.group(1), text))
    return blocks


def script_of(blocks: list[tuple[str, str]]) -> str:
    parts = ["set -e -o pipefail"]
    for language, text in blocks:
        parts.append(f".venv/bin/python - <<'GOVERNANCE_DOC'\n{text}GOVERNANCE_DOC" if language == "python" else text)
    parts.append("echo '>>> all blocks ran'")
    return "\n".join(parts) + "\n"


@pytest.mark.timeout(900)
def test_the_governance_walkthrough_runs_as_written(tmp_path: Path) -> None:
    blocks = runnable_blocks(DOCUMENT)
    assert len(blocks) >= 4
    home = tmp_path / "work"
    home.mkdir()
    (home / ".venv").symlink_to(sys.prefix)  # the environment running the tests
    (home / "doc.sh").write_text(script_of(blocks))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JADECHAIN_") and k != "VIRTUAL_ENV"}
    env.update({"HOME": str(home), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
    try:
        result = subprocess.run(["bash", "doc.sh"], cwd=home, env=env, capture_output=True, text=True, timeout=800,
                                stdin=subprocess.DEVNULL)
    finally:
        if (home / ".jadechain" / "gov" / "network.json").exists():
            subprocess.run([str(home / ".venv" / "bin" / "jadechain"), "net", "down", "--dir", ".jadechain/gov"],
                           cwd=home, env=env, capture_output=True, timeout=120)
    output = result.stdout + "\n--- stderr ---\n" + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Traceback" not in output and ">>> all blocks ran" in result.stdout, output[-6000:]
    # What the document promises a reader sees:
    assert "PROPOSAL_REQUIRED: transaction" in result.stderr
    assert "PROPOSAL_DECIDED" in result.stderr and result.stdout.count("refused, exit 1") == 2
    assert "AUDITOR" in result.stdout and "VALID entry proof" in result.stdout
    assert "SUCCESS OPEN" in result.stdout and "REJECTED" in result.stdout
    shutil.rmtree(home / ".jadechain", ignore_errors=True)
