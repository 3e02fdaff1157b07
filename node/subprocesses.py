"""How Jadechain starts its own Python child processes (nodes, control plane, apps, bench nodes).

Python normally puts the child's working directory (``-m``, ``-c``) or the script's folder first on
``sys.path``. Our data directories hold folders such as ``baas/apps`` or ``networks/`` and a user's
working directory may hold ``node/`` or ``ledger/``; any of them would then shadow the installed
package of the same name (``baas.apps.evidence`` resolved to an empty namespace folder). Every child
therefore runs in safe-path mode (``-P``, Python 3.11+), so only the installed packages and an
explicit ``PYTHONPATH`` are importable, and ``PYTHONSAFEPATH=1`` is inherited by its own children.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping

# The source checkout (or site-packages for an installed wheel): the one folder children may import from
# besides the installed packages. Never a data directory.
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def python_module_command(module: str, *args: str) -> list[str]:
    """``python -P -m module args...`` with this interpreter."""
    return [sys.executable, "-P", "-m", module, *args]


def python_code_command(code: str, *args: str) -> list[str]:
    """``python -P -c code args...`` with this interpreter."""
    return [sys.executable, "-P", "-c", code, *args]


def python_script_command(script: Path, *args: str) -> list[str]:
    """``python -P script args...``: the script's own folder is not put on the import path either."""
    return [sys.executable, "-P", str(script), *args]


def child_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: safe-path mode inherited, and the source root importable.

    ``PYTHONPATH`` gains :data:`SOURCE_ROOT` so a child runs the same code as its parent even when the
    project is used from a source checkout without an install; whatever the caller set stays after it.
    """
    env = dict(os.environ if base is None else base)
    env["PYTHONSAFEPATH"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE_ROOT), env.get("PYTHONPATH")]))
    return env
