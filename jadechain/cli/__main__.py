"""``python -m jadechain.cli ...`` runs the ``jadechain`` command line."""

from jadechain.cli import main

main()
