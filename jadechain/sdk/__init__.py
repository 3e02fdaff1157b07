"""Jadechain Python SDK: talk to one or several gateways, submit, query, verify proofs, subscribe.

Example::

    from jadechain.sdk import JadechainClient

    with JadechainClient(["http://127.0.0.1:8080", "http://127.0.0.1:8081"]) as client:
        ledger = client.ledger()                      # the only ledger (or client.ledger(hash))
        tx = ledger.builder().kv_set(account, "greeting", "hello").sign(my_key)
        result = ledger.submit(tx)                    # waits for the commit by default
        assert result.status == "SUCCESS"
        entry = ledger.get_entry(account, "greeting")   # a typed Entry: entry.value == "hello", entry.version
        bundle = ledger.entry_proof(account, "greeting")          # waits for a certified header
        report = ledger.verify(bundle, ledger_hash=EXPECTED_HASH)   # offline; pin what you trust
        for message in ledger.subscribe(from_height=0):
            print(message.id, message.kind, message.value)   # typed: Block, TxResult or Event

Failover: every request goes to the current gateway; on a connection error the client moves to
the next one, cycling (with a short back-off) until ``retry_timeout`` — so a node restart is
ridden out. Errors from a gateway are raised as :class:`ApiError` with its stable ``code``; an answer
that is not the shape of its result raises :class:`MalformedAnswer` (``MALFORMED_ANSWER``). Results are
frozen dataclasses (:class:`Entry`, :class:`Block`, :class:`TransactionRecord`, ...) with the gateway's
JSON kept in ``.raw``.
:class:`AsyncJadechainClient` offers the same operations for asyncio applications.
"""

from jadechain.sdk._models import (
    Account, ApiError, Block, CallResult, Entry, Event, GatewaysUnavailable, LedgerInfo, LedgerSettingsInfo, LedgerSummary, MalformedAnswer, Page, Proposal, ProposalVote, StreamMessage, TransactionRecord, TxResult,
)
from jadechain.sdk.aio import AsyncJadechainClient, AsyncLedgerClient
from jadechain.sdk.client import JadechainClient, LedgerClient

__all__ = [
    "Account",
    "ApiError",
    "AsyncJadechainClient",
    "AsyncLedgerClient",
    "Block",
    "CallResult",
    "Entry",
    "Event",
    "GatewaysUnavailable",
    "JadechainClient",
    "LedgerClient",
    "LedgerInfo",
    "LedgerSettingsInfo",
    "LedgerSummary",
    "MalformedAnswer",
    "Page",
    "Proposal",
    "ProposalVote",
    "StreamMessage",
    "TransactionRecord",
    "TxResult",
]
