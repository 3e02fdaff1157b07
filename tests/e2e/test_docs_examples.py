"""Every code block a user would run in README.md and docs/ runs here, as written, against real networks.

Each document's runnable blocks (``sh`` and ``python``) are joined, in order, into one bash script
(a Python block becomes ``.venv/bin/python - <<EOF``), so variables set by one block serve the next
as they would in the reader's shell. The script runs with ``set -e -o pipefail`` in a fresh
directory that holds only what a checkout gives a user (the ``.venv``, the Makefile), so a
command that fails — or a name a snippet forgets to define — fails the test. A block that is
only an illustration must say so on its first line: ``# (fragment: why it is not run)``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FRAGMENT = re.compile(r"^#\s*\(fragment: [^)]+\)")
RUNNABLE = {"sh", "bash", "python"}
FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    language: str
    text: str

    @property
    def is_fragment(self) -> bool:
        return bool(FRAGMENT.match(self.text))

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def code_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opened = FENCE.match(lines[index])
        if opened is None:
            index += 1
            continue
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].rstrip() != "```":
            body.append(lines[index])
            index += 1
        if index >= len(lines):
            raise AssertionError(f"{path}:{start + 1}: unclosed code block")
        blocks.append(Block(path, start + 1, opened.group(1), "\n".join(body) + "\n"))
        index += 1
    return blocks


def runnable(path: Path) -> list[Block]:
    return [b for b in code_blocks(path) if not b.is_fragment]


def as_script(blocks: list[Block]) -> str:
    parts = ["set -e -o pipefail"]
    for number, block in enumerate(blocks):
        parts.append(f"echo '>>> block {number} ({block.where})'")
        if block.language == "python":
            marker = "JADECHAIN_DOC_PYTHON"
            assert marker not in block.text
            parts.append(f".venv/bin/python - <<'{marker}'\n{block.text}{marker}")
        else:
            parts.append(block.text)
    parts.append("echo '>>> all blocks ran'")
    return "\n".join(parts) + "\n"


RUN_HERE = (ROOT / "README.md", ROOT / "docs" / "cli.md")
"""The documents this file runs against real networks (the tests at its end)."""


def runners_of(document: Path) -> list[Path]:
    """The tests that run a document's examples themselves: they name it (e.g. docs/contracts.md)."""
    name = str(document.relative_to(ROOT))
    return [test for test in (ROOT / "tests").rglob("test_*.py")
            if test != Path(__file__).resolve() and name in test.read_text(encoding="utf-8", errors="replace")]


def test_every_block_is_runnable_or_says_it_is_a_fragment() -> None:
    seen = 0
    for path in DOCUMENTS:
        for block in code_blocks(path):
            seen += 1
            if block.is_fragment or block.language not in RUNNABLE:
                continue  # an illustration, or not a command (output, a config file, a formula)
            placeholders = re.findall(r"<[A-Z][A-Z _]*>", block.text)
            assert not placeholders, f"{block.where}: placeholder {placeholders} in a runnable block"
            assert path in RUN_HERE or runners_of(path), f"{block.where}: a runnable block in a document no test runs"
    assert seen >= 20
    assert len(runnable(ROOT / "README.md")) >= 3 and len(runnable(ROOT / "docs" / "cli.md")) >= 15


def test_the_fragment_marker_is_what_the_runner_skips() -> None:
    sample = Path(ROOT / "README.md")
    kinds = {(b.language, b.is_fragment) for b in code_blocks(sample)}
    assert ("sh", True) in kinds and ("sh", False) in kinds and ("python", False) in kinds
    script = as_script(runnable(sample))
    assert "make test" not in script and "make up" in script and "jadechain.verify(" in script


def workspace(tmp_path: Path) -> Path:
    """A directory laid out like a checkout for the docs: the project's .venv and Makefile.

    pyproject.toml is copied with an old time stamp so that `make` finds the installation up to
    date and never reinstalls the shared environment from here.
    """
    home = tmp_path / "work"
    home.mkdir()
    (home / ".venv").symlink_to(sys.prefix)  # the environment running the tests
    shutil.copy(ROOT / "Makefile", home / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", home / "pyproject.toml")
    os.utime(home / "pyproject.toml", (0, 0))
    return home


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JADECHAIN_") and k != "VIRTUAL_ENV"}
    env.update({"HOME": str(home), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
    return env


def run_script(home: Path, blocks: list[Block], timeout: float) -> str:
    script = home / "docs-script.sh"
    script.write_text(as_script(blocks))
    result = subprocess.run(["bash", str(script)], cwd=home, env=environment(home), capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    output = result.stdout + "\n--- stderr ---\n" + result.stderr
    assert result.returncode == 0, f"a documented block failed (exit {result.returncode}):\n{output[-6000:]}"
    assert "Traceback" not in output, output[-6000:]
    assert ">>> all blocks ran" in result.stdout
    return output


@pytest.fixture
def readme_home(tmp_path: Path) -> Iterator[Path]:
    home = workspace(tmp_path)
    try:
        yield home
    finally:
        subprocess.run([str(home / ".venv" / "bin" / "jadechain"), "down", "--dir", ".jadechain"], cwd=home,
                       env=environment(home), capture_output=True, timeout=120)


@pytest.fixture
def cli_home(tmp_path: Path) -> Iterator[Path]:
    home = workspace(tmp_path)
    try:
        yield home
    finally:
        subprocess.run([str(home / ".venv" / "bin" / "jadechain"), "down", "--dir", ".jadechain"], cwd=home,
                       env=environment(home), capture_output=True, timeout=120)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_readme_runs_against_the_network_make_up_starts(readme_home: Path) -> None:
    output = run_script(readme_home, runnable(ROOT / "README.md"), timeout=1200)
    assert "VALID transaction proof" in output or "VALID entry proof" in output
    assert "trusted: pinned ledger hash" in output
    assert "SUCCESS" in output and "{'type': 'JSON', 'value': {'lot': 'L7'}}" in output
    assert "0 {'lot': 'L7'}" in output  # the typed entry: entry.version, entry.value


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_cli_walkthrough_runs_against_the_network_make_up_starts(cli_home: Path) -> None:
    blocks = runnable(ROOT / "docs" / "cli.md")
    assert blocks[0].text.splitlines()[0].strip() == "make up"  # the page starts where the README leaves off
    output = run_script(cli_home, blocks, timeout=2100)
    assert output.count("refused, exit 1") == 3  # the lost update, the hostile contract, the forged proof
    assert "VERSION_CONFLICT" in output and "PROOF_INVALID: certificate" in output
    assert output.count("VALID entry proof") >= 2 and "VALID event proof" in output
    assert "'type': 'TEXT', 'value': 'shipped'" in output
    assert "1 shipped TEXT" in output and "SUCCESS ('" in output  # typed Entry and TransactionRecord
    # One network: the one `make up` started (the page never starts a second one), stopped by its last block.
    jadechain = cli_home / ".jadechain"
    assert sorted(p.name for p in jadechain.glob("*/network.json")) == ["network.json"]
    assert (jadechain / "network" / "network.json").exists() and not (jadechain / "net").exists()
    assert "Jadechain is up" in output and "stopped: baas" in output
