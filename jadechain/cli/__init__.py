"""The ``jadechain`` command line (console script ``jadechain = "jadechain.cli:main"``).

The commands live in :mod:`jadechain.cli.app` and its sub-apps (``tx``, ``net``, ``bench``,
``private``); they are imported when the command runs, so importing one sub-app stays cheap.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Run the ``jadechain`` command line (plus sub-commands registered under ``jadechain.cli``)."""
    from jadechain.cli.app import main as run

    run()
