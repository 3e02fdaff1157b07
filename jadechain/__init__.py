"""Jadechain: the package users import (SDK, key helpers, proof verification, errors).

The ``jadechain`` command line lives in :mod:`jadechain.cli`, local dev networks in
:mod:`jadechain.devnet`, the benchmark harness in :mod:`jadechain.bench`.
"""
