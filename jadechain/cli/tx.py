"""``jadechain tx ...`` and ``jadechain query ...``: write to and read from a running network.

Every transaction command builds one transaction, signs it with the ``--key`` signers (several
``--key`` make a multi-signature transaction), submits it through the Python SDK (failing over
between the ``--gateway`` URLs) and, with ``--wait`` (the default), prints its on-chain result.

Offline signing, as in jdchain-cli: ``--export FILE`` writes the transaction instead of sending
it (no node is contacted when ``--ledger`` is given); ``tx sign FILE`` adds a signature after
showing what is signed; ``tx send FILE`` submits it. The summary a signer sees is always derived
from the transaction's content, never taken from the file.

Every query accepts ``--json`` for scripts. Errors print ``CODE: message`` on stderr and exit 1,
never a traceback (set ``JADECHAIN_DEBUG=1`` to see one for an unexpected error).

Mounting (in :mod:`jadechain.cli`; this module does not import ``jadechain.cli``, so there is no cycle)::

    from jadechain.cli.tx import query_app, tx_app
    app.add_typer(tx_app, name="tx")
    app.add_typer(query_app, name="query")

Until then ``python -m jadechain.cli.tx tx ...`` / ``python -m jadechain.cli.tx query ...`` run them on their own.
A walk-through for users is in ``docs/cli.md``.
"""

import contextlib
import functools
import hashlib
import inspect
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Sequence

import typer
from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from ledger import codec
from ledger.crypto import (
    KeyPair,
    PublicKey,
    decode_address,
    decrypt_private_key,
    from_base58,
    generate_keypair,
    keypair_from_private,
    load_keystore,
    sign,
    to_base58,
    verify,
    address_from_public_key,
    algorithm_by_name,
)
from ledger.errors import (
    ConfigError,
    ContractRejected,
    InvalidAddress,
    InvalidSignature,
    JadechainError,
    KeystoreError,
    WrongPassword,
)
from ledger.transactions import hash_transaction_content
from ledger.types import (
    APPEND_ANY,
    AccountState,
    AuthorizeUserRoles,
    ConfigureRole,
    DeployContract,
    EndpointSignature,
    EventWrite,
    InvokeContract,
    KVSet,
    KVWrite,
    LedgerPermission,
    Operation,
    Propose,
    ProposedOperations,
    PublishEvents,
    RegisterDataAccount,
    RegisterEventAccount,
    RegisterParticipant,
    RegisterUser,
    RolesPolicy,
    Transaction,
    TransactionContent,
    TransactionPermission,
    UpdateAccountState,
    UpdateLedgerSettings,
    UpdateParticipantState,
    UpgradeContract,
    Vote,
    WritePolicy,
)
from ledger.values import TypedValue, ValueType
from jadechain.sdk import JadechainClient, LedgerClient, Page, Proposal
from jadechain.sdk._models import typed_json

__all__ = ["EXPORT_FORMAT", "export_document", "query_app", "read_export", "tx_app", "write_export"]

tx_app = typer.Typer(
    help="Build, sign and submit transactions (online, or offline with --export / sign / send).",
    no_args_is_help=True,
)
query_app = typer.Typer(help="Query a ledger through a gateway (every command takes --json).", no_args_is_help=True)

console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
error_console = Console(stderr=True, highlight=False, soft_wrap=True)
"""Errors, prompts, spinners and progress go to stderr so that stdout stays clean for --json."""

DEFAULT_KEY_DIR = os.path.join(os.path.expanduser("~"), ".jadechain", "keys")
DEFAULT_GATEWAY = "http://127.0.0.1:8080"
PASSWORD_ENV = "JADECHAIN_KEY_PASSWORD"
EXPORT_FORMAT = "jadechain-tx/1"
VALUE_TYPES = ("text", "int", "json", "bytes", "bool")
SHOWN_VALUE_CHARS = 160


class CliError(JadechainError):
    """A problem on the client side that no lower layer names (bad argument, unreadable file)."""

    code = "INVALID_ARGUMENT"
    http_status = 400


class TransactionFailed(JadechainError):
    """A committed transaction whose recorded status is not SUCCESS; ``code`` is that status."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.code = status  # type: ignore[misc]


class CommitTimeout(JadechainError):
    code = "COMMIT_TIMEOUT"
    http_status = 504


# --- errors and output -------------------------------------------------------------------------

def _fail(code: str, message: str) -> "typer.Exit":
    error_console.print(f"[bold red]{escape(code)}[/]: {escape(message)}")
    return typer.Exit(1)


@contextlib.contextmanager
def _reporting_errors() -> Iterator[None]:
    """Turn every error into ``CODE: message`` + exit 1; never show a traceback to a user."""
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except JadechainError as error:
        raise _fail(error.code, error.message) from None
    except ValueError as error:
        raise _fail("INVALID_ARGUMENT", str(error)) from None
    except OSError as error:
        raise _fail("IO_ERROR", str(error)) from None
    except Exception as error:  # a bug: still no traceback unless asked for
        if os.environ.get("JADECHAIN_DEBUG"):
            raise
        raise _fail("INTERNAL_ERROR", f"{type(error).__name__}: {error} (JADECHAIN_DEBUG=1 shows the traceback)") from None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(_gateway_json(data), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _gateway_json(data: Any) -> Any:
    """What ``--json`` prints: an SDK result (or a list or page of them) in the gateway's JSON form."""
    if isinstance(data, Page):
        return {"total": data.total, "offset": data.offset, "limit": data.limit, "items": _gateway_json(list(data))}
    if isinstance(data, list):
        return [_gateway_json(item) for item in data]
    to_json = getattr(data, "to_json", None)
    return to_json() if callable(to_json) else data


def _record_table(data: dict[str, Any], title: str | None = None) -> Table:
    table = Table(show_header=False, title=title, title_justify="left", box=None, pad_edge=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in data.items():
        table.add_row(key, escape(_cell(value)))
    return table


def _cell(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"type", "value"}:
        return _show_value(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "-"
    return str(value)


def _show_plain(value: Any, type_name: str) -> str:
    """A plain value read through the SDK (an entry's, an event's) with its type, as :func:`_show_value` shows it."""
    return _show_value(typed_json(value, type_name))


def _show_value(value: dict[str, Any]) -> str:
    """A stored ``{type, value}`` as a person reads it: the value, then its type."""
    inner = value.get("value")
    text = inner if isinstance(inner, str) and value.get("type") == "TEXT" else json.dumps(inner, ensure_ascii=False)
    if len(text) > SHOWN_VALUE_CHARS:
        text = text[:SHOWN_VALUE_CHARS] + f"… ({len(text)} chars)"
    return f"{text}  ({value.get('type')})"


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> Table:
    table = Table(*columns, title=title, title_justify="left")
    for row in rows:
        table.add_row(*(escape(_cell(v)) for v in row))
    return table


# --- gateways and ledgers ---------------------------------------------------------------------

def _split_urls(values: Optional[List[str]]) -> list[str]:
    urls: list[str] = []
    for value in values or []:
        urls.extend(part.strip() for part in value.replace(",", " ").split() if part.strip())
    return urls or [DEFAULT_GATEWAY]


@dataclass
class Connection:
    """The gateways and ledger a command talks to; the SDK client is made on first use."""

    gateways: list[str]
    ledger_option: Optional[str]
    retry_timeout: float = 10.0
    _client: JadechainClient | None = None
    _ledger: LedgerClient | None = None

    def client(self) -> JadechainClient:
        if self._client is None:
            self._client = JadechainClient(self.gateways, retry_timeout=self.retry_timeout)
        return self._client

    def ledger(self) -> LedgerClient:
        """The SDK's :class:`~jadechain.sdk.LedgerClient` for ``--ledger`` (or the gateway's only ledger)."""
        if self._ledger is None:
            client = self.client()
            if self.ledger_option:
                self._ledger = LedgerClient(client, self.ledger_option)
            else:
                found = client.ledgers()
                if len(found) != 1:
                    names = ", ".join(item.hash for item in found) or "none"
                    raise ConfigError(f"the gateway hosts {len(found)} ledgers ({names}); name one with --ledger")
                self._ledger = LedgerClient(client, found[0].hash)
        return self._ledger

    def ledger_hash(self) -> str:
        """The ledger hash, without contacting a node when ``--ledger`` was given."""
        if self.ledger_option:
            return self.ledger_option
        return str(self.ledger().ledger_hash)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


# --- keys -------------------------------------------------------------------------------------

def key_path(name_or_path: str, key_dir: str) -> Path:
    """A key by name (``NAME.json`` in the key directory) or by path."""
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".json" or os.sep in name_or_path or candidate.exists():
        return candidate
    return Path(key_dir).expanduser() / f"{name_or_path}.json"


@dataclass
class KeyRing:
    """Loads the signers' keystores, asking for a password only when one is needed."""

    key_dir: str
    password_env: str
    _password: Optional[str] = None

    def document(self, name: str) -> dict[str, Any]:
        return load_keystore(key_path(name, self.key_dir))

    def public_key(self, name: str) -> PublicKey:
        return PublicKey.from_base58(str(self.document(name)["public_key"]))

    def keypair(self, name: str) -> KeyPair:
        document = self.document(name)
        password = self._password or os.environ.get(self.password_env)
        for attempt in range(3):
            if not password:
                password = self._prompt(name)
            try:
                private = decrypt_private_key(document, password)
            except WrongPassword:
                if not sys.stdin.isatty() or attempt == 2:
                    raise WrongPassword(f"wrong password for key {name!r}") from None
                error_console.print(f"wrong password for key {name!r}")
                password = None
                continue
            self._password = password
            return keypair_from_private(private)
        raise WrongPassword(f"wrong password for key {name!r}")

    def _prompt(self, name: str) -> str:
        if not sys.stdin.isatty():
            raise KeystoreError(f"no password for key {name!r}: set {self.password_env} or run in a terminal")
        return str(typer.prompt(f"Password of key {name!r}", hide_input=True, err=True))


def resolve_address(text: str, key_dir: str) -> str:
    """An address as given, or the address of a key file named ``text``."""
    try:
        decode_address(text)
        return text
    except InvalidAddress as error:
        path = key_path(text, key_dir)
        if path.exists():
            return str(load_keystore(path)["address"])
        raise InvalidAddress(f"{text!r} is neither an address ({error.message}) nor a key in {key_dir}") from None


# --- values and operations shown to people ---------------------------------------------------------

def parse_value(text: str, value_type: str) -> TypedValue:
    """A CLI value of ``--type``; ``@FILE`` reads the value from a file (``-`` from stdin)."""
    kind = value_type.lower()
    if kind not in VALUE_TYPES:
        raise CliError(f"--type must be one of {', '.join(VALUE_TYPES)}")
    raw: bytes | None = None
    if text.startswith("@"):
        source = text[1:]
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).expanduser().read_bytes()
    if kind == "bytes":
        if raw is not None:
            return TypedValue.bytes_(raw)
        try:
            return TypedValue.bytes_(bytes.fromhex(text.removeprefix("0x")))
        except ValueError:
            raise CliError("a bytes value is hex (or @FILE for a file's bytes)") from None
    body = raw.decode("utf-8") if raw is not None else text
    if kind == "text":
        return TypedValue.text(body)
    if kind == "int":
        try:
            return TypedValue.int64(int(body.strip()))
        except ValueError:
            raise CliError(f"{body!r} is not an integer") from None
    if kind == "bool":
        lowered = body.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise CliError(f"{body!r} is not a boolean (true/false)")
        return TypedValue.boolean(lowered in ("true", "1", "yes"))
    try:
        return TypedValue.json_(json.loads(body))
    except ValueError:
        raise CliError(f"not valid JSON (floats are not allowed either): {body[:80]!r}") from None


def value_to_text(value: TypedValue) -> str:
    if value.type == ValueType.BYTES:
        shown = "0x" + value.data.hex()
    elif value.type == ValueType.TEXT:
        shown = json.dumps(value.to_python(), ensure_ascii=False)
    else:
        shown = json.dumps(value.to_python(), ensure_ascii=False)
    if len(shown) > SHOWN_VALUE_CHARS:
        shown = shown[:SHOWN_VALUE_CHARS] + f"… ({len(value.data)} bytes)"
    return f"{shown} ({value.type.name})"


def _address_of(public_key: bytes) -> str:
    try:
        return address_from_public_key(PublicKey.from_encoded(public_key))
    except JadechainError:
        return f"<invalid key {public_key.hex()[:16]}…>"


def _names(items: Sequence[Any]) -> str:
    return ", ".join(getattr(item, "name", str(item)) for item in items) or "-"


def describe_operation(op: Operation) -> list[str]:
    """What one operation does, in lines a signer can check before signing."""
    if isinstance(op, RegisterUser):
        return [f"register user {op.name!r} at address {_address_of(op.public_key)}"]
    if isinstance(op, RegisterDataAccount):
        return [f"register data account {_address_of(op.public_key)} (writers: {op.write_policy.name})"]
    if isinstance(op, RegisterEventAccount):
        return [f"register event account {_address_of(op.public_key)}"]
    if isinstance(op, KVSet):
        return [
            f"set {op.account} [{w.key!r}] = {value_to_text(w.value)}, replacing version {w.expected_version}"
            + (" (new key)" if w.expected_version == -1 else "")
            for w in op.writes
        ]
    if isinstance(op, PublishEvents):
        return [
            f"publish on {op.account} topic {e.topic!r}: {value_to_text(e.content)}"
            + ("" if e.expected_sequence == APPEND_ANY else f", after sequence {e.expected_sequence}")
            for e in op.events
        ]
    if isinstance(op, DeployContract):
        digest = hashlib.sha256(op.source.encode("utf-8")).hexdigest()[:16]
        return [f"deploy contract {_address_of(op.public_key)} version {op.version} "
                f"({len(op.source.encode('utf-8'))} bytes of source, sha256 {digest}…)"]
    if isinstance(op, UpgradeContract):
        digest = hashlib.sha256(op.source.encode("utf-8")).hexdigest()[:16]
        return [f"upgrade contract {op.address} to version {op.version} (sha256 {digest}…)"]
    if isinstance(op, InvokeContract):
        try:
            args = ", ".join(json.dumps(_jsonable(a), ensure_ascii=False) for a in codec.unpack_canonical(op.args))
        except JadechainError:
            args = f"<{len(op.args)} bytes>"
        return [f"invoke {op.address}.{op.method}({args}) with gas limit {op.gas_limit}"]
    if isinstance(op, UpdateAccountState):
        return [f"set account {op.address} to {op.state.name}"]
    if isinstance(op, ConfigureRole):
        parts = [f"configure role {op.role!r}:"]
        for label, items in (("grant", op.grant_ledger), ("revoke", op.revoke_ledger),
                             ("grant tx", op.grant_tx), ("revoke tx", op.revoke_tx)):
            if items:
                parts.append(f"{label} {_names(items)};")
        return [" ".join(parts).rstrip(";")]
    if isinstance(op, AuthorizeUserRoles):
        return [f"user {user}: add roles {', '.join(op.authorize) or '-'}, remove roles "
                f"{', '.join(op.unauthorize) or '-'}, policy {op.policy.name}" for user in op.users]
    if isinstance(op, RegisterParticipant):
        return [f"register participant {op.name!r} with key {to_base58(op.public_key)}"]
    if isinstance(op, UpdateParticipantState):
        return [f"set participant {op.address} to {op.state.name}"]
    if isinstance(op, UpdateLedgerSettings):
        return [f"change ledger setting {op.name!r} to {value_to_text(op.value)}"]
    if isinstance(op, Propose):
        expiry = f", open until {_iso(op.expiry)}" if op.expiry else ""
        try:
            inner = codec.decode(ProposedOperations, op.operations).operations
        except JadechainError:
            return [f"propose {len(op.operations)} undecodable bytes (reason {op.reason!r})"]
        return [f"propose to the member organisations (reason {op.reason!r}{expiry}):"] + [
            "    " + line for item in inner for line in describe_operation(item)
        ]
    if isinstance(op, Vote):
        return [f"vote {'FOR' if op.approve else 'AGAINST'} proposal {op.proposal.hex()}"]
    return [repr(op)]


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def summarize(content: TransactionContent) -> list[str]:
    lines = [line for op in content.operations for line in describe_operation(op)]
    if content.expiry:
        lines.append(f"expires at {_iso(content.expiry)}")
    return lines


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds")


# --- transactions: build, export, sign, submit --------------------------------------------------

@dataclass
class TxPlan:
    """What a tx command wants on chain, plus facts to print with the result (e.g. new addresses)."""

    operations: list[Operation]
    extras: dict[str, Any] = field(default_factory=dict)
    explain_failure: Optional[Callable[[str], Optional[str]]] = None
    """Given a failed status, a more helpful message (e.g. the current version on a conflict)."""
    show_events: bool = False
    """After a success, fetch and print the events the transaction emitted (contract calls)."""
    success_extras: dict[str, Any] = field(default_factory=dict)
    """Facts true only if the transaction succeeds (e.g. the version written); left out on failure."""
    failure_extras: dict[str, Any] = field(default_factory=dict)
    """Facts reported instead when it fails (e.g. the version it expected)."""


@dataclass
class TxSession:
    """The options every transaction command shares."""

    connection: Connection
    keys: list[str]
    keyring: KeyRing
    wait: bool
    timeout: float
    export: Optional[Path]
    expires_in: Optional[int]
    as_json: bool

    def build_content(self, operations: Sequence[Operation]) -> TransactionContent:
        now = int(time.time() * 1000)
        return TransactionContent(
            ledger_hash=from_base58(self.connection.ledger_hash()),
            operations=tuple(operations),
            time=now,
            nonce=os.urandom(16),
            expiry=now + self.expires_in * 1000 if self.expires_in else 0,
        )

    def signers(self) -> list[KeyPair]:
        return [self.keyring.keypair(name) for name in self.keys]


def sign_transaction(content: TransactionContent, existing: Sequence[EndpointSignature],
                     signers: Sequence[KeyPair]) -> Transaction:
    """Add the signers' endpoint signatures (a key that already signed is not added twice)."""
    tx_hash = hash_transaction_content(content)
    signatures = list(existing)
    present = {s.public_key for s in signatures}
    for pair in signers:
        if pair.public.encoded in present:
            continue
        signatures.append(EndpointSignature(pair.public.encoded, sign(pair.private, tx_hash)))
        present.add(pair.public.encoded)
    return Transaction(content, tuple(signatures))


def export_document(tx: Transaction) -> dict[str, Any]:
    """The offline transaction file: what to sign (content), what it does (summary), who signed."""
    content = tx.content
    return {
        "format": EXPORT_FORMAT,
        "ledger_hash": to_base58(content.ledger_hash),
        "tx_hash": to_base58(hash_transaction_content(content)),
        "created": _iso(content.time) if content.time else None,
        "summary": summarize(content),
        "content": codec.encode(content).hex(),
        "signatures": [
            {"address": _address_of(s.public_key), "public_key": to_base58(s.public_key),
             "signature": to_base58(s.signature)}
            for s in tx.signatures
        ],
    }


def read_export(path: Path) -> tuple[Transaction, dict[str, Any]]:
    """Load an exported transaction and check it: content ↔ hash ↔ ledger, every signature."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CliError(f"cannot read transaction file {path}: {error}") from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise CliError(f"{path} is not an exported transaction ({EXPORT_FORMAT})")
    try:
        content = codec.decode(TransactionContent, bytes.fromhex(document["content"]))
    except (KeyError, TypeError, ValueError) as error:
        raise CliError(f"{path}: transaction content is not valid hex: {error}") from None
    tx_hash = hash_transaction_content(content)
    if document.get("tx_hash") != to_base58(tx_hash):
        raise CliError(f"{path}: tx_hash does not match the content (the file was edited)")
    if document.get("ledger_hash") != to_base58(content.ledger_hash):
        raise CliError(f"{path}: ledger_hash does not match the content (the file was edited)")
    signatures = []
    for position, item in enumerate(document.get("signatures") or []):
        try:
            signature = EndpointSignature(from_base58(item["public_key"]), from_base58(item["signature"]))
            valid = verify(PublicKey.from_encoded(signature.public_key), tx_hash, signature.signature)
        except (KeyError, TypeError) as error:
            raise CliError(f"{path}: signature {position} is malformed: {error}") from None
        if not valid:
            raise InvalidSignature(f"{path}: signature {position} ({item.get('address')}) does not verify")
        signatures.append(signature)
    return Transaction(content, tuple(signatures)), document


def write_export(path: Path, tx: Transaction) -> dict[str, Any]:
    document = export_document(tx)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return document


def submit_and_report(session: TxSession, tx: Transaction, plan: Optional[TxPlan] = None) -> None:
    """Submit, wait (with a spinner), print the result; a failed transaction exits 1 with its status."""
    ledger = session.connection.ledger()
    tx_hash = to_base58(hash_transaction_content(tx.content))
    extras = dict(plan.extras) if plan else {}
    if session.wait:
        with error_console.status(f"submitted {tx_hash}; waiting for the commit…", spinner="dots"):
            result = ledger.submit(tx, wait=True, timeout=session.timeout)
    else:
        result = ledger.submit(tx, wait=False)
    if plan is not None:
        failed = result.committed and result.status != "SUCCESS"
        extras.update(plan.failure_extras if failed else plan.success_extras)
    report: dict[str, Any] = {
        "tx_hash": result.tx_hash, "committed": result.committed, "status": result.status,
        "height": result.height, "index": result.index, "gas_used": result.gas_used,
        **({"results": [_jsonable(value) for value in result.results]} if result.results else {}), **extras,
    }
    if session.as_json:
        _print_json(report)
    else:
        console.print(f"tx [bold]{result.tx_hash}[/]")
        if result.committed:
            colour = "green" if result.status == "SUCCESS" else "red"
            console.print(f"  {'status':12} [{colour}]{result.status}[/]\n"
                          f"  {'height':12} {result.height} (index {result.index})\n  {'gas':12} {result.gas_used}")
            if result.results:
                console.print(f"  {'returned':12} " + escape(json.dumps(_jsonable(result.return_value), ensure_ascii=False)))
        else:
            console.print("  submitted" + ("" if not session.wait else " (not committed yet)"))
        if not result.committed or result.status == "SUCCESS":
            for key, value in extras.items():
                console.print(f"  {key:12} {escape(str(value))}")
        if plan is not None and plan.show_events and result.committed and result.status == "SUCCESS":
            for event in ledger.get_tx(result.tx_hash).events:
                console.print(f"  {'event':12} {event.topic!r} #{event.sequence}: "
                              + escape(_show_plain(event.content, event.content_type)))
    if session.wait and not result.committed:
        raise CommitTimeout(f"{result.tx_hash} was not committed within {session.timeout:g}s; "
                            f"check later with `jadechain query tx {result.tx_hash}`")
    if result.committed and result.status != "SUCCESS":
        detail = plan.explain_failure(str(result.status)) if plan and plan.explain_failure else None
        raise TransactionFailed(str(result.status), detail or f"transaction {result.tx_hash} failed at height "
                                f"{result.height}; nothing it did was applied")


def run_plan(session: TxSession, plan: TxPlan) -> None:
    content = session.build_content(plan.operations)
    if session.export is not None:
        signers = session.signers() if session.keys else []
        tx = sign_transaction(content, (), signers)
        document = write_export(session.export, tx)
        info = {"file": str(session.export), "tx_hash": document["tx_hash"], "ledger_hash": document["ledger_hash"],
                "signed_by": [s["address"] for s in document["signatures"]], "summary": document["summary"],
                **plan.extras, **plan.success_extras}
        if session.as_json:
            _print_json(info)
        else:
            console.print(f"transaction [bold]{document['tx_hash']}[/] written to {session.export}")
            for line in document["summary"]:
                console.print(f"  • {escape(line)}")
            for key, value in {**plan.extras, **plan.success_extras}.items():
                console.print(f"  {key:12} {escape(str(value))}")
            signed = ", ".join(info["signed_by"]) or "nobody yet"
            console.print(f"signed by: {signed}\nnext: jadechain tx sign {session.export} --key NAME, "
                          f"then jadechain tx send {session.export}")
        return
    if not session.keys:
        raise CliError("name at least one signer with --key (or write the transaction to a file with --export)")
    tx = sign_transaction(content, (), session.signers())
    submit_and_report(session, tx, plan)


# --- the decorator that adds the shared options -------------------------------------------------------

SHARED_PREFIX = "shared_"
"""Shared options get prefixed parameter names so they never clash with a command's own (e.g. KEY)."""


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(SHARED_PREFIX + name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)


def _connection_parameters() -> list[inspect.Parameter]:
    return [
        _option("gateway", Optional[List[str]], typer.Option(
            None, "--gateway", "-g", envvar="JADECHAIN_GATEWAY", show_default=DEFAULT_GATEWAY,
            help="Gateway URL; repeat (or separate by commas) for failover. Env JADECHAIN_GATEWAY.")),
        _option("ledger", Optional[str], typer.Option(
            None, "--ledger", "-l", envvar="JADECHAIN_LEDGER",
            help="Ledger hash (base58); default: the gateway's only ledger. Env JADECHAIN_LEDGER.")),
    ]


def _tx_parameters() -> list[inspect.Parameter]:
    return _connection_parameters() + [
        _option("key", Optional[List[str]], typer.Option(
            None, "--key", "-k", help="Signer: key name in --key-dir or a keystore path; repeat for multi-signature.")),
        _option("key_dir", str, typer.Option(DEFAULT_KEY_DIR, "--key-dir", envvar="JADECHAIN_KEY_DIR",
                                             help="Directory of key files (NAME.json).")),
        _option("password_env", str, typer.Option(PASSWORD_ENV, "--password-env",
                                                  help="Environment variable holding the key password (else a prompt).")),
        _option("wait", bool, typer.Option(True, "--wait/--no-wait", help="Wait for the commit and print the result.")),
        _option("timeout", float, typer.Option(30.0, "--timeout", min=0.1, max=120, help="Seconds to wait for the commit.")),
        _option("export", Optional[Path], typer.Option(
            None, "--export", help="Write the transaction to FILE instead of sending it (offline signing).")),
        _option("expires_in", Optional[int], typer.Option(
            None, "--expires-in", min=1, help="Seconds after which the transaction may no longer be included.")),
        _option("as_json", bool, typer.Option(False, "--json", help="Print the result as JSON.")),
    ]


def _query_parameters() -> list[inspect.Parameter]:
    return _connection_parameters() + [
        _option("as_json", bool, typer.Option(False, "--json", help="Print JSON (for scripts).")),
    ]


def _command(app: typer.Typer, name: str, shared: Callable[[], list[inspect.Parameter]],
             make_context: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``func(context, **own options)`` as ``name`` with the shared options appended.

    Typer reads the signature, so the wrapper advertises the command's own parameters followed by
    the shared ones; it builds the context from the shared values and reports errors uniformly.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        own = list(inspect.signature(func).parameters.values())[1:]
        extra = shared()
        parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + extra
        shared_names = [p.name for p in extra]

        def wrapper(**kwargs: Any) -> None:
            common = {n.removeprefix(SHARED_PREFIX): kwargs.pop(n) for n in shared_names}
            with _reporting_errors():
                context = make_context(**common)
                try:
                    func(context, **kwargs)
                finally:
                    connection = getattr(context, "connection", context)
                    if isinstance(connection, Connection):
                        connection.close()

        wrapper.__name__ = func.__name__
        wrapper.__doc__ = func.__doc__
        wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        app.command(name)(wrapper)
        return func

    return decorate


def api_get(ledger: Any, path: str, **params: Any) -> Any:
    """GET a ledger path the SDK has no method for (``/roles``, ``/participants``, ...), with failover."""
    return ledger.client.request("GET", ledger.base + path, params={k: v for k, v in params.items() if v is not None})


@dataclass
class QueryContext:
    connection: Connection
    as_json: bool

    def ledger(self) -> LedgerClient:
        return self.connection.ledger()

    def show(self, data: Any, render: Callable[[], Any]) -> None:
        if self.as_json:
            _print_json(data)
        else:
            rendered = render()
            if rendered is not None:
                console.print(rendered)


def _make_query_context(gateway: Optional[List[str]], ledger: Optional[str], as_json: bool) -> QueryContext:
    return QueryContext(Connection(_split_urls(gateway), ledger), as_json)


def _make_tx_session(
    gateway: Optional[List[str]], ledger: Optional[str], key: Optional[List[str]], key_dir: str, password_env: str,
    wait: bool, timeout: float, export: Optional[Path], expires_in: Optional[int], as_json: bool,
) -> TxSession:
    return TxSession(
        connection=Connection(_split_urls(gateway), ledger), keys=list(key or []),
        keyring=KeyRing(key_dir, password_env), wait=wait, timeout=timeout, export=export,
        expires_in=expires_in, as_json=as_json,
    )


def tx_command(name: str) -> Callable[[Callable[..., TxPlan]], Callable[..., TxPlan]]:
    """A command that returns the :class:`TxPlan` to sign and send (or export)."""

    def decorate(func: Callable[..., TxPlan]) -> Callable[..., TxPlan]:
        @functools.wraps(func)
        def run(session: TxSession, **kwargs: Any) -> None:
            run_plan(session, func(session, **kwargs))

        _command(tx_app, name, _tx_parameters, _make_tx_session)(run)
        return func

    return decorate


def query_command(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return _command(query_app, name, _query_parameters, _make_query_context)


def _split_list(values: Optional[List[str]]) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _permissions(values: Optional[List[str]], kind: Any) -> tuple[Any, ...]:
    chosen = []
    for name in _split_list(values):
        try:
            chosen.append(kind[name.upper().replace("-", "_")])
        except KeyError:
            known = ", ".join(member.name for member in kind)
            raise CliError(f"unknown permission {name!r}; one of: {known}") from None
    return tuple(dict.fromkeys(chosen))


def _current_version(session: TxSession, account: str, key: str) -> int:
    try:
        return session.connection.ledger().get_entry(account, key).version
    except JadechainError as error:
        if error.code == "NOT_FOUND":
            return -1
        raise


# --- tx commands -------------------------------------------------------------------------------------

@tx_command("kv-set")
def tx_kv_set(
    session: TxSession,
    account: str = typer.Argument(..., help="Data account address."),
    key: str = typer.Argument(..., help="Entry key."),
    value: str = typer.Argument(..., help="Value (@FILE reads a file, @- stdin)."),
    value_type: str = typer.Option("text", "--type", "-t", help="text, int, json, bytes (hex) or bool."),
    expected_version: Optional[int] = typer.Option(
        None, "--expected-version", "-e", min=-1, help="The entry's current version (-1: a new key)."),
    auto_version: bool = typer.Option(False, "--auto-version", help="Ask the gateway for the current version."),
) -> TxPlan:
    """Write one entry of a data account, naming the version it replaces (default -1: a new key)."""
    if auto_version and expected_version is not None:
        raise CliError("give --expected-version or --auto-version, not both")
    typed = parse_value(value, value_type)
    expected = _current_version(session, account, key) if auto_version else (
        -1 if expected_version is None else expected_version)

    def explain(status: str) -> Optional[str]:
        if status != "VERSION_CONFLICT":
            return None
        try:
            current = _current_version(session, account, key)
        except JadechainError:
            return None
        return (f"key {key!r} of {account} is at version {current}, not {expected}; "
                f"retry with --expected-version {current} or --auto-version")

    return TxPlan([KVSet(account, (KVWrite(key, typed, expected),))],
                  {"account": account, "key": key}, explain,
                  success_extras={"version": expected + 1}, failure_extras={"expected_version": expected})


def read_import_rows(path: Path, default_type: str) -> list[tuple[str, TypedValue]]:
    """Rows of a CSV (``key,value[,type]``) or JSON-lines (``{"key", "value"[, "type"]}``) file."""
    import csv

    text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    rows: list[tuple[str, TypedValue]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                key, value = str(item["key"]), item["value"]
            except (ValueError, KeyError, TypeError) as error:
                raise CliError(f"{path}:{number}: expected {{\"key\": ..., \"value\": ...}} ({error})") from None
            kind = str(item.get("type") or ("json" if not isinstance(value, str) else default_type))
            shown = value if isinstance(value, str) else json.dumps(value)
            rows.append((key, parse_value(shown, kind)))
    else:
        for number, record in enumerate(csv.reader(text.splitlines()), 1):
            if not record or (number == 1 and [c.strip().lower() for c in record[:2]] == ["key", "value"]):
                continue
            if len(record) < 2:
                raise CliError(f"{path}:{number}: expected key,value[,type]")
            kind = record[2].strip() if len(record) > 2 and record[2].strip() else default_type
            rows.append((record[0], parse_value(record[1], kind)))
    seen: set[str] = set()
    for key, _ in rows:
        if key in seen:
            raise CliError(f"key {key!r} appears twice in {path}; import one version per key")
        seen.add(key)
    if not rows:
        raise CliError(f"{path} has no rows")
    return rows


def _tx_kv_import(
    session: TxSession,
    account: str = typer.Argument(..., help="Data account address."),
    file: Path = typer.Argument(..., help="CSV (key,value[,type]) or .jsonl ({key, value, type}); - for stdin."),
    value_type: str = typer.Option("text", "--type", "-t", help="Type of values that name none."),
    batch: int = typer.Option(100, "--batch", min=1, max=1000, help="Writes per transaction."),
    auto_version: bool = typer.Option(False, "--auto-version",
                                      help="Overwrite existing keys (asks each key's version; slower)."),
) -> None:
    """Load many entries into a data account, in batched transactions, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if session.export is not None:
        raise CliError("kv-import sends its transactions; --export is for single transactions")
    if not session.keys:
        raise CliError("name at least one signer with --key")
    rows = read_import_rows(file, value_type)
    signers = session.signers()
    ledger = session.connection.ledger()
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=error_console, disable=session.as_json or not error_console.is_terminal)
    committed = 0
    failures: list[dict[str, Any]] = []
    tx_hashes: list[str] = []
    with progress:
        versions: dict[str, int] = {}
        if auto_version:
            task = progress.add_task("reading versions", total=len(rows))
            for key, _ in rows:
                versions[key] = _current_version(session, account, key)
                progress.advance(task)
        task = progress.add_task("writing", total=len(rows))
        chunks = [rows[start:start + batch] for start in range(0, len(rows), batch)]
        transactions = [
            sign_transaction(session.build_content([KVSet(account, tuple(
                KVWrite(key, value, versions.get(key, -1)) for key, value in chunk))]), (), signers)
            for chunk in chunks
        ]
        group = 20  # transactions per request; each group is waited for before the next is sent
        for start in range(0, len(transactions), group):
            results = ledger.submit_many(transactions[start:start + group], wait=session.wait, timeout=session.timeout)
            for chunk, result in zip(chunks[start:start + group], results):
                if isinstance(result, JadechainError):
                    failures.append({"keys": len(chunk), "code": result.code, "message": result.message})
                    continue
                tx_hashes.append(result.tx_hash)
                if session.wait and result.status != "SUCCESS":
                    hint = " (some keys exist already: --auto-version overwrites them)" \
                        if result.status == "VERSION_CONFLICT" and not auto_version else ""
                    failures.append({"keys": len(chunk), "code": result.status or "COMMIT_TIMEOUT",
                                     "message": f"transaction {result.tx_hash}{hint}"})
                    continue
                committed += len(chunk)
                progress.advance(task, len(chunk))
    summary = {"account": account, "rows": len(rows), "transactions": len(transactions),
               "written" if session.wait else "submitted": committed, "failed": failures, "tx_hashes": tx_hashes}
    if session.as_json:
        _print_json(summary)
    else:
        verb = "written" if session.wait else "submitted"
        console.print(f"{committed} of {len(rows)} entries {verb} in {len(transactions)} transaction(s)")
        for failure in failures:
            console.print(f"  [red]{failure['code']}[/]: {failure['keys']} entries — {escape(str(failure['message']))}")
    if failures:
        first = failures[0]
        raise TransactionFailed(str(first["code"]), f"{len(failures)} transaction(s) failed; first: {first['message']}")


_command(tx_app, "kv-import", _tx_parameters, _make_tx_session)(_tx_kv_import)


def _key_label(name_or_path: str) -> str:
    """``alice`` for ``alice``, ``keys/alice.json`` or ``/abs/alice.json``: a user is never named after a path."""
    stem = Path(name_or_path).name
    return stem[: -len(".json")] if stem.endswith(".json") and len(stem) > len(".json") else stem


@tx_command("user-register")
def tx_user_register(
    session: TxSession,
    public_key: Optional[str] = typer.Option(None, "--public-key", help="The user's public key (base58)."),
    key_name: Optional[str] = typer.Option(None, "--key-name", help="Take the public key from this key file."),
    name: Optional[str] = typer.Option(None, "--name", help="User name (default: the key name)."),
) -> TxPlan:
    """Register a user (an identity that may sign transactions)."""
    if (public_key is None) == (key_name is None):
        raise CliError("give exactly one of --public-key and --key-name")
    public = PublicKey.from_base58(public_key) if public_key else session.keyring.public_key(str(key_name))
    user_name = name or (_key_label(key_name) if key_name else "user")
    return TxPlan([RegisterUser(public.encoded, user_name)],
                  {"address": address_from_public_key(public), "name": user_name})


def _account_key(session: TxSession, public_key: Optional[str], algorithm: str,
                 account_key: Optional[str] = None) -> PublicKey:
    """The identity key of a new account: given, read from a key file, or fresh (then discarded:
    the address is all that matters, writes are authorised by the owners' signatures)."""
    if public_key and account_key:
        raise CliError("give --public-key or --account-key, not both")
    if public_key:
        return PublicKey.from_base58(public_key)
    if account_key:
        return session.keyring.public_key(account_key)
    return generate_keypair(algorithm_by_name(algorithm)).public


@tx_command("account-register")
def tx_account_register(
    session: TxSession,
    any_writer: bool = typer.Option(False, "--any-writer",
                                    help="Anyone with WRITE_DATA_ACCOUNT may write (default: only its owners)."),
    public_key: Optional[str] = typer.Option(None, "--public-key", help="Use this public key (default: a fresh one)."),
    account_key: Optional[str] = typer.Option(None, "--account-key", help="Take the public key from this key file."),
    algorithm: str = typer.Option("ed25519", "--algorithm", help="Algorithm of the fresh key: ed25519, sm2, ecdsa."),
) -> TxPlan:
    """Register a data account; the signers become its owners. Prints its address."""
    public = _account_key(session, public_key, algorithm, account_key)
    policy = WritePolicy.ANY_WRITER if any_writer else WritePolicy.OWNERS
    return TxPlan([RegisterDataAccount(public.encoded, policy)],
                  {"address": address_from_public_key(public), "write_policy": policy.name})


@tx_command("event-account-register")
def tx_event_account_register(
    session: TxSession,
    public_key: Optional[str] = typer.Option(None, "--public-key", help="Use this public key (default: a fresh one)."),
    account_key: Optional[str] = typer.Option(None, "--account-key", help="Take the public key from this key file."),
    algorithm: str = typer.Option("ed25519", "--algorithm"),
) -> TxPlan:
    """Register an event account (topics of sequenced events). Prints its address."""
    public = _account_key(session, public_key, algorithm, account_key)
    return TxPlan([RegisterEventAccount(public.encoded)], {"address": address_from_public_key(public)})


@tx_command("publish")
def tx_publish(
    session: TxSession,
    account: str = typer.Argument(..., help="Event account address."),
    topic: str = typer.Argument(...),
    content: str = typer.Argument(..., help="Event content (@FILE reads a file)."),
    value_type: str = typer.Option("text", "--type", "-t", help="text, int, json, bytes (hex) or bool."),
    expected_sequence: Optional[int] = typer.Option(
        None, "--expected-sequence", min=-1, help="Fail unless the topic's last sequence is this (-1: empty)."),
) -> TxPlan:
    """Publish one event on a topic of an event account."""
    expected = APPEND_ANY if expected_sequence is None else expected_sequence
    return TxPlan([PublishEvents(account, (EventWrite(topic, parse_value(content, value_type), expected),))],
                  {"account": account, "topic": topic})


@tx_command("role")
def tx_role(
    session: TxSession,
    name: str = typer.Argument(..., help="Role name."),
    grant: Optional[List[str]] = typer.Option(None, "--grant", help="Ledger permission(s) to grant (repeat or a,b)."),
    revoke: Optional[List[str]] = typer.Option(None, "--revoke", help="Ledger permission(s) to revoke."),
    grant_tx: Optional[List[str]] = typer.Option(None, "--grant-tx", help="DIRECT_OPERATION and/or CONTRACT_OPERATION."),
    revoke_tx: Optional[List[str]] = typer.Option(None, "--revoke-tx"),
) -> TxPlan:
    """Create or change a role: grant and revoke ledger and transaction permissions."""
    operation = ConfigureRole(
        name, _permissions(grant, LedgerPermission), _permissions(revoke, LedgerPermission),
        _permissions(grant_tx, TransactionPermission), _permissions(revoke_tx, TransactionPermission),
    )
    if not (operation.grant_ledger or operation.revoke_ledger or operation.grant_tx or operation.revoke_tx):
        raise CliError("nothing to change: give --grant, --revoke, --grant-tx or --revoke-tx")
    return TxPlan([operation], {"role": name})


@tx_command("authorize")
def tx_authorize(
    session: TxSession,
    users: List[str] = typer.Argument(..., help="User address(es) or key name(s)."),
    roles: Optional[List[str]] = typer.Option(None, "--roles", "--role", "-r", help="Role(s) to add (repeat or a,b)."),
    unauthorize: Optional[List[str]] = typer.Option(None, "--unauthorize", help="Role(s) to remove."),
    policy: str = typer.Option("union", "--policy", help="How the user's roles combine: union or intersect."),
) -> TxPlan:
    """Give users roles (and take roles away)."""
    try:
        roles_policy = RolesPolicy[policy.upper()]
    except KeyError:
        raise CliError("--policy must be union or intersect") from None
    added, removed = _split_list(roles), _split_list(unauthorize)
    if not added and not removed:
        raise CliError("give --roles and/or --unauthorize")
    addresses = tuple(resolve_address(user, session.keyring.key_dir) for user in users)
    return TxPlan([AuthorizeUserRoles(addresses, tuple(added), tuple(removed), roles_policy)],
                  {"users": ", ".join(addresses)})


@tx_command("propose")
def tx_propose(
    session: TxSession,
    operations_file: Path = typer.Argument(..., help="A transaction exported by any tx command with --export "
                                          "(unsigned is fine): its operations are what you propose."),
    reason: str = typer.Option(..., "--reason", help="Why; shown to every member organisation."),
    open_for: Optional[int] = typer.Option(None, "--open-for", min=1,
                                           help="Seconds the proposal stays open (default: the ledger's policy)."),
) -> TxPlan:
    """Propose operations your organisation may not run alone; your organisation approves by proposing.

    The proposal's id is this transaction's hash. It runs in the block where the ledger's
    policy is met (votes: `jadechain tx vote ID`), or is rejected or expires.
    """
    exported, _ = read_export(operations_file)
    if exported.content.ledger_hash and exported.content.ledger_hash != from_base58(session.connection.ledger_hash()):
        raise CliError(f"{operations_file} is a transaction for another ledger")
    expiry = int(time.time() * 1000) + open_for * 1000 if open_for else 0
    inner = ProposedOperations(tuple(exported.content.operations))
    plan = TxPlan([Propose(codec.encode(inner), reason, expiry)], {"operations": len(inner.operations)})
    plan.success_extras["next"] = "members vote with: jadechain tx vote <tx hash above>"
    return plan


@tx_command("vote")
def tx_vote(
    session: TxSession,
    proposal: str = typer.Argument(..., help="The proposal id: the proposing transaction's hash (base58 or hex)."),
    reject: bool = typer.Option(False, "--reject", help="Vote against (default: for)."),
) -> TxPlan:
    """Vote for (or, with --reject, against) a proposal, for the signer's organisation."""
    from jadechain.sdk.client import proposal_key_of

    try:
        key = proposal_key_of(proposal)
    except (ValueError, JadechainError):
        raise CliError(f"{proposal!r} is not a proposal id (hex or base58 transaction hash)") from None
    return TxPlan([Vote(bytes.fromhex(key), not reject)], {"proposal": key, "vote": "against" if reject else "for"})


def ledger_contract_engine(session: TxSession) -> str:
    """The contract engine the ledger recorded at genesis (empty: the deprecated legacy sandbox)."""
    info = api_get(session.connection.ledger(), "")
    engine = (info.get("settings") or {}).get("contract_engine", "") if isinstance(info, dict) else ""
    return engine if isinstance(engine, str) else ""


def read_contract_source(path: Path, engine: str) -> str:
    """Read a contract and validate it locally by the rules of the ledger's ``engine``,
    showing where and which rule it breaks."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"cannot read {path}: {error}") from None
    from contracts.engines import validate_for_engine

    try:
        validate_for_engine(source, engine)
    except ContractRejected as error:
        line = int(str(error.details.get("line") or 0))
        column = int(str(error.details.get("column") or 0))
        rule = error.details.get("rule") or "?"
        error_console.print(f"{path}:{line}:{column}: rule [bold]{escape(str(rule))}[/]")
        lines = source.splitlines()
        if 0 < line <= len(lines):
            error_console.print(f"  {line:4} | {escape(lines[line - 1])}")
            if column > 0:
                error_console.print("       | " + " " * (column - 1) + "[bold red]^[/]")
        raise
    return source


@tx_command("contract-deploy")
def tx_contract_deploy(
    session: TxSession,
    file: Path = typer.Argument(..., help="Contract source (.py)."),
    version: int = typer.Option(1, "--version", min=1),
    public_key: Optional[str] = typer.Option(None, "--public-key", help="Contract identity key (default: fresh)."),
) -> TxPlan:
    """Validate a contract locally by the rules of the ledger's contract engine, then deploy it. Prints its address."""
    source = read_contract_source(file, ledger_contract_engine(session))
    public = _account_key(session, public_key, "ed25519")
    return TxPlan([DeployContract(public.encoded, source, version)],
                  {"address": address_from_public_key(public), "version": version})


@tx_command("contract-upgrade")
def tx_contract_upgrade(
    session: TxSession,
    address: str = typer.Argument(...),
    file: Path = typer.Argument(..., help="New contract source (.py)."),
    version: int = typer.Option(..., "--version", min=2, help="New version (greater than the deployed one)."),
) -> TxPlan:
    """Replace a contract's code with a validated new version."""
    return TxPlan([UpgradeContract(address, read_contract_source(file, ledger_contract_engine(session)), version)],
                  {"address": address, "version": version})


def parse_argument(text: str) -> Any:
    """A contract argument: JSON (``42``, ``"42"``, ``[1,2]``, ``true``), else the text itself."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, float):
        raise CliError(f"floats are not allowed as contract arguments: {text}")
    return value


@tx_command("contract-invoke")
def tx_contract_invoke(
    session: TxSession,
    address: str = typer.Argument(..., help="Contract address."),
    method: str = typer.Argument(...),
    args: Optional[List[str]] = typer.Argument(None, help="Arguments as JSON (plain words are strings)."),
    gas: int = typer.Option(1_000_000, "--gas", min=1, help="Gas limit."),
) -> TxPlan:
    """Call a contract method."""
    values = [parse_argument(arg) for arg in args or []]
    return TxPlan([InvokeContract(address, method, codec.pack_canonical(values), gas)],
                  {"contract": address, "method": method}, show_events=True)


def _state_change(session: TxSession, address: str, state: AccountState) -> TxPlan:
    resolved = resolve_address(address, session.keyring.key_dir)
    return TxPlan([UpdateAccountState(resolved, state)], {"account": resolved, "state": state.name})


@tx_command("freeze")
def tx_freeze(session: TxSession, address: str = typer.Argument(..., help="Account or contract address.")) -> TxPlan:
    """Freeze a user, data, event or contract account (reversible)."""
    return _state_change(session, address, AccountState.FROZEN)


@tx_command("unfreeze")
def tx_unfreeze(session: TxSession, address: str = typer.Argument(...)) -> TxPlan:
    """Unfreeze a frozen account."""
    return _state_change(session, address, AccountState.NORMAL)


@tx_command("revoke")
def tx_revoke(
    session: TxSession, address: str = typer.Argument(...),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> TxPlan:
    """Revoke an account for good (it can never be used again)."""
    if not yes and session.export is None:
        if not sys.stdin.isatty():
            raise CliError("revoking is permanent: confirm with --yes")
        if not typer.confirm(f"Revoke {address} for good?", err=True):
            raise typer.Abort()
    return _state_change(session, address, AccountState.REVOKED)


# --- offline flow: show, sign, send --------------------------------------------------------------

def _print_export(tx: Transaction, path: Path, out: Console) -> None:
    tx_hash = to_base58(hash_transaction_content(tx.content))
    out.print(f"transaction [bold]{tx_hash}[/] ({path})")
    out.print(f"  ledger     {to_base58(tx.content.ledger_hash)}")
    if tx.content.time:
        out.print(f"  created    {_iso(tx.content.time)}")
    for line in summarize(tx.content):
        out.print(f"  • {escape(line)}")
    signed = ", ".join(_address_of(s.public_key) for s in tx.signatures) or "nobody yet"
    out.print(f"  signed by  {signed}")


def _export_info(tx: Transaction, path: Path) -> dict[str, Any]:
    return {"file": str(path), "tx_hash": to_base58(hash_transaction_content(tx.content)),
            "ledger_hash": to_base58(tx.content.ledger_hash), "summary": summarize(tx.content),
            "signed_by": [_address_of(s.public_key) for s in tx.signatures]}


@tx_app.command("show")
def tx_show(
    file: Path = typer.Argument(..., help="An exported transaction."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show what an exported transaction does and who signed it (signatures are checked)."""
    with _reporting_errors():
        tx, _ = read_export(file)
        if as_json:
            _print_json(_export_info(tx, file))
        else:
            _print_export(tx, file, console)


@tx_app.command("sign")
def tx_sign(
    file: Path = typer.Argument(..., help="An exported transaction (updated in place)."),
    key: List[str] = typer.Option(..., "--key", "-k", help="Signer key name or path; repeatable."),
    key_dir: str = typer.Option(DEFAULT_KEY_DIR, "--key-dir", envvar="JADECHAIN_KEY_DIR"),
    password_env: str = typer.Option(PASSWORD_ENV, "--password-env"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Sign without asking for confirmation."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add signatures to an exported transaction, after showing what it does."""
    with _reporting_errors():
        tx, _ = read_export(file)
        _print_export(tx, file, error_console)
        if not yes:
            if not sys.stdin.isatty():
                raise CliError("confirm with --yes (no terminal to ask)")
            if not typer.confirm("Sign this transaction?", err=True):
                raise typer.Abort()
        keyring = KeyRing(key_dir, password_env)
        signed = sign_transaction(tx.content, tx.signatures, [keyring.keypair(name) for name in key])
        write_export(file, signed)
        info = _export_info(signed, file)
        if as_json:
            _print_json(info)
        else:
            console.print(f"signed; {len(signed.signatures)} signature(s): {', '.join(info['signed_by'])}")


@tx_app.command("send")
def tx_send(
    file: Path = typer.Argument(..., help="An exported, signed transaction."),
    gateway: Optional[List[str]] = typer.Option(None, "--gateway", "-g", envvar="JADECHAIN_GATEWAY",
                                                help="Gateway URL; repeat for failover."),
    wait: bool = typer.Option(True, "--wait/--no-wait"),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, max=120),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Submit an exported transaction to its ledger."""
    with _reporting_errors():
        tx, _ = read_export(file)
        if not tx.signatures:
            raise CliError(f"{file} has no signature yet: jadechain tx sign {file} --key NAME")
        session = TxSession(Connection(_split_urls(gateway), to_base58(tx.content.ledger_hash)), [],
                            KeyRing(DEFAULT_KEY_DIR, PASSWORD_ENV), wait, timeout, None, None, as_json)
        try:
            submit_and_report(session, tx)
        finally:
            session.connection.close()


# --- queries -------------------------------------------------------------------------------------------

@query_command("ledgers")
def query_ledgers(q: QueryContext) -> None:
    """The ledgers a gateway hosts."""
    rows = q.connection.client().ledgers()
    q.show([r.to_json() for r in rows], lambda: _table(["ledger", "height"], [[r.hash, r.height] for r in rows]))


@query_command("ledger")
def query_ledger(q: QueryContext) -> None:
    """A ledger's height, roots, settings and validators."""
    info = q.ledger().info()

    def render() -> Any:
        shown = {k: v for k, v in info.raw.items() if k not in ("settings", "validators")}
        shown.update({f"settings.{k}": v for k, v in info.settings.to_json().items()})
        shown["validators"] = "\n".join(info.validators)
        return _record_table(shown)

    q.show(info, render)


@query_command("participants")
def query_participants(q: QueryContext) -> None:
    """The consensus participants (nodes) of the ledger."""
    rows = api_get(q.ledger(), "/participants")
    q.show(rows, lambda: _table(["name", "address", "state", "registered"],
                                [[r["name"], r["address"], r["state"], r["registered_height"]]
                                 for r in sorted(rows, key=lambda r: r["name"])]))


@query_command("validators")
def query_validators(
    q: QueryContext,
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Save the set for `jadechain verify --validators FILE`."),
) -> None:
    """The validator set proofs are checked against (pin it: save it with --out)."""
    data = api_get(q.ledger(), "/validators")
    if out is not None:
        out.write_text(json.dumps(data, indent=2) + "\n")
        error_console.print(f"validator set saved to {out}")
    q.show(data, lambda: _table(["epoch", "public key"], [[data["epoch"], k] for k in data["public_keys"]]))


@query_command("block")
def query_block(
    q: QueryContext,
    height: str = typer.Argument("latest", help="Height or 'latest'."),
    block_hash: Optional[str] = typer.Option(None, "--hash", help="Find the block by its hash instead."),
) -> None:
    """A block header (latest, by height or by hash)."""
    ledger = q.ledger()
    if block_hash:
        data = api_get(ledger, f"/blocks/hash/{block_hash}")
    else:
        if height != "latest" and not height.isdigit():
            raise CliError("HEIGHT must be a number or 'latest'")
        data = ledger.get_block(height).to_json()
    q.show(data, lambda: _record_table(data, f"block {data['height']}"))


@query_command("txs")
def query_txs(
    q: QueryContext,
    height: int = typer.Argument(..., min=0),
    offset: int = typer.Option(0, "--offset", min=0),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
) -> None:
    """The results of a block's transactions (paged)."""
    page = q.ledger().get_block_txs(height, offset, limit)
    q.show(page, lambda: _table(
        ["#", "tx hash", "status", "gas"], [[r.index, r.tx_hash, r.status, r.gas_used] for r in page],
        title=f"block {height}: {page.total} transaction(s)"))


def _save_proof(path: Path, fetch: Callable[[], dict[str, Any]], wait_seconds: float) -> dict[str, Any]:
    """Fetch a proof bundle, waiting while the data is committed but not yet certified."""
    deadline = time.monotonic() + wait_seconds
    with error_console.status("fetching the proof…", spinner="dots") as status:
        while True:
            try:
                bundle = fetch()
                break
            except JadechainError as error:
                if error.code != "PROOF_PENDING" or time.monotonic() >= deadline:
                    raise
                status.update("committed; waiting for a certified block on top of it…")
                time.sleep(0.2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    error_console.print(f"proof bundle saved to {path}; check it offline with: "
                        f"jadechain verify {path} --ledger {bundle.get('ledger_hash')} "
                        "(the ledger hash you expect; the one in the bundle proves nothing by itself)")
    return bundle


ProofOption = typer.Option(None, "--proof", help="Also save a proof bundle for `jadechain verify`.")
ProofWaitOption = typer.Option(15.0, "--proof-wait", min=0, help="Seconds to wait for a certified proof.")


@query_command("tx")
def query_tx(
    q: QueryContext,
    tx_hash: str = typer.Argument(..., help="Transaction hash (base58)."),
    proof: Optional[Path] = ProofOption,
    proof_wait: float = ProofWaitOption,
) -> None:
    """A transaction: result, signers, operations, events."""
    ledger = q.ledger()
    data = ledger.get_tx(tx_hash)
    if proof is not None:
        _save_proof(proof, lambda: ledger.tx_proof(tx_hash), proof_wait)

    def render() -> Any:
        shown = {k: v for k, v in data.raw.items() if k not in ("operations", "events", "results")}
        shown["signers"] = "\n".join(data.signers)
        shown["time"] = f"{data.time} ({_iso(data.time)})" if data.time else data.time
        table = _record_table(shown, f"transaction {tx_hash}")
        console.print(table)
        results = data.raw.get("results") or []
        for position, op in enumerate(data.operations):
            if op["type"] == "InvokeContract":
                with contextlib.suppress(Exception):
                    op = {**op, "args": _jsonable(codec.unpack_canonical(from_base58(op["args"])))}
            console.print(f"  • [bold]{op['type']}[/] " + escape(json.dumps(
                {k: v for k, v in op.items() if k != "type"}, ensure_ascii=False)[:400]))
            if op["type"] == "InvokeContract" and position < len(results):
                console.print("    returned " + escape(_show_value(results[position])))
        for event in data.events:
            console.print(f"  event {event.account} {event.topic!r} #{event.sequence}: "
                          + escape(_show_plain(event.content, event.content_type)))
        return None

    q.show(data, render)


def _accounts_table(page: dict[str, Any], title: str) -> Table:
    return _table(["address", "kind", "state", "name", "created", "owners"],
                  [[a["address"], a["kind"], a["state"], a["name"] or "", a["created_height"], len(a["owners"])]
                   for a in page["items"]], title=f"{title} ({page['total']} in all)")


def _paged(q: QueryContext, path: str, offset: int, limit: int) -> dict[str, Any]:
    result: dict[str, Any] = api_get(q.ledger(), path, offset=offset, limit=limit)
    return result


OffsetOption = typer.Option(0, "--offset", min=0)
LimitOption = typer.Option(100, "--limit", min=1, max=1000)
ACCOUNT_KINDS = {"data": "/data-accounts", "event": "/event-accounts", "contract": "/contracts", "user": "/users"}


@query_command("users")
def query_users(q: QueryContext, offset: int = OffsetOption, limit: int = LimitOption) -> None:
    """Registered users."""
    page = _paged(q, "/users", offset, limit)
    q.show(page, lambda: _accounts_table(page, "users"))


@query_command("accounts")
def query_accounts(
    q: QueryContext,
    kind: str = typer.Option("data", "--kind", help="data, event, contract or user."),
    offset: int = OffsetOption, limit: int = LimitOption,
) -> None:
    """Accounts of one kind (data accounts by default)."""
    if kind not in ACCOUNT_KINDS:
        raise CliError(f"--kind must be one of {', '.join(ACCOUNT_KINDS)}")
    page = _paged(q, ACCOUNT_KINDS[kind], offset, limit)
    q.show(page, lambda: _accounts_table(page, f"{kind} accounts"))


@query_command("account")
def query_account(q: QueryContext, address: str = typer.Argument(...)) -> None:
    """One account: kind, state, owners, write policy (and topics of an event account)."""
    ledger = q.ledger()
    account = ledger.get_account(address)
    data = account.to_json()
    if account.kind == "EVENT":
        data["topics"] = api_get(ledger, f"/accounts/{address}/topics")

    def render() -> Any:
        shown = dict(data)
        shown["owners"] = "\n".join(data["owners"]) or "-"
        if "topics" in data:
            shown["topics"] = ", ".join(f"{t['topic']} (last #{t['latest_sequence']})" for t in data["topics"]) or "-"
        return _record_table(shown, f"account {address}")

    q.show(data, render)


@query_command("entries")
def query_entries(q: QueryContext, account: str = typer.Argument(...),
                  offset: int = OffsetOption, limit: int = LimitOption) -> None:
    """The keys of a data account with their latest versions (paged)."""
    page = _paged(q, f"/accounts/{account}/entries", offset, limit)
    q.show(page, lambda: _table(["key", "latest version"], [[e["key"], e["latest_version"]] for e in page["items"]],
                                title=f"{account}: {page['total']} key(s)"))


@query_command("entry")
def query_entry(
    q: QueryContext,
    account: str = typer.Argument(...),
    key: str = typer.Argument(...),
    version: Optional[int] = typer.Option(None, "--version", "-v", min=0, help="A given version (default: latest)."),
    versions: bool = typer.Option(False, "--versions", help="Every version, oldest first."),
    proof: Optional[Path] = ProofOption,
    proof_wait: float = ProofWaitOption,
) -> None:
    """An entry's value at its latest (or a given) version, or its whole history."""
    ledger = q.ledger()
    if versions:
        items = ledger.get_versions(account, key, 0, 1000)
        data: Any = items
        render: Callable[[], Any] = lambda: _table(
            ["version", "value", "height", "tx hash"],
            [[i.version, typed_json(i.value, i.value_type), i.height, i.tx_hash] for i in items],
            title=f"{account} [{key!r}]")
    else:
        data = ledger.get_entry(account, key, version)
        render = lambda: _record_table(data.to_json())
    if proof is not None:
        _save_proof(proof, lambda: ledger.entry_proof(account, key, version), proof_wait)
    q.show(data, render)


@query_command("topics")
def query_topics(q: QueryContext, account: str = typer.Argument(..., help="Event account address.")) -> None:
    """The topics of an event account with their last sequence."""
    rows = api_get(q.ledger(), f"/accounts/{account}/topics")
    q.show(rows, lambda: _table(["topic", "last sequence"], [[t["topic"], t["latest_sequence"]] for t in rows]))


@query_command("events")
def query_events(
    q: QueryContext,
    account: str = typer.Argument(..., help="Event (or contract) account address."),
    topic: str = typer.Argument(...),
    from_sequence: int = typer.Option(0, "--from", min=0, help="First sequence."),
    limit: int = LimitOption,
    proof: Optional[Path] = ProofOption,
    sequence: Optional[int] = typer.Option(None, "--sequence", min=0,
                                           help="Event the --proof is for (default: --from)."),
    proof_wait: float = ProofWaitOption,
) -> None:
    """Events of a topic from a sequence."""
    ledger = q.ledger()
    rows = ledger.get_events(account, topic, from_sequence, limit)
    if proof is not None:
        proven = from_sequence if sequence is None else sequence
        _save_proof(proof, lambda: ledger.event_proof(account, topic, proven), proof_wait)
    q.show(rows, lambda: _table(["#", "content", "height", "tx hash"],
                                [[e.sequence, typed_json(e.content, e.content_type), e.height, e.tx_hash] for e in rows],
                                title=f"{account} topic {topic!r}"))


@query_command("contracts")
def query_contracts(q: QueryContext, offset: int = OffsetOption, limit: int = LimitOption) -> None:
    """Deployed contracts."""
    page = _paged(q, "/contracts", offset, limit)
    q.show(page, lambda: _accounts_table(page, "contracts"))


@query_command("contract")
def query_contract(
    q: QueryContext, address: str = typer.Argument(...),
    source: bool = typer.Option(False, "--source", help="Print the source code."),
) -> None:
    """A contract: version, state, owners (and its source with --source)."""
    data = api_get(q.ledger(), f"/contracts/{address}", source=str(source).lower())

    def render() -> Any:
        shown = {k: v for k, v in data.items() if k != "source"}
        shown["owners"] = "\n".join(data["owners"])
        console.print(_record_table(shown, f"contract {address}"))
        if source and data.get("source") is not None:
            console.print(Syntax(data["source"], "python", line_numbers=True))
        return None

    q.show(data, render)


@query_command("roles")
def query_roles(q: QueryContext) -> None:
    """Roles and their permissions."""
    rows = api_get(q.ledger(), "/roles")
    q.show(rows, lambda: _table(["role", "ledger permissions", "tx permissions"],
                                [[r["role"], ", ".join(r["ledger_permissions"]), ", ".join(r["tx_permissions"])]
                                 for r in rows]))


@query_command("user-roles")
def query_user_roles(q: QueryContext, address: str = typer.Argument(..., help="User address or key name."),
                     key_dir: str = typer.Option(DEFAULT_KEY_DIR, "--key-dir", envvar="JADECHAIN_KEY_DIR")) -> None:
    """A user's roles and how they combine."""
    user = resolve_address(address, key_dir)
    data = api_get(q.ledger(), f"/users/{user}/roles")
    q.show(data, lambda: _record_table({"user": data["user"], "roles": ", ".join(data["roles"]) or "(DEFAULT)",
                                        "policy": data["policy"]}))


def _proposal_rows(items: Sequence[Proposal]) -> list[list[Any]]:
    rows = []
    for item in items:
        tally = ", ".join(f"{org} {'for' if vote.approve else 'against'}" for org, vote in sorted(item.votes.items()))
        rows.append([item.id[:18] + "…", item.status, item.organization, ", ".join(item.kinds), tally, item.reason])
    return rows


@query_command("proposals")
def query_proposals(
    q: QueryContext,
    status: Optional[str] = typer.Option(None, "--status", help="OPEN, EXECUTED, REJECTED, FAILED or EXPIRED."),
) -> None:
    """Governance proposals (newest first): status, proposing organisation, operations, votes."""
    items = q.ledger().proposals(status)
    q.show(items, lambda: _table(["id", "status", "by", "operations", "votes", "reason"], _proposal_rows(items),
                                 title=f"{len(items)} proposal(s)"))


@query_command("proposal")
def query_proposal(
    q: QueryContext,
    proposal: str = typer.Argument(..., help="Proposal id (hex, or the proposing transaction's base58 hash)."),
    proof: Optional[Path] = ProofOption,
    proof_wait: float = ProofWaitOption,
) -> None:
    """One proposal with every vote; --proof saves a bundle that proves it offline."""
    ledger = q.ledger()
    data = ledger.proposal(proposal)
    if proof is not None:
        _save_proof(proof, lambda: ledger.proposal_proof(proposal), proof_wait)
    q.show(data, lambda: _record_table({k: v for k, v in data.to_json().items() if k != "operations"}))


@query_command("watch")
def query_watch(
    q: QueryContext,
    from_height: Optional[int] = typer.Option(None, "--from-height", min=0,
                                              help="Replay from this height (default: only new blocks)."),
    after: Optional[str] = typer.Option(None, "--after", help="Resume after this message id (height:index)."),
    kinds: str = typer.Option("block,tx,event", "--kinds", help="Comma list of block, tx, event."),
    count: Optional[int] = typer.Option(None, "--count", min=1, help="Stop after this many messages."),
    until_height: Optional[int] = typer.Option(None, "--until-height", min=0,
                                               help="Stop after the messages of this block."),
) -> None:
    """Follow blocks, transaction results and events live (SSE); survives gateway restarts."""
    ledger = q.ledger()
    wanted = tuple(k.strip() for k in kinds.split(",") if k.strip())
    seen = 0
    last_id: Optional[str] = after
    stream = ledger.subscribe(from_height, last_event_id=after, kinds=wanted)
    try:
        for message in stream:
            if until_height is not None and message.height > until_height:
                break
            last_id = message.id
            _print_message(message, q.as_json)
            seen += 1
            if count is not None and seen >= count:
                break
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(Exception):
            stream.close()  # type: ignore[attr-defined]
    if last_id is not None and not q.as_json:
        error_console.print(f"[dim]resume with: jadechain query watch --after {last_id}[/]")


def _print_message(message: Any, as_json: bool) -> None:
    data = message.data
    if as_json:
        sys.stdout.write(json.dumps({"id": message.id, "kind": message.kind, "data": data}, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    if message.kind == "block":
        mark = "certified" if data.get("certified") else "uncertified"
        console.print(f"[bold]{message.id:>9}[/] block  #{data['height']} {data['hash']} "
                      f"txs={data['tx_count']} {mark}")
    elif message.kind == "tx":
        colour = "green" if data["status"] == "SUCCESS" else "red"
        console.print(f"{message.id:>9} tx     {data['tx_hash']} [{colour}]{data['status']}[/] gas={data['gas_used']}")
    elif message.kind == "event":
        console.print(f"{message.id:>9} event  {data['account']} {escape(data['topic'])!r} #{data['sequence']}: "
                      + escape(_show_value(data["content"])))
    else:
        console.print(f"{message.id:>9} {message.kind} {escape(json.dumps(data))}")


def build_app() -> typer.Typer:
    """A stand-alone ``jadechain``-like app with ``tx`` and ``query`` (before the lead mounts them)."""
    app = typer.Typer(help="Jadechain transactions and queries.", no_args_is_help=True)
    app.add_typer(tx_app, name="tx")
    app.add_typer(query_app, name="query")
    return app


if __name__ == "__main__":
    build_app()()
