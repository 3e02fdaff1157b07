"""A client-operation history and its checker (Jepsen-style, for KV registers on one ledger).

The chaos load records every operation it performs, as it happens:

- ``submit``: a write was sent (tx hash, key, the unique value written, expected version, node);
- ``result``: what the client learnt about that write: ``ok`` (the gateway reported it committed,
  with its height and on-chain status), ``fail`` (definitely refused at ingress: never on chain) or
  ``info`` (unknown: the connection broke, the wait timed out);
- ``read``: a read of a key answered with a version and a value (or ``missing``).

After the run, :func:`collect_final_state` reads every node's chain, and :func:`check_history`
verifies the promises:

1. every acknowledged commit is in the final ledger exactly once, at the height it was acknowledged;
   a write refused at ingress is not in the ledger at all; nothing is on chain that nobody wrote;
2. each key's versions run 0, 1, 2, ... without gaps, each version holds a value some client wrote
   (and the tx that wrote it), in the order the chain committed them;
3. every read saw committed data: the (version, value) it returned is that version in the final ledger;
4. all nodes have identical block hashes and roots up to the lowest common height.

Each violation carries the *minimal history* that shows it: only the operations on the same tx or key.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import httpx

__all__ = [
    "BlockView",
    "FinalState",
    "History",
    "Operation",
    "Violation",
    "check_history",
    "collect_final_state",
    "format_violations",
]


@dataclass
class Operation:
    """One line of the history."""

    kind: str
    """``submit`` | ``result`` | ``read``."""
    op_id: int
    """The submit and its result share an op_id; a read has its own."""
    client: str
    time: float
    node: str = ""
    tx_hash: str = ""
    key: str = ""
    value: Any = None
    expected_version: int | None = None
    outcome: str = ""
    """For ``result``: ``ok`` | ``fail`` | ``info``; for ``read``: ``ok`` | ``missing``."""
    status: str | None = None
    """On-chain status of an ``ok`` result (``SUCCESS`` or the stable error code)."""
    height: int | None = None
    version: int | None = None
    error: str = ""


class History:
    """Thread-safe append-only log of operations, optionally mirrored to a JSON-lines file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.operations: list[Operation] = []
        self._lock = threading.Lock()
        self._next_id = 0
        self._file = open(path, "a", encoding="utf-8") if path is not None else None

    def new_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

    def record(self, kind: str, op_id: int, client: str, **fields: Any) -> Operation:
        operation = Operation(kind=kind, op_id=op_id, client=client, time=time.time(), **fields)
        with self._lock:
            self.operations.append(operation)
            if self._file is not None:
                self._file.write(json.dumps(asdict(operation), default=str) + "\n")
                self._file.flush()
        return operation

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @classmethod
    def load(cls, path: str | Path) -> "History":
        history = cls()
        for line in Path(path).read_text().splitlines():
            if line.strip():
                history.operations.append(Operation(**json.loads(line)))
        return history

    def acknowledged(self) -> list[Operation]:
        return [op for op in self.operations if op.kind == "result" and op.outcome == "ok"]


@dataclass(frozen=True)
class BlockView:
    height: int
    hash: str
    state_root: str
    accumulator_root: str
    accumulator_size: int


@dataclass
class FinalState:
    """What the nodes hold after the run."""

    blocks: dict[str, list[BlockView]] = field(default_factory=dict)
    """node name → its blocks from height 1 to its tip."""
    chain_txs: dict[str, list[tuple[int, int, str]]] = field(default_factory=dict)
    """tx hash → every (height, index, status) at which the reference node's chain holds it."""
    versions: dict[str, list[tuple[int, Any, str]]] = field(default_factory=dict)
    """key → [(version, value, tx hash)] in the reference node's final state."""


@dataclass
class Violation:
    kind: str
    message: str
    history: list[Operation] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"[{self.kind}] {self.message}"]
        for op in self.history:
            detail = {k: v for k, v in asdict(op).items() if v not in (None, "", 0) or k in ("op_id",)}
            lines.append("    " + json.dumps(detail, default=str, sort_keys=True))
        return "\n".join(lines)


def format_violations(violations: Iterable[Violation]) -> str:
    return "\n".join(v.render() for v in violations)


def _minimal(history: History, *, tx_hash: str = "", key: str = "", op_ids: Iterable[int] = ()) -> list[Operation]:
    wanted = set(op_ids)
    if tx_hash:
        wanted |= {op.op_id for op in history.operations if op.tx_hash == tx_hash}
    chosen = [op for op in history.operations if op.op_id in wanted]
    if key and not chosen:
        chosen = [op for op in history.operations if op.key == key]
    return chosen


def check_history(history: History, final: FinalState) -> list[Violation]:
    """Every violation of the four promises (empty list: the history is valid)."""
    violations: list[Violation] = []
    submits = {op.op_id: op for op in history.operations if op.kind == "submit"}
    results: dict[int, list[Operation]] = {}
    for op in history.operations:
        if op.kind == "result":
            results.setdefault(op.op_id, []).append(op)
    submitted_hashes = {op.tx_hash for op in submits.values()}

    # 1. Acknowledged commits: exactly once, at the acknowledged height; refused ones absent.
    for op_id, outcomes in results.items():
        submit = submits.get(op_id)
        tx_hash = submit.tx_hash if submit else outcomes[0].tx_hash
        on_chain = final.chain_txs.get(tx_hash, [])
        for result in outcomes:
            if result.outcome == "ok":
                if len(on_chain) == 0:
                    violations.append(Violation("lost-commit", f"tx {tx_hash} was acknowledged committed at height "
                                                f"{result.height} but is not in the final ledger",
                                                _minimal(history, tx_hash=tx_hash)))
                elif len(on_chain) > 1:
                    violations.append(Violation("duplicate-commit", f"tx {tx_hash} is in the ledger "
                                                f"{len(on_chain)} times: {on_chain}", _minimal(history, tx_hash=tx_hash)))
                elif result.height is not None and on_chain[0][0] != result.height:
                    violations.append(Violation("moved-commit", f"tx {tx_hash} was acknowledged at height {result.height} "
                                                f"but the ledger has it at {on_chain[0][0]}", _minimal(history, tx_hash=tx_hash)))
                elif result.status is not None and on_chain[0][2] != result.status:
                    violations.append(Violation("changed-result", f"tx {tx_hash} was acknowledged with status "
                                                f"{result.status} but the ledger records {on_chain[0][2]}",
                                                _minimal(history, tx_hash=tx_hash)))
            elif result.outcome == "fail" and on_chain:
                violations.append(Violation("refused-but-committed", f"tx {tx_hash} was refused ({result.error}) "
                                            f"but the ledger has it at {on_chain}", _minimal(history, tx_hash=tx_hash)))
    for tx_hash, places in final.chain_txs.items():
        if len(places) > 1 and tx_hash in submitted_hashes and not any(
                r.outcome == "ok" for op in submits.values() if op.tx_hash == tx_hash for r in results.get(op.op_id, [])):
            violations.append(Violation("duplicate-commit", f"tx {tx_hash} is in the ledger {len(places)} times: {places}",
                                        _minimal(history, tx_hash=tx_hash)))

    # 2. Versions of each key: 0..n-1, each written by a submitted tx with that value, in chain order.
    written: dict[tuple[str, str], Operation] = {(op.key, json.dumps(op.value, default=str)): op
                                                for op in submits.values() if op.key}
    for key, versions in final.versions.items():
        numbers = [v for v, _, _ in versions]
        if numbers != list(range(len(numbers))):
            violations.append(Violation("version-gap", f"key {key!r} has versions {numbers}, not 0..{len(numbers) - 1}",
                                        _minimal(history, key=key)))
        last_place: tuple[int, int] | None = None
        for version, value, tx_hash in versions:
            writer = written.get((key, json.dumps(value, default=str)))
            if writer is None:
                violations.append(Violation("phantom-write", f"key {key!r} version {version} holds {value!r}, "
                                            "which no client wrote", _minimal(history, key=key)))
                continue
            if tx_hash and writer.tx_hash != tx_hash:
                violations.append(Violation("phantom-write", f"key {key!r} version {version} was written by tx {tx_hash}, "
                                            f"but the client wrote {value!r} in tx {writer.tx_hash}",
                                            _minimal(history, tx_hash=writer.tx_hash)))
            places = final.chain_txs.get(writer.tx_hash) or []
            if places:
                place = (places[0][0], places[0][1])
                if last_place is not None and place < last_place:
                    violations.append(Violation("version-order", f"key {key!r} version {version} was committed at "
                                                f"{place}, before the previous version at {last_place}",
                                                _minimal(history, key=key)))
                last_place = place
    # An acknowledged successful write must be one of its key's versions.
    for op_id, outcomes in results.items():
        submit = submits.get(op_id)
        if submit is None or not submit.key:
            continue
        if any(r.outcome == "ok" and r.status == "SUCCESS" for r in outcomes):
            held = [v for v, value, _ in final.versions.get(submit.key, [])
                    if json.dumps(value, default=str) == json.dumps(submit.value, default=str)]
            if len(held) != 1:
                violations.append(Violation("lost-write", f"write of {submit.value!r} to {submit.key!r} was acknowledged "
                                            f"SUCCESS but the key holds it at versions {held}",
                                            _minimal(history, tx_hash=submit.tx_hash)))

    # 3. Reads saw committed data.
    for op in history.operations:
        if op.kind != "read" or op.outcome != "ok":
            continue
        versions = {v: value for v, value, _ in final.versions.get(op.key, [])}
        if op.version not in versions:
            violations.append(Violation("read-uncommitted", f"read of {op.key!r} returned version {op.version}, "
                                        "which the final ledger does not have", [op]))
        elif json.dumps(versions[op.version], default=str) != json.dumps(op.value, default=str):
            writer = written.get((op.key, json.dumps(op.value, default=str)))
            violations.append(Violation("read-wrong-value", f"read of {op.key!r} version {op.version} returned "
                                        f"{op.value!r}; the ledger holds {versions[op.version]!r}",
                                        [op] + (_minimal(history, tx_hash=writer.tx_hash) if writer else [])))

    # 4. Identical blocks everywhere up to the lowest common height.
    if final.blocks:
        common = min((len(chain) for chain in final.blocks.values()), default=0)
        for index in range(common):
            views = {name: chain[index] for name, chain in final.blocks.items()}
            distinct = {(v.hash, v.state_root, v.accumulator_root, v.accumulator_size) for v in views.values()}
            if len(distinct) > 1:
                height = next(iter(views.values())).height
                detail = ", ".join(f"{name}: hash={v.hash[:12]} state={v.state_root[:12]}" for name, v in views.items())
                violations.append(Violation("divergence", f"nodes disagree at height {height}: {detail}"))
                break
    return violations


# --- reading the final state from the nodes ------------------------------------------------------

def _block_view(data: dict[str, Any]) -> BlockView:
    return BlockView(int(data["height"]), data["hash"], data["state_root"], data["accumulator_root"],
                     int(data["accumulator_size"]))


def collect_final_state(urls: dict[str, str], ledger_hash: str, account: str, keys: Iterable[str],
                        reference: str | None = None, timeout: float = 10.0) -> FinalState:
    """Read every node's blocks, and the reference node's transactions and key versions."""
    base = f"/api/v1/ledgers/{ledger_hash}"
    final = FinalState()
    with httpx.Client(timeout=timeout) as client:
        for name, url in urls.items():
            tip = int(client.get(f"{url}{base}/blocks/latest").json()["height"])
            final.blocks[name] = [_block_view(client.get(f"{url}{base}/blocks/{h}").json()) for h in range(1, tip + 1)]
        ref_name = reference or max(final.blocks, key=lambda n: len(final.blocks[n]))
        url = urls[ref_name]
        for height in range(1, len(final.blocks[ref_name]) + 1):
            offset = 0
            while True:
                page = client.get(f"{url}{base}/blocks/{height}/txs", params={"offset": offset, "limit": 500}).json()
                items = page.get("items", [])
                for position, item in enumerate(items):
                    tx_hash = item.get("tx_hash") or item.get("hash")
                    index = item.get("index", offset + position)
                    status = item.get("status") or (item.get("result") or {}).get("status")
                    final.chain_txs.setdefault(tx_hash, []).append((height, int(index), status))
                offset += len(items)
                if not items or offset >= int(page.get("total", offset)):
                    break
        for key in keys:
            versions: list[tuple[int, Any, str]] = []
            offset = 0
            while True:
                response = client.get(f"{url}{base}/accounts/{account}/entry/versions",
                                      params={"key": key, "offset": offset, "limit": 100})
                if response.status_code == 404:
                    break
                items = response.json()["items"]
                for item in items:
                    value = item.get("value")
                    if isinstance(value, dict) and "value" in value:
                        value = value["value"]
                    versions.append((int(item["version"]), value, item.get("tx_hash", "")))
                offset += len(items)
                if len(items) < 100:
                    break
            if versions:
                final.versions[key] = sorted(versions)
    return final
