"""Errors raised inside the consensus core.

They all derive from :class:`ledger.errors.JadechainError` so the node logs and
maps them like every other Jadechain error. The round manager catches them at
its boundary: a bad message is dropped and counted, it never crashes the core.
"""

from __future__ import annotations

from ledger.errors import JadechainError


class ConsensusError(JadechainError):
    """Base of the errors of the consensus protocol."""

    code = "CONSENSUS_ERROR"
    http_status = 500


class InvalidMessage(ConsensusError):
    """A message that fails verification (signature, quorum, epoch, shape or round sanity)."""

    code = "INVALID_CONSENSUS_MESSAGE"
    http_status = 400


class SafetyViolation(ConsensusError):
    """The safety rules refuse to sign: signing would risk a double vote or a conflicting commit."""

    code = "SAFETY_VIOLATION"
    http_status = 409
