"""The gas schedule and the hard limits of the contract sandbox.

Both are consensus rules: every node must charge the same gas and stop a
contract at the same point, so the numbers live in one frozen place and a
change to them is a protocol change (a new ledger setting), never a tweak.

Gas is charged for work the host does on the contract's behalf: statements,
loop iterations, function calls, operators, bytes allocated, bytes read and
written in storage, event bytes and returned bytes. Limits bound what gas alone
cannot bound cheaply: sizes of single values, the memory a run may allocate in
total, Python frames and nested contract calls.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GasSchedule:
    """Gas charged per unit of work; integers only (no floats in consensus code)."""

    invoke_base: int = 500
    """Charged once per invocation (argument checking, frame set-up)."""
    statement: int = 1
    """Per executed statement (charged per straight-line block, at its entry)."""
    call: int = 5
    """Per call expression (builtin, method or user function)."""
    loop_iteration: int = 2
    """Per iteration of a ``for``/``while`` loop or a comprehension."""
    function_entry: int = 10
    """Per entry into a user-defined function or method."""
    operator: int = 1
    """Per guarded binary operator."""
    attribute: int = 1
    """Per attribute lookup."""
    alloc_bytes_per_gas: int = 32
    """One gas per this many bytes allocated by guarded operations."""
    argument_byte: int = 1
    """Per byte of invocation arguments."""
    storage_read_base: int = 100
    storage_read_byte: int = 1
    storage_write_base: int = 500
    storage_write_byte: int = 10
    event_base: int = 300
    event_byte: int = 5
    return_byte: int = 2
    nested_call_base: int = 700
    register_account: int = 1000
    sort_item: int = 2
    """Per item and per halving of a sort (n * log2 n)."""
    host_call_base: int = 50
    """WASM engine: per host call, before the host reads anything."""
    host_byte: int = 1
    """WASM engine: per byte crossing the boundary in a host call (payload in, reply out)."""
    image_page: int = 4
    """WASM engine: per 4 KiB page of the contract's image laid into a fresh instance, per invocation."""
    foreign_fact_base: int = 20_000
    """WASM engine: per ``ctx.verified_fact`` (signature checks of a commit certificate and a Merkle
    path, a few milliseconds of host CPU at most), on top of the bundle's bytes."""
    foreign_fact_byte: int = 2
    """WASM engine: per byte of the proof bundle ``ctx.verified_fact`` parses and hashes."""


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Hard bounds; exceeding one raises ``ContractLimitExceeded`` (or ``ContractRejected`` at deploy)."""

    max_source_bytes: int = 64 * 1024
    max_source_lines: int = 4000
    max_bracket_depth: int = 40
    """Nesting of ()[]{} in the raw source, checked before the parser runs."""
    max_indent_depth: int = 24
    """Indentation levels in the raw source, checked before the parser runs."""
    max_ast_depth: int = 100
    max_ast_nodes: int = 50_000
    max_bytes: int = 1024 * 1024
    """Largest str or bytes value a contract may build."""
    max_items: int = 100_000
    """Most elements in one list, tuple or dict, and most items one comprehension iterates."""
    max_int_bits: int = 4096
    max_memory: int = 64 * 1024 * 1024
    """Bytes a single invocation may allocate in total (cumulative estimate)."""
    max_frames: int = 100
    """User function frames alive at once, across nested contract calls."""
    max_call_depth: int = 8
    """Nested contract calls (the transaction's contract is depth 0)."""
    max_key_bytes: int = 1024
    max_value_bytes: int = 1024 * 1024
    max_event_bytes: int = 64 * 1024
    max_return_bytes: int = 64 * 1024
    max_value_depth: int = 32
    """Nesting of lists and dicts in arguments, stored values, events and return values."""


DEFAULT_GAS = GasSchedule()
DEFAULT_LIMITS = SandboxLimits()
