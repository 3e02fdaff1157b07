"""Local networks for development, tests and benchmarks: the dev genesis ceremony, ``net up``,
``up``/``down`` (nodes, control plane and apps on loopback), the in-process solo node and demo.

Nothing here imports :mod:`jadechain.cli`; the commands call into this package, never the reverse.
"""
