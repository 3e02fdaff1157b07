"""docs/dependencies.md says why each dependency is there: every package pyproject.toml installs has a
row, and every row names a package pyproject.toml installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()


def test_every_dependency_has_a_reason_and_every_reason_a_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = {_name(r) for r in project["dependencies"]}
    installed |= {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    documented = set()
    for line in (ROOT / "docs" / "dependencies.md").read_text().splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            documented |= {_name(name) for name in re.findall(r"`([^`]+)`", first_cell)}
    assert installed - documented == set(), "dependencies without a reason in docs/dependencies.md"
    assert documented - installed == set(), "docs/dependencies.md names packages pyproject.toml does not install"
