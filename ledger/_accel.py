"""The optional compiled build of the ledger's hot modules, and the switch between it and Python.

``make accel`` (``python -m jadechain.accel build``) compiles :data:`MODULES` with mypyc into
``build/accel/<interpreter tag>/``, next to a manifest of each module's source hash. At the first
import of :mod:`ledger`, :func:`install` puts a finder in front of the import system that loads
those extension modules instead of the ``.py`` files, but only if every listed source still has
the hash it was compiled from: mypyc calls between modules of one build natively, so one edited
module makes the whole build stale, and then every module runs as Python (the reason is in
:func:`status`). ``JADECHAIN_PURE_PYTHON=1`` turns the build off.

The two builds compute the same bytes: the golden replay (``tests/unit/ledger``) pins every
header hash and root, and CI runs it, with the Merkle property tests, under both. Only speed
differs, so which one a node runs is not part of any hash, signature or decision.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

__all__ = ["MODULES", "build_dir", "install", "plan", "pure_requested", "status"]

MODULES = (
    "ledger.codec",
    "ledger.crypto.hashing",
    "ledger.executor",
    "ledger.merkle.accumulator",
    "ledger.merkle.state_tree",
    "ledger.state",
    "ledger.store.schema",
)
"""The modules compiled together (the apply path's pure-Python work: codec, execution, trees, keys)."""

PURE_ENV = "JADECHAIN_PURE_PYTHON"
MANIFEST = "manifest.json"

_ROOT = Path(__file__).resolve().parent.parent
_status: dict[str, Any] = {"accelerated": False, "modules": [], "reason": "not installed yet"}


def pure_requested() -> bool:
    """Whether ``JADECHAIN_PURE_PYTHON`` asks for pure Python (any value but empty or 0)."""
    return os.environ.get(PURE_ENV, "") not in ("", "0")


def build_dir(root: Path = _ROOT) -> Path:
    """Where the build for this interpreter lives (a build for another Python is never loaded)."""
    tag = sys.implementation.cache_tag + "-" + sysconfig.get_platform().replace("-", "_")
    return root / "build" / "accel" / tag


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _source(root: Path, module: str) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def plan(root: Path = _ROOT, modules: Sequence[str] = MODULES) -> tuple[dict[str, str], str]:
    """``(module name → extension file, "")`` if the build matches every source, else ``({}, reason)``."""
    directory = build_dir(root)
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        return {}, "no compiled build (make accel)"
    except (OSError, ValueError) as exc:
        return {}, f"unreadable manifest: {exc}"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("modules"), dict):
        return {}, "malformed manifest"
    built: dict[str, Any] = manifest["modules"]
    if sorted(built) != sorted(modules):
        return {}, "the build compiled another module list"
    files: dict[str, str] = {}
    for module in modules:
        entry = built[module]
        if not isinstance(entry, dict):
            return {}, "malformed manifest"
        try:
            current = source_hash(_source(root, module))
        except OSError:
            return {}, f"{module}: source missing"
        if current != entry.get("source_sha256"):
            return {}, f"{module} changed since the build (make accel)"
        files[module] = str(directory / str(entry.get("file", "")))
    group = manifest.get("group")
    if isinstance(group, dict) and group.get("module") and group.get("file"):
        files[str(group["module"])] = str(directory / str(group["file"]))
    home = directory.resolve()
    outside = [name for name, file in files.items() if home not in Path(file).resolve().parents]
    if outside:
        return {}, f"manifest names a file outside the build for {outside[0]}"
    missing = [name for name, file in files.items() if not os.path.isfile(file)]
    if missing:
        return {}, f"compiled file missing for {missing[0]}"
    return files, ""


class _CompiledFinder(importlib.abc.MetaPathFinder):
    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, file)
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


def install() -> None:
    """Load the compiled build for :data:`MODULES` if it is current (called once by ``ledger/__init__``)."""
    global _status
    if pure_requested():
        _status = {"accelerated": False, "modules": [], "reason": f"{PURE_ENV} is set"}
        return
    already = [name for name in MODULES if name in sys.modules]
    if already:
        _status = {"accelerated": False, "modules": [], "reason": f"{already[0]} was imported first"}
        return
    files, reason = plan()
    if not files:
        _status = {"accelerated": False, "modules": [], "reason": reason}
        return
    sys.meta_path.insert(0, _CompiledFinder(files))
    _status = {"accelerated": True, "modules": list(MODULES), "reason": ""}


def status() -> dict[str, Any]:
    """Whether this process runs the compiled build: ``accelerated``, ``modules`` and, if not, ``reason``.

    ``accelerated`` is checked against what was actually imported: a module whose extension
    failed to load would have raised, and one not imported yet counts as what the finder will load.
    """
    result = dict(_status)
    if result["accelerated"]:
        loaded = {name: getattr(sys.modules.get(name), "__file__", "") or "" for name in MODULES}
        python = [name for name, file in loaded.items() if file.endswith(".py")]
        if python:
            result.update(accelerated=False, modules=[], reason=f"{python[0]} runs as Python")
    return result
