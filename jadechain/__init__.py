"""Jadechain's public package (see docs/contracts.md for the contract authoring names)."""

from jadechain.contract import Context, callable, contract, event, reentrant

__all__ = ["Context", "callable", "contract", "event", "reentrant"]
