"""DESIGN.md's dependency direction, enforced: ledger <- contracts <- consensus <- node <- jadechain <- baas."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORDER = ["ledger", "contracts", "consensus", "node", "jadechain", "baas"]
IO_MODULES = {"asyncio", "grpc", "fastapi", "plyvel", "uvicorn", "starlette", "aiohttp", "httpx", "requests"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def package_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_packages_never_import_to_their_right() -> None:
    violations = []
    for position, package in enumerate(ORDER):
        forbidden = set(ORDER[position + 1:])
        for path in package_files(package):
            for line, module in imported_modules(path):
                if module.split(".")[0] in forbidden:
                    violations.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not violations, "\n".join(violations)


def test_ledger_and_contracts_import_no_io_framework_outside_the_store() -> None:
    violations = []
    for package in ("ledger", "contracts"):
        for path in package_files(package):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith("ledger/store/"):
                continue
            for line, module in imported_modules(path):
                if module.split(".")[0] in IO_MODULES:
                    violations.append(f"{relative}:{line} imports {module}")
    assert not violations, "\n".join(violations)


def test_consensus_critical_code_reads_no_clock_and_draws_no_randomness() -> None:
    """No wall clock or randomness in what is hashed, signed or executed."""
    banned_calls = {("time", "time"), ("time", "time_ns"), ("datetime", "now"), ("datetime", "utcnow"),
                    ("random", "random"), ("random", "randint"), ("os", "urandom")}
    violations = []
    for path in package_files("ledger") + package_files("contracts"):
        relative = path.relative_to(ROOT).as_posix()
        # Key generation and keystores need randomness by nature; they are not executed on chain.
        if relative.startswith("ledger/crypto/") or relative == "ledger/transactions.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                if isinstance(owner, ast.Name) and (owner.id, node.func.attr) in banned_calls:
                    violations.append(f"{relative}:{node.lineno} calls {owner.id}.{node.func.attr}()")
    assert not violations, "\n".join(violations)
