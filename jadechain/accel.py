"""Build, inspect or remove the compiled (mypyc) build of the ledger's hot modules.

Usage: ``python -m jadechain.accel build|status|clean`` (``make accel`` runs ``build``).

``build`` compiles :data:`ledger._accel.MODULES` with mypyc (the compiler that ships with mypy,
which the core already passes in ``--strict`` mode) and a C compiler, into a temporary directory,
then moves the extension modules and a manifest of the sources' hashes into
``build/accel/<interpreter tag>/`` in one rename. Nothing is written next to the sources, so a
stale build can never shadow an edited ``.py``: :mod:`ledger._accel` loads the build only while
every source matches its manifest. Without a C compiler the build fails with a clear message and
every module runs as Python, with the same results.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ledger import _accel

__all__ = ["build", "clean", "main"]


def build(root: Path = _accel._ROOT, quiet: bool = True) -> Path:
    """Compile :data:`ledger._accel.MODULES` into :func:`ledger._accel.build_dir`; the directory."""
    from mypyc.build import mypycify  # imported here: mypy is a build-time tool, not a node dependency
    from setuptools import Distribution

    target = _accel.build_dir(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    sources = {module: _accel._source(root, module) for module in _accel.MODULES}
    hashes = {module: _accel.source_hash(path) for module, path in sources.items()}
    work = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    cwd = os.getcwd()
    try:
        # mypycify and setuptools take paths relative to the project root; a Distribution built
        # directly (not via setup()) does not read pyproject.toml, which is not a setuptools config here.
        os.chdir(root)
        extensions = mypycify([str(path.relative_to(root)) for path in sources.values()],
                              opt_level="3", target_dir=str(work / "c"))
        distribution = Distribution({"name": "jadechain-accel", "ext_modules": extensions})
        distribution.script_args = (["--quiet"] if quiet else []) + [
            "build_ext", "--build-lib", str(work / "lib"), "--build-temp", str(work / "obj")]
        distribution.parse_command_line()
        distribution.run_commands()
        out = work / "out"
        modules: dict[str, dict[str, str]] = {}
        group: dict[str, str] = {}
        for built in sorted((work / "lib").rglob("*.so")):
            relative = built.relative_to(work / "lib")
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(built, out / relative)
            name = ".".join(relative.parent.parts + (relative.name.split(".")[0],))
            if name in hashes:
                modules[name] = {"file": str(relative), "source_sha256": hashes[name]}
            elif name.endswith("__mypyc"):
                group = {"module": name, "file": str(relative)}
        if sorted(modules) != sorted(_accel.MODULES):
            raise RuntimeError(f"the compiler produced {sorted(modules)}, expected {sorted(_accel.MODULES)}")
        manifest = {"modules": modules, "group": group, "python": sys.version.split()[0],
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (out / _accel.MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        for path in [out, *out.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        out.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        return target
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


def clean(root: Path = _accel._ROOT) -> None:
    shutil.rmtree(root / "build" / "accel", ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jadechain.accel", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build", "status", "clean"])
    parser.add_argument("--verbose", action="store_true", help="show the compiler's output")
    parser.add_argument("--force", action="store_true", help="build even if the build is current")
    args = parser.parse_args(argv)
    if args.command == "clean":
        clean()
        print("removed the compiled build; every module runs as Python")
        return 0
    if args.command == "build":
        if _accel.plan()[0] and not args.force:
            print(f"accel: the compiled build in {_accel.build_dir()} is current")
            return 0
        try:
            target = build(quiet=not args.verbose)
        except Exception as exc:  # no compiler, no mypy, a compile error: say so and keep Python
            print(f"accel: not built ({type(exc).__name__}: {exc}); the ledger runs as pure Python",
                  file=sys.stderr)
            return 1
        print(f"accel: compiled {len(_accel.MODULES)} modules into {target}")
        return 0
    files, reason = _accel.plan()
    print(json.dumps({"current": bool(files), "reason": reason, "directory": str(_accel.build_dir()),
                      "this_process": _accel.status()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
