"""What the wheel ships: every package of the product (the bench harness inside jadechain), no checkout-only
folder, the console script, the baas sub-command and ``py.typed``. CI installs the wheel for real
(``.ci/wheel-smoke``); this is the quick check that runs with the unit tests."""

from __future__ import annotations

import fnmatch
import importlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PRODUCT = ["ledger", "contracts", "consensus", "node", "jadechain", "baas"]


def shipped(package: str) -> bool:
    patterns = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    return any(fnmatch.fnmatch(package, pattern) for pattern in patterns)


def test_the_wheel_holds_the_product_and_nothing_that_lives_only_in_a_checkout() -> None:
    for package in PRODUCT:
        assert shipped(package), package
    for sub_package in ("jadechain.cli", "jadechain.devnet", "jadechain.sdk", "jadechain.bench"):
        assert shipped(sub_package) and (ROOT / sub_package.replace(".", "/") / "__init__.py").exists()
    for checkout_only in ("bench", "tests", "examples"):
        assert not shipped(checkout_only), checkout_only


def test_the_console_script_and_the_baas_sub_command_point_at_real_callables() -> None:
    importlib.import_module("jadechain.cli.app")  # a submodule named like the entry point would shadow it
    script = PYPROJECT["project"]["scripts"]["jadechain"]
    module, _, attribute = script.partition(":")
    assert script == "jadechain.cli:main" and callable(getattr(importlib.import_module(module), attribute))
    plugin = PYPROJECT["project"]["entry-points"]["jadechain.cli"]["baas"]
    module, _, attribute = plugin.partition(":")
    assert getattr(importlib.import_module(module), attribute) is not None


def test_the_package_says_it_is_typed() -> None:
    assert (ROOT / "jadechain" / "py.typed").exists()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["*"]
