"""DESIGN.md's dependency direction, enforced on every top-level package.

ledger <- contracts <- consensus <- node <- jadechain <- baas; bench and tests may import anything and
nothing imports them (tests' kits serve benchmarks too); examples import only the product. Inside
jadechain, devnet never imports the CLI and the SDK (what ``import jadechain`` loads) imports neither the
CLI, devnet nor the bench harness. A new top-level package fails the test until it is placed here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORDER = ["ledger", "contracts", "consensus", "node", "jadechain", "baas"]
"""The layers: a package may import those to its left, never one to its right."""
ANYTHING = None
OUTSIDE_THE_LAYERS: dict[str, set[str] | None] = {
    "bench": ANYTHING,  # benchmarks measure everything; nothing imports them
    "tests": ANYTHING,  # tests exercise everything; only benchmarks may reuse their kits
    "examples": set(ORDER),  # written as a user would: the product only
}
IMPORTED_BY_NOBODY_ELSE = {"bench": set(), "tests": {"bench"}, "examples": set()}
INSIDE_JADECHAIN = {
    # sub-package: the sibling sub-packages it must not import
    "jadechain.devnet": {"jadechain.cli", "jadechain.bench"},
    "jadechain.sdk": {"jadechain.cli", "jadechain.devnet", "jadechain.bench"},
    "jadechain._keys": {"jadechain.cli", "jadechain.devnet", "jadechain.bench"},
    "jadechain": {"jadechain.cli", "jadechain.devnet", "jadechain.bench"},  # jadechain/__init__.py: `import jadechain` stays light
}
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


def package_files(package: str, root: Path = ROOT) -> list[Path]:
    return sorted((root / package).rglob("*.py"))


def top_level_packages(root: Path = ROOT) -> set[str]:
    """Every top-level folder holding Python code, and every top-level module."""
    found = {path.stem for path in root.glob("*.py")}
    for folder in root.iterdir():
        if folder.is_dir() and not folder.name.startswith(".") and folder.name not in {"build", "dist"} \
                and not folder.name.endswith(".egg-info") and next(folder.rglob("*.py"), None) is not None:
            found.add(folder.name)
    return found


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def direction_violations(root: Path = ROOT) -> list[str]:
    """Every import that goes against the dependency direction, as ``file:line imports module``."""
    violations = []
    packages = top_level_packages(root)
    for package in sorted(packages):
        if package in ORDER:
            allowed: set[str] | None = set(ORDER[: ORDER.index(package) + 1])
        else:
            allowed = OUTSIDE_THE_LAYERS.get(package, set())
        for path in package_files(package, root):
            name = module_name(path, root)
            inner_forbidden = next((forbidden for inner, forbidden in INSIDE_JADECHAIN.items()
                                    if (within(name, inner) if inner != "jadechain" else name == inner)), set())
            try:
                imports = imported_modules(path)
            except (SyntaxError, MemoryError, RecursionError):
                if package == "tests":
                    continue  # a hostile contract source kept as test data (e.g. a parser memory bomb)
                raise
            for line, module in imports:
                top = module.split(".")[0]
                if top not in packages or top == package and not inner_forbidden:
                    continue  # the standard library, a dependency, or the package itself
                if top in IMPORTED_BY_NOBODY_ELSE and top != package and package not in IMPORTED_BY_NOBODY_ELSE[top]:
                    violations.append(f"{path.relative_to(root)}:{line} imports {module} (nothing may import {top})")
                elif allowed is not ANYTHING and top not in allowed:
                    violations.append(f"{path.relative_to(root)}:{line} imports {module} (to the right of {package})")
                elif any(within(module, forbidden) for forbidden in inner_forbidden):
                    violations.append(f"{path.relative_to(root)}:{line} imports {module} (a sibling it must not use)")
    return violations


def test_every_top_level_package_has_a_place_in_the_dependency_direction() -> None:
    unclassified = top_level_packages() - set(ORDER) - set(OUTSIDE_THE_LAYERS)
    assert not unclassified, f"add {sorted(unclassified)} to ORDER or OUTSIDE_THE_LAYERS in this test"
    assert set(ORDER) | {"bench", "tests"} <= top_level_packages()


def test_packages_never_import_to_their_right() -> None:
    violations = direction_violations()
    assert not violations, "\n".join(violations)


def test_the_checker_flags_each_kind_of_wrong_import(tmp_path: Path) -> None:
    files = {
        "ledger/__init__.py": "",
        "node/__init__.py": "import jadechain.sdk\n",  # node importing to its right
        "node/bad.py": "def f():\n    from bench.tps import main\n",  # a lazy import of bench
        "jadechain/__init__.py": "from jadechain.sdk import Client\n",
        "jadechain/sdk/__init__.py": "from ledger import codec\n",
        "jadechain/devnet/net.py": "from jadechain.cli.app import app\n",  # devnet importing the CLI
        "jadechain/cli/app.py": "from jadechain.devnet.net import up\nimport baas.cli\n",
        "baas/__init__.py": "import tests.support\n",  # the product importing the tests
        "bench/tps.py": "import baas, tests.support\n",  # fine: bench may import anything
        "newpkg/mod.py": "import os\n",
    }
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text("import bench.tps\n")  # tests may not import bench
    found = direction_violations(tmp_path)
    assert sorted(line.split(" (")[0] for line in found) == sorted([
        "node/__init__.py:1 imports jadechain.sdk", "node/bad.py:2 imports bench.tps",
        "jadechain/devnet/net.py:1 imports jadechain.cli.app", "jadechain/cli/app.py:2 imports baas.cli",
        "baas/__init__.py:1 imports tests.support", "tests/conftest.py:1 imports bench.tps"]), found
    assert "newpkg" in top_level_packages(tmp_path) - set(ORDER) - set(OUTSIDE_THE_LAYERS)


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
