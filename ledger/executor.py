"""Deterministic execution of a block's transactions.

Read :func:`execute_block` top to bottom: for each transaction it checks, in
order, the ledger hash, the expiry, duplication, the signatures, the signers'
accounts and the transaction permission; then it applies each operation, each
of which checks its own ledger permission and preconditions and raises one
precise error. A transaction that raises is recorded with that error's code and
its writes are discarded; the block still commits.

Nothing here reads a clock, draws randomness or iterates a set or a dict whose
order could differ between nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Sequence

from ledger import codec, governance
from ledger.contract_api import ContractCode, ContractRuntime, Entry, InvocationResult, select_contract_engine
from ledger.crypto import (
    PublicKey,
    address_from_public_key,
    algorithm_by_code,
    decode_address,
    verify_batch,
)
from ledger.errors import (
    AccountExists,
    AccountFrozen,
    AccountNotFound,
    AccountRevoked,
    AlgorithmNotAccepted,
    AlreadyVoted,
    CodecError,
    ContractNotFound,
    CryptoError,
    DuplicateTransaction,
    InvalidAddress,
    InvalidOperation,
    InvalidSignature,
    InvalidTransaction,
    JadechainError,
    LedgerMismatch,
    NotOwner,
    PermissionDenied,
    ProposalDecided,
    ProposalExpired,
    ProposalNotFound,
    ProposalRequired,
    ThresholdNotMet,
    TransactionExpired,
    VersionConflict,
)
from ledger.state import WorkingState
from ledger.store import schema
from ledger.types import (
    APPEND_ANY,
    AccountKind,
    AccountRecord,
    AccountState,
    AuthorizeUserRoles,
    Block,
    ConfigureRole,
    ContractRecord,
    DeployContract,
    EntryRecord,
    Event,
    InvokeContract,
    KVSet,
    LedgerPermission,
    LedgerSettings,
    Operation,
    ParticipantRecord,
    ParticipantState,
    Propose,
    ProposedOperations,
    PublishEvents,
    RegisterDataAccount,
    RegisterEventAccount,
    RegisterParticipant,
    RegisterUser,
    RoleRecord,
    RolesPolicy,
    Transaction,
    TransactionInfo,
    TransactionPermission,
    UpdateAccountState,
    UpdateLedgerSettings,
    UpdateParticipantState,
    UpgradeContract,
    UserRolesRecord,
    ValidatorSetRecord,
    Vote,
    WritePolicy,
)
from ledger.values import TypedValue, ValueType
from ledger import light_client
from ledger.types import AdvanceLightClient, CreateLightClient, ProveForeignFact

SUCCESS = "SUCCESS"
DEFAULT_ROLE = "DEFAULT"

MAX_KEY_BYTES = 1024
MAX_VALUE_BYTES = 1024 * 1024
MAX_TOPIC_BYTES = 256
MAX_NAME_BYTES = 256
MAX_CONTRACT_SOURCE_BYTES = 256 * 1024


def transaction_hash(hash_fn: Callable[[bytes], bytes], hash_code: int, tx: Transaction) -> bytes:
    """The transaction hash: ``code ‖ H(encode(content))``; what endpoints sign."""
    return hash_and_content(hash_fn, hash_code, tx)[0]


# --- one value per transaction ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    """A transaction as a node carries it: decoded, cut into canonical parts and hashed once.

    Ingress (or a replica reading a proposal) makes one from the wire bytes; the mempool, the
    proposal, the block header and the block's persistence then use its fields instead of
    encoding or hashing the transaction again. Only :meth:`decode` and :meth:`of` make one, so
    the fields always agree: ``encoded`` is the canonical encoding of ``tx``, ``content`` and
    ``signatures`` those of its two fields, and ``tx_hash`` is ``hash code ‖ H(content)``.
    """

    tx: Transaction
    """The decoded transaction."""
    encoded: bytes
    """Canonical bytes of the whole transaction (its wire form, stored in the block body)."""
    content: bytes
    """Canonical bytes of ``tx.content``: what the hash covers and the endpoints sign."""
    signatures: bytes
    """Canonical bytes of ``tx.signatures``."""
    tx_hash: bytes
    """``hash code ‖ H(content)``, with the ledger's hash algorithm."""

    @classmethod
    def decode(cls, data: object, hash_fn: Callable[[bytes], bytes], hash_code: int) -> "SignedTransaction":
        """Strictly decode wire bytes (``CodecError`` if they are not a canonical transaction, or not bytes).

        ``data`` is typed ``object`` because anything may arrive here: the codec turns what is not
        bytes into a ``CodecError``, in the compiled build (ledger._accel) as in Python.
        """
        tx, parts = codec.decode_split(Transaction, data)
        if len(parts) != 2:
            raise CodecError("a transaction is [content, signatures]")
        raw = data if type(data) is bytes else _TX_ARRAY_HEADER + parts[0] + parts[1]  # canonical: the same bytes
        return cls(tx, raw, parts[0], parts[1], hash_code.to_bytes(2, "big") + hash_fn(parts[0]))

    @classmethod
    def of(cls, tx: Transaction, hash_fn: Callable[[bytes], bytes], hash_code: int) -> "SignedTransaction":
        """Encode a transaction built in memory (a client's or a test's object)."""
        content = codec.encode(tx.content)
        signatures = codec.encode_list(tx.signatures)
        return cls(tx, _TX_ARRAY_HEADER + content + signatures, content, signatures,
                   hash_code.to_bytes(2, "big") + hash_fn(content))


def decode_transaction(data: object) -> tuple[Transaction, bytes, bytes]:
    """Strictly decode a transaction; also return its content bytes and signatures bytes.

    As strict as ``codec.decode(Transaction, data)``; the two byte strings are the fields'
    canonical encodings, cut from ``data`` by the canonical-form check itself.
    """
    tx, parts = codec.decode_split(Transaction, data)
    return tx, parts[0], parts[1]


def hash_and_content(hash_fn: Callable[[bytes], bytes], hash_code: int, tx: Transaction) -> tuple[bytes, bytes]:
    """``(tx hash, content bytes)`` of a transaction object."""
    content = codec.encode(tx.content)
    return hash_code.to_bytes(2, "big") + hash_fn(content), content


def encoded_transaction(tx: Transaction, content: bytes | None = None) -> bytes:
    """Canonical bytes of ``tx`` (``[content, signatures]``); ``content`` if its bytes are known."""
    if content is None:
        content = codec.encode(tx.content)
    return _TX_ARRAY_HEADER + content + codec.encode_list(tx.signatures)


_TX_ARRAY_HEADER = b"\x92"
"""msgpack fixarray header of a 2-element array (a Transaction is ``[content, signatures]``)."""


SignatureCheck = Callable[[Sequence[tuple[bytes, bytes, bytes]]], list[bool]]
"""Verifies (encoded public key, message, encoded signature) triples."""


def verify_signatures(items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """Default signature check: parallel batch verification of encoded triples."""
    parsed: list[tuple[PublicKey, bytes, bytes]] = []
    positions: list[int] = []
    results = [False] * len(items)
    for index, (public_key, message, signature) in enumerate(items):
        try:
            key = PublicKey.from_encoded(public_key)
        except CryptoError:
            continue
        parsed.append((key, message, signature))
        positions.append(index)
    for position, ok in zip(positions, verify_batch(parsed)):
        results[position] = ok
    return results


@dataclass
class ExecutionEnvironment:
    """Everything a block's execution depends on besides the state."""

    ledger_hash: bytes
    hash_fn: Callable[[bytes], bytes]
    hash_code: int
    settings: LedgerSettings
    runtime: ContractRuntime | None = None
    check_signatures: SignatureCheck = verify_signatures
    preverified: Callable[[bytes], bool] | None = None
    """Returns True for a transaction hash whose signatures ingress already verified."""
    genesis: bool = False
    tx_hashes: Sequence[bytes] | None = None
    """The block's transaction hashes if the caller computed them already."""


@dataclass
class BlockExecution:
    """What executing a block produced, before it is persisted."""

    tx_hashes: list[bytes] = field(default_factory=list)
    tx_infos: list[TransactionInfo] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    executed: list[tuple[bytes, Transaction, TransactionInfo]] = field(default_factory=list)
    skipped_duplicates: list[bytes] = field(default_factory=list)


def execute_block(state: WorkingState, block: Block, env: ExecutionEnvironment) -> BlockExecution:
    """Execute every transaction of ``block`` in order against ``state``."""
    result = BlockExecution()
    height = block.header.height
    hashes = list(env.tx_hashes) if env.tx_hashes is not None else [
        transaction_hash(env.hash_fn, env.hash_code, tx) for tx in block.transactions
    ]
    result.tx_hashes = hashes
    signature_ok = _check_block_signatures(block.transactions, hashes, env)
    authority = BlockAuthority(state, env)
    empty_events_hash = events_hash(env.hash_fn, ())
    seen_in_block: set[bytes] = set()
    index = 0
    hash_fn = env.hash_fn
    make_tx_key = schema.make_tx_key
    for tx, tx_hash, sig_ok in zip(block.transactions, hashes, signature_ok):
        if tx_hash in seen_in_block or state.get_raw(make_tx_key(tx_hash)) is not None:
            result.skipped_duplicates.append(tx_hash)
            continue
        seen_in_block.add(tx_hash)
        state.push()
        events: list[Event] = []
        gas = _GasCounter()
        try:
            signers = _signer_addresses(tx)
            _check_transaction(state, tx, signers, sig_ok, block, env, authority)
            context = _TxContext(state, env, block, tx_hash, signers, events, gas, authority)
            results = _apply_operations(context, tx.content.operations)
            status = SUCCESS
            changes = state.merge().state
        except JadechainError as error:
            state.discard()
            status = error.code
            changes = {}
            events = []
            results = ()
            # gas is recorded for every outcome: an invocation that ends on VersionConflict,
            # a denied write or a nested failure burned its gas as surely as one that reverted
            gas.used += _details_gas(error)
        info = TransactionInfo(
            tx_hash=tx_hash,
            height=height,
            index=index,
            status=status,
            write_set_hash=_write_set_hash(hash_fn, changes),
            events_hash=events_hash(hash_fn, events) if events else empty_events_hash,
            gas_used=gas.used,
            results=results,
        )
        index += 1
        result.tx_infos.append(info)
        result.events.extend(events)
        result.executed.append((tx_hash, tx, info))
        if events:
            state.put_raw(schema.make_tx_events_key(tx_hash), codec.encode_list(events))
    return result


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What a read-only call returned; nothing of it was written."""

    status: str
    """"SUCCESS" or the stable error code the invocation failed with."""
    value: TypedValue
    """The method's return value (NIL if it failed)."""
    gas_used: int
    events: tuple[Event, ...]
    """The events it would have published."""
    height: int
    """The committed height whose state it read (it ran as the block after it)."""
    message: str = ""
    """The failure's message."""


def call_readonly(state: WorkingState, tx: Transaction, tx_hash: bytes, block: Block, env: ExecutionEnvironment) -> CallOutcome:
    """Run ``tx`` (one signed ``InvokeContract``) against ``state`` as if in ``block``, and discard its writes.

    The caller must be allowed to send the transaction (a registered user holding the
    CONTRACT_OPERATION transaction permission, valid signatures, this ledger): a refusal is
    raised, as ingress would. The invocation's own failure is an outcome, with its gas.
    The gas limit is capped by the ledger's ``default_gas_limit`` as for a transaction.
    """
    if len(tx.content.operations) != 1 or not isinstance(tx.content.operations[0], InvokeContract):
        raise InvalidTransaction("a read-only call is a transaction of exactly one InvokeContract operation")
    authority = BlockAuthority(state, env)
    signature_ok = _check_block_signatures([tx], [tx_hash], env)[0]
    signers = _signer_addresses(tx)
    _check_transaction(state, tx, signers, signature_ok, block, env, authority)
    events: list[Event] = []
    gas = _GasCounter()
    context = _TxContext(state, env, block, tx_hash, signers, events, gas, authority)
    state.push()
    try:
        value = _apply_operations(context, tx.content.operations)[0]
        return CallOutcome(SUCCESS, value, gas.used, tuple(events), block.header.height - 1)
    except JadechainError as error:
        return CallOutcome(error.code, _NIL, gas.used + _details_gas(error), (), block.header.height - 1, error.message)
    finally:
        state.discard()


def events_hash(hash_fn: Callable[[bytes], bytes], events: Sequence[Event]) -> bytes:
    """Hash of a transaction's events (the encoded list); empty list hashes too."""
    return hash_fn(codec.encode_list(events) if events else _EMPTY_ARRAY)


_EMPTY_ARRAY = b"\x90"
"""Canonical msgpack of an empty array."""


def _write_set_hash(hash_fn: Callable[[bytes], bytes], changes: dict[bytes, bytes | None]) -> bytes:
    if len(changes) == 1:  # one write (a KV write's entry): nothing to sort
        [(key, value)] = changes.items()
        return hash_fn(codec.pack_byte_rows([[key, value or b""]]))
    items = [[key, changes[key] or b""] for key in sorted(changes)]
    return hash_fn(codec.pack_byte_rows(items))


def _details_gas(error: JadechainError) -> int:
    value = error.details.get("gas_used")
    return value if isinstance(value, int) else 0


class _GasCounter:
    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0


# --- transaction checks ------------------------------------------------------------

def _check_block_signatures(
    transactions: Sequence[Transaction], hashes: Sequence[bytes], env: ExecutionEnvironment
) -> list[bool]:
    """Verify every endpoint signature of the block at once (in parallel chunks)."""
    triples: list[tuple[bytes, bytes, bytes]] = []
    owners: list[int] = []
    results = [True] * len(transactions)
    for position, (tx, tx_hash) in enumerate(zip(transactions, hashes)):
        if not tx.signatures:
            results[position] = False
            continue
        if env.preverified is not None and env.preverified(tx_hash):
            continue
        for signature in tx.signatures:
            triples.append((signature.public_key, tx_hash, signature.signature))
            owners.append(position)
    if triples:
        for owner, ok in zip(owners, env.check_signatures(triples)):
            if not ok:
                results[owner] = False
    return results


def _check_transaction(
    state: WorkingState,
    tx: Transaction,
    signers: tuple[str, ...],
    signatures_ok: bool,
    block: Block,
    env: ExecutionEnvironment,
    authority: "BlockAuthority | None" = None,
) -> None:
    if authority is None:
        authority = BlockAuthority(state, env)
    content = tx.content
    settings = authority.settings()
    if not env.genesis and content.ledger_hash != env.ledger_hash:
        raise LedgerMismatch("transaction is for another ledger")
    if not content.operations:
        raise InvalidTransaction("transaction has no operations")
    if len(content.operations) > settings.max_ops_per_tx:
        raise InvalidTransaction("too many operations in one transaction")
    if content.expiry and block.header.time > content.expiry:
        raise TransactionExpired("transaction expired before it was included")
    if not tx.signatures:
        raise InvalidSignature("transaction has no endpoint signature")
    for signature in tx.signatures:
        code = int.from_bytes(signature.public_key[:2], "big") if len(signature.public_key) >= 2 else -1
        if code not in settings.signature_algorithms:
            raise AlgorithmNotAccepted("signature algorithm not accepted by this ledger")
    if not signatures_ok:
        raise InvalidSignature("an endpoint signature does not verify")
    if env.genesis:
        return
    for address in signers:
        account = authority.account(address)
        if account is None or account.kind != AccountKind.USER:
            raise PermissionDenied(f"signer {address} is not a registered user")
        _require_normal(account.state, address)
    needed = TransactionPermission.CONTRACT_OPERATION
    for op in content.operations:
        if not isinstance(op, InvokeContract):
            needed = TransactionPermission.DIRECT_OPERATION
            break
    for address in signers:
        if authority.has_tx_permission(address, needed):
            return
    raise PermissionDenied(f"no signer holds the {needed.name} transaction permission")


def current_settings(state: WorkingState, env: ExecutionEnvironment) -> LedgerSettings:
    """Settings as changed by earlier transactions of this block, if any."""
    return state.get_settings() or env.settings


def _signer_addresses(tx: Transaction) -> tuple[str, ...]:
    addresses: list[str] = []
    for signature in tx.signatures:
        address = address_of_encoded_key(signature.public_key)
        if address not in addresses:
            addresses.append(address)
    return tuple(addresses)


@lru_cache(maxsize=65536)
def address_of_encoded_key(public_key: bytes) -> str:
    """Address of an encoded public key (cached: signers repeat across transactions)."""
    try:
        return address_from_public_key(PublicKey.from_encoded(public_key))
    except CryptoError as exc:
        raise InvalidSignature(f"invalid endpoint public key: {exc.message}") from exc


def _require_normal(account_state: AccountState, address: str) -> None:
    if account_state == AccountState.FROZEN:
        raise AccountFrozen(f"account {address} is frozen")
    if account_state == AccountState.REVOKED:
        raise AccountRevoked(f"account {address} is revoked")


# --- permissions ----------------------------------------------------------------------

def _roles_of(state: WorkingState, user: str) -> tuple[list[RoleRecord], RolesPolicy]:
    record = state.get_user_roles(user)
    names = list(record.roles) if record is not None and record.roles else [DEFAULT_ROLE]
    policy = record.policy if record is not None else RolesPolicy.UNION
    roles = [role for role in (state.get_role(name) for name in names) if role is not None]
    return roles, policy


def _has_ledger_permission(state: WorkingState, user: str, permission: LedgerPermission) -> bool:
    roles, policy = _roles_of(state, user)
    if not roles:
        return False
    grants = [permission in role.ledger_permissions for role in roles]
    return all(grants) if policy == RolesPolicy.INTERSECT else any(grants)


def _has_tx_permission(state: WorkingState, user: str, permission: TransactionPermission) -> bool:
    roles, policy = _roles_of(state, user)
    if not roles:
        return False
    grants = [permission in role.tx_permissions for role in roles]
    return all(grants) if policy == RolesPolicy.INTERSECT else any(grants)


class BlockAuthority:
    """What the checks of a block's transactions read, cached for the block.

    Every transaction re-reads its signers' accounts, their roles and the settings; in a
    block of ordinary transactions none of these change, so each is read and evaluated
    once. The cache is dropped whenever the working state's ``authority_generation``
    moves: any write of an account, role, user's roles, participant, validator set or
    settings (by this block's earlier transactions, or the current one), and any discarded
    layer. So a check always sees exactly what an uncached read would.
    """

    __slots__ = ("_state", "_env", "_generation", "_settings", "_accounts", "_ledger", "_tx")

    def __init__(self, state: WorkingState, env: ExecutionEnvironment) -> None:
        self._state = state
        self._env = env
        self._generation = -1
        self._settings: LedgerSettings | None = None
        self._accounts: dict[str, AccountRecord | None] = {}
        self._ledger: dict[tuple[str, LedgerPermission], bool] = {}
        self._tx: dict[tuple[str, TransactionPermission], bool] = {}

    def _fresh(self) -> None:
        generation = self._state.authority_generation
        if generation != self._generation:
            self._generation = generation
            self._settings = None
            self._accounts.clear()
            self._ledger.clear()
            self._tx.clear()

    def settings(self) -> LedgerSettings:
        """The settings as of now in the block (see :func:`current_settings`)."""
        self._fresh()
        if self._settings is None:
            self._settings = current_settings(self._state, self._env)
        return self._settings

    def account(self, address: str) -> AccountRecord | None:
        self._fresh()
        accounts = self._accounts
        if address in accounts:
            return accounts[address]
        record = accounts[address] = self._state.get_account(address)
        return record

    def has_ledger_permission(self, user: str, permission: LedgerPermission) -> bool:
        self._fresh()
        key = (user, permission)
        found = self._ledger.get(key)
        if found is None:
            found = self._ledger[key] = _has_ledger_permission(self._state, user, permission)
        return found

    def has_tx_permission(self, user: str, permission: TransactionPermission) -> bool:
        self._fresh()
        key = (user, permission)
        found = self._tx.get(key)
        if found is None:
            found = self._tx[key] = _has_tx_permission(self._state, user, permission)
        return found


# --- operation context ---------------------------------------------------------------------

class _TxContext:
    """One transaction's execution context, shared by its operations."""

    def __init__(
        self,
        state: WorkingState,
        env: ExecutionEnvironment,
        block: Block,
        tx_hash: bytes,
        signers: tuple[str, ...],
        events: list[Event],
        gas: _GasCounter,
        authority: BlockAuthority | None = None,
        governed_by: str = "",
    ) -> None:
        self.state = state
        self.env = env
        self.block = block
        self.tx_hash = tx_hash
        self.signers = signers
        self.events = events
        self.gas = gas
        self.authority = authority if authority is not None else BlockAuthority(state, env)
        self.governed_by = governed_by
        """The proposing organisation when the operations run as an approved proposal, else empty."""
        self.returned: TypedValue | None = None
        """What the operation being applied returned (a contract invocation's value), else None."""

    @property
    def height(self) -> int:
        return self.block.header.height

    def require(self, permission: LedgerPermission) -> None:
        """At least one endpoint signer must hold ``permission`` (JD Chain's AT_LEAST_ONE).

        An approved proposal's operations need no signer's permission: the member
        organisations decided them under the ledger's policy.
        """
        if self.env.genesis or self.governed_by:
            return
        has_permission = self.authority.has_ledger_permission
        for signer in self.signers:
            if has_permission(signer, permission):
                return
        raise PermissionDenied(f"no signer holds the {permission.name} permission")


    def members(self) -> governance.Governance:
        return governance.governance_of(self.authority.settings())

    def organization_of(self, address: str) -> str:
        account = self.authority.account(address)
        return account.organization if account is not None else ""

    def signing_organizations(self) -> tuple[str, ...]:
        """Organisations of the signers (sorted, distinct)."""
        return tuple(sorted({org for org in map(self.organization_of, self.signers) if org}))

    def approving_organizations(self) -> tuple[str, ...]:
        """Member organisations that a signer may speak for: a user of that organisation holding APPROVE_TX."""
        found: set[str] = set()
        members = self.members()
        for signer in self.signers:
            org = self.organization_of(signer)
            if org and members.is_member(org) and self.authority.has_ledger_permission(signer, LedgerPermission.APPROVE_TX):
                found.add(org)
        return tuple(sorted(found))

    def authorize(self, operation: Operation, owner: str | None) -> None:
        """Let ``operation`` run only if its owner's organisation signed it or the members approved it.

        ``owner`` is the organisation that owns the object acted on, or None for a ledger-wide
        operation. The owner acts alone; everything else needs the policy's approvals, either
        as signatures of this transaction or as an approved proposal (see :mod:`ledger.governance`).
        """
        if self.env.genesis or self.governed_by:
            return
        members = self.members()
        if not members.active:
            return
        if owner and owner in self.signing_organizations():
            return
        approvals = self.approving_organizations()
        if governance.decide(members, (operation,), approvals) == "met":
            return
        needed = governance.needed_description(members, (operation,))
        if len(approvals) > 1:
            raise ThresholdNotMet(
                f"{type(operation).__name__} needs {needed}; {len(approvals)} signed", approvals=list(approvals),
            )
        if owner:
            raise NotOwner(
                f"{type(operation).__name__} acts on an object of organisation {owner!r}; "
                f"another organisation needs a proposal approved by {needed}", owner=owner,
            )
        raise ProposalRequired(f"{type(operation).__name__} is ledger-wide: propose it; it needs {needed}")


def _apply_operations(ctx: _TxContext, operations: Sequence[Operation]) -> tuple[TypedValue, ...]:
    """Apply a transaction's operations in order; their results as :attr:`TransactionInfo.results` records them."""
    returned: list[TypedValue | None] = []
    any_returned = False
    ctx.returned = None
    for operation in operations:
        _apply_operation(ctx, operation)
        value = _take_returned(ctx)
        if value is not None:
            any_returned = True
        returned.append(value)
    if not any_returned:
        return ()
    return tuple(_NIL if value is None else value for value in returned)


def _take_returned(ctx: _TxContext) -> TypedValue | None:
    """The value the last operation returned, and reset. A function of its own: read just after
    ``ctx.returned = None`` in the caller, mypy would type it None, which a mypyc build enforces."""
    value = ctx.returned
    ctx.returned = None
    return value


_NIL = TypedValue.nil()


def _apply_operation(ctx: _TxContext, op: Operation) -> None:
    handler = _HANDLERS.get(type(op))
    if handler is None:
        raise InvalidOperation(f"unsupported operation {type(op).__name__}")
    handler(ctx, op)


def _account_address(ctx: _TxContext, public_key: bytes) -> str:
    try:
        key = PublicKey.from_encoded(public_key)
    except CryptoError as exc:
        raise InvalidOperation(f"invalid public key: {exc.message}") from exc
    return address_from_public_key(key)


def _check_address(address: str) -> None:
    problem = _address_problem(address)
    if problem is not None:
        raise InvalidOperation(f"invalid address {address!r}: {problem}")


@lru_cache(maxsize=65536)
def _address_problem(address: str) -> str | None:
    try:
        decode_address(address)
    except InvalidAddress as exc:
        return exc.message
    return None


def _check_text(label: str, text: str, limit: int) -> None:
    if not text or len(text.encode("utf-8")) > limit:
        raise InvalidOperation(f"{label} must be 1..{limit} bytes")


def _register_account(ctx: _TxContext, public_key: bytes, kind: AccountKind, name: str = "",
                      write_policy: WritePolicy = WritePolicy.OWNERS, organization: str = "") -> str:
    address = _account_address(ctx, public_key)
    if ctx.state.get_account(address) is not None:
        raise AccountExists(f"account {address} is already registered")
    record = AccountRecord(
        address=address,
        kind=kind,
        public_key=public_key,
        state=AccountState.NORMAL,
        owners=ctx.signers,
        created_height=ctx.height,
        name=name,
        write_policy=write_policy,
        organization=organization or _new_account_organization(ctx, address),
    )
    ctx.state.put_account(record, new=True)
    return address


def _new_account_organization(ctx: _TxContext, address: str) -> str:
    """The organisation a new account belongs to: the proposer's, a founder's own, or the first signer's."""
    if ctx.governed_by:
        return ctx.governed_by
    if ctx.env.genesis:
        participant = ctx.state.get_participant(address)
        if participant is not None:
            return participant.organization
    for signer in ctx.signers:
        org = ctx.organization_of(signer)
        if org:
            return org
    return ""


def _op_register_user(ctx: _TxContext, op: RegisterUser) -> None:
    ctx.require(LedgerPermission.REGISTER_USER)
    if len(op.name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidOperation("user name too long")
    if op.organization:
        governance.check_organization_name(op.organization)
        if op.organization not in ctx.signing_organizations():
            # An identity of another organisation (e.g. a new member's admin): the members decide.
            ctx.authorize(op, None)
    _register_account(ctx, op.public_key, AccountKind.USER, op.name, organization=op.organization)


def _op_register_data_account(ctx: _TxContext, op: RegisterDataAccount) -> None:
    ctx.require(LedgerPermission.REGISTER_DATA_ACCOUNT)
    _register_account(ctx, op.public_key, AccountKind.DATA, write_policy=op.write_policy)


def _op_register_event_account(ctx: _TxContext, op: RegisterEventAccount) -> None:
    ctx.require(LedgerPermission.REGISTER_EVENT_ACCOUNT)
    _register_account(ctx, op.public_key, AccountKind.EVENT)


def _writable_account(ctx: _TxContext, address: str, kind: AccountKind, writers: Iterable[str]) -> AccountRecord:
    _check_address(address)
    account = ctx.authority.account(address)
    if account is None or account.kind != kind:
        raise AccountNotFound(f"no {kind.name.lower()} account {address}")
    _require_normal(account.state, address)
    if account.write_policy == WritePolicy.OWNERS:
        owners = account.owners
        for writer in writers:
            if writer in owners:
                return account
        raise PermissionDenied(f"only the owners of {address} may write it")
    return account


def write_entry(ctx: _TxContext, account: str, key: str, value: TypedValue, expected_version: int) -> int:
    """Write one entry version; shared by the KV operation and contracts."""
    if not key or len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidOperation(f"entry key must be 1..{MAX_KEY_BYTES} bytes")
    if len(value.data) > MAX_VALUE_BYTES:
        raise InvalidOperation(f"entry value larger than {MAX_VALUE_BYTES} bytes")
    current = ctx.state.get_latest_version(account, key)
    if expected_version != current:
        raise VersionConflict(
            f"key {key!r} of {account} is at version {current}, not {expected_version}",
            account=account, key=key, current_version=current, expected_version=expected_version,
        )
    version = current + 1
    ctx.state.put_entry(EntryRecord(account, key, version, value, ctx.height, ctx.tx_hash))
    return version


def _op_kv_set(ctx: _TxContext, op: KVSet) -> None:
    ctx.require(LedgerPermission.WRITE_DATA_ACCOUNT)
    if not op.writes:
        raise InvalidOperation("KV set with no writes")
    _writable_account(ctx, op.account, AccountKind.DATA, ctx.signers)
    for write in op.writes:
        write_entry(ctx, op.account, write.key, write.value, write.expected_version)


def publish_event(ctx: _TxContext, account: str, topic: str, content: TypedValue, expected: int) -> int:
    _check_text("event topic", topic, MAX_TOPIC_BYTES)
    if len(content.data) > MAX_VALUE_BYTES:
        raise InvalidOperation("event content too large")
    head = ctx.state.get_topic_head(account, topic)
    current = -1 if head is None else head.sequence
    if expected != APPEND_ANY and expected != current:
        raise VersionConflict(
            f"topic {topic!r} of {account} is at sequence {current}, not {expected}",
            account=account, topic=topic, current_sequence=current,
        )
    event = Event(account, topic, current + 1, content, ctx.tx_hash, ctx.height)
    ctx.state.put_event(event)
    ctx.events.append(event)
    return event.sequence


def _op_publish_events(ctx: _TxContext, op: PublishEvents) -> None:
    ctx.require(LedgerPermission.WRITE_EVENT_ACCOUNT)
    if not op.events:
        raise InvalidOperation("publish with no events")
    _writable_account(ctx, op.account, AccountKind.EVENT, ctx.signers)
    for write in op.events:
        publish_event(ctx, op.account, write.topic, write.content, write.expected_sequence)


def _validate_contract(ctx: _TxContext, source: str) -> None:
    if len(source.encode("utf-8")) > MAX_CONTRACT_SOURCE_BYTES:
        raise InvalidOperation("contract source too large")
    if ctx.env.runtime is None:
        raise InvalidOperation("this node has no contract engine")
    select_contract_engine(ctx.env.runtime, ctx.authority.settings().contract_engine).validate(source)


def _op_deploy_contract(ctx: _TxContext, op: DeployContract) -> None:
    ctx.require(LedgerPermission.REGISTER_CONTRACT)
    if op.version < 1:
        raise InvalidOperation("contract version must be at least 1")
    _validate_contract(ctx, op.source)
    address = _register_account(ctx, op.public_key, AccountKind.CONTRACT)
    ctx.state.put_contract(ContractRecord(
        address=address,
        source=op.source,
        code_hash=ctx.env.hash_fn(op.source.encode("utf-8")),
        version=op.version,
        state=AccountState.NORMAL,
        owners=ctx.signers,
        deployed_height=ctx.height,
        updated_height=ctx.height,
    ))


def _op_upgrade_contract(ctx: _TxContext, op: UpgradeContract) -> None:
    _check_address(op.address)
    record = ctx.state.get_contract(op.address)
    if record is None:
        raise ContractNotFound(f"no contract {op.address}")
    ctx.authorize(op, ctx.organization_of(op.address) or None)
    if not any(s in record.owners for s in ctx.signers):
        ctx.require(LedgerPermission.UPGRADE_CONTRACT)
    if record.state == AccountState.REVOKED:
        raise AccountRevoked(f"contract {op.address} is revoked")
    if op.version <= record.version:
        raise InvalidOperation(f"new version {op.version} must exceed {record.version}")
    _validate_contract(ctx, op.source)
    ctx.state.put_contract(ContractRecord(
        address=record.address,
        source=op.source,
        code_hash=ctx.env.hash_fn(op.source.encode("utf-8")),
        version=op.version,
        state=record.state,
        owners=record.owners,
        deployed_height=record.deployed_height,
        updated_height=ctx.height,
    ))


def _op_invoke_contract(ctx: _TxContext, op: InvokeContract) -> None:
    args = codec.unpack_canonical(op.args)
    if not isinstance(args, list):
        raise InvalidOperation("contract arguments must be an array")
    if op.gas_limit <= 0:
        raise InvalidOperation("gas limit must be positive")
    ceiling = ctx.authority.settings().default_gas_limit
    if op.gas_limit > ceiling:
        raise InvalidOperation(f"gas limit {op.gas_limit} is above the ledger's default_gas_limit {ceiling}")
    first_signer = ctx.signers[0] if ctx.signers else ""
    result = invoke_contract(ctx, op.address, op.method, args, op.gas_limit, first_signer, 0)
    ctx.gas.used += result.gas_used
    ctx.returned = result.return_value


def invoke_contract(
    ctx: _TxContext, address: str, method: str, args: Sequence[object], gas_limit: int,
    caller: str, depth: int,
) -> InvocationResult:
    """Run a contract method in its own layer: its writes stay only if it succeeds."""
    _check_address(address)
    record = ctx.state.get_contract(address)
    if record is None:
        raise ContractNotFound(f"no contract {address}")
    _require_normal(record.state, address)
    if ctx.env.runtime is None:
        raise InvalidOperation("this node has no contract engine")
    runtime = select_contract_engine(ctx.env.runtime, ctx.authority.settings().contract_engine)
    code = ContractCode(record.address, record.source, record.code_hash, record.version)
    context = LedgerContractContext(ctx, address, caller, depth)
    event_mark = len(ctx.events)
    ctx.state.push()
    try:
        result = runtime.invoke(code, method, args, context, gas_limit)
    except JadechainError:
        ctx.state.discard()
        del ctx.events[event_mark:]
        raise
    ctx.state.merge()
    return result


class LedgerContractContext:
    """The ledger's implementation of :class:`ledger.contract_api.ContractContext`."""

    def __init__(self, ctx: _TxContext, contract_address: str, caller: str, depth: int) -> None:
        self._ctx = ctx
        self._address = contract_address
        self._caller = caller
        self._depth = depth

    @property
    def ledger_hash(self) -> bytes:
        return self._ctx.env.ledger_hash

    @property
    def tx_hash(self) -> bytes:
        return self._ctx.tx_hash

    @property
    def block_height(self) -> int:
        return self._ctx.height

    @property
    def block_time(self) -> int:
        return self._ctx.block.header.time

    @property
    def contract_address(self) -> str:
        return self._address

    @property
    def caller(self) -> str:
        return self._caller

    @property
    def signers(self) -> tuple[str, ...]:
        return self._ctx.signers

    @property
    def call_depth(self) -> int:
        return self._depth

    def get_entry(self, account: str, key: str, committed: bool = False) -> Entry | None:
        state = self._ctx.state
        version = state.get_latest_version(account, key, committed=committed)
        record = state.get_entry(account, key, version, committed=committed)
        return None if record is None else Entry(record.value, record.version)

    def get_entry_version(self, account: str, key: str, version: int) -> Entry | None:
        record = self._ctx.state.get_entry(account, key, version)
        return None if record is None else Entry(record.value, record.version)

    def set_entry(self, account: str, key: str, value: TypedValue, expected_version: int) -> int:
        if account != self._address:
            # A contract writes its own storage freely. For another data account only the contract's own authority counts: the account must have granted it
            # (the contract is an owner, or the account is open). The invoking signers'
            # authority is never lent to the contract (no confused deputy).
            writers = (self._address,)
            _writable_account(self._ctx, account, AccountKind.DATA, writers)
            self._ctx.require(LedgerPermission.WRITE_DATA_ACCOUNT)
        return write_entry(self._ctx, account, key, value, expected_version)

    def register_data_account(self, address: str, public_key: bytes) -> None:
        self._ctx.require(LedgerPermission.REGISTER_DATA_ACCOUNT)
        derived = _account_address(self._ctx, public_key)
        if derived != address:
            raise InvalidOperation("address does not match the public key")
        if self._ctx.state.get_account(address) is not None:
            raise AccountExists(f"account {address} is already registered")
        self._ctx.state.put_account(AccountRecord(
            address=address,
            kind=AccountKind.DATA,
            public_key=public_key,
            state=AccountState.NORMAL,
            owners=(self._address,),
            created_height=self._ctx.height,
            name="",
            write_policy=WritePolicy.OWNERS,
            organization=self._ctx.organization_of(self._address),
        ), new=True)

    def emit_event(self, topic: str, content: TypedValue) -> int:
        return publish_event(self._ctx, self._address, topic, content, APPEND_ANY)

    def call_contract(
        self, address: str, method: str, args: Sequence[object], gas_limit: int
    ) -> InvocationResult:
        return invoke_contract(self._ctx, address, method, args, gas_limit, self._address, self._depth + 1)

    def verified_fact(
        self, ledger_hash: bytes, bundle: bytes, expect: dict[str, Any], max_age_ms: int
    ) -> dict[str, Any]:
        """``ledger.contract_api.ForeignFacts``: the same check as a ``ProveForeignFact`` operation."""
        return light_client.verified_fact(
            self._ctx.state.get_light_client_raw, ledger_hash, light_client.parse_bundle(bundle),
            block_time=self.block_time, expect=expect, max_age_ms=max_age_ms,
        )


def _op_update_account_state(ctx: _TxContext, op: UpdateAccountState) -> None:
    _check_address(op.address)
    account = ctx.state.get_account(op.address)
    if account is None:
        raise AccountNotFound(f"no account {op.address}")
    if account.state == AccountState.REVOKED:
        raise AccountRevoked(f"account {op.address} is revoked for good")
    if op.address == governance.GOVERNANCE_ACCOUNT:
        raise InvalidOperation("the governance account cannot be frozen or revoked")
    ctx.authorize(op, account.organization or None)
    if account.kind == AccountKind.USER:
        ctx.require(LedgerPermission.UPDATE_USER_STATE)
    elif account.kind == AccountKind.CONTRACT:
        if not any(s in account.owners for s in ctx.signers):
            ctx.require(LedgerPermission.UPDATE_CONTRACT_STATE)
    else:
        if not any(s in account.owners for s in ctx.signers):
            ctx.require(LedgerPermission.UPDATE_ACCOUNT_STATE)
    ctx.state.put_account(_replace_account_state(account, op.state), new=False)
    if account.kind == AccountKind.CONTRACT:
        contract = ctx.state.get_contract(op.address)
        if contract is not None:
            ctx.state.put_contract(ContractRecord(
                contract.address, contract.source, contract.code_hash, contract.version,
                op.state, contract.owners, contract.deployed_height, ctx.height,
            ))


def _replace_account_state(account: AccountRecord, new_state: AccountState) -> AccountRecord:
    return AccountRecord(
        account.address, account.kind, account.public_key, new_state, account.owners,
        account.created_height, account.name, account.write_policy, account.organization,
    )


def _change_validator_set(ctx: _TxContext, public_key: bytes, joins: bool) -> None:
    """Start a new epoch at the next height (several changes in one block share it)."""
    record = ctx.state.get_validator_set()
    keys = set(record.public_keys) if record is not None else set()
    if joins:
        keys.add(public_key)
    else:
        keys.discard(public_key)
    if not keys:
        raise InvalidOperation("the last validator cannot leave")
    if ctx.env.genesis:
        epoch, since = 0, 0
    elif record is not None and record.since_height == ctx.height + 1:
        epoch, since = record.epoch, record.since_height
    else:
        epoch, since = (record.epoch + 1 if record is not None else 0), ctx.height + 1
    ctx.state.put_validator_set(ValidatorSetRecord(epoch, tuple(sorted(keys)), since))


def _op_register_participant(ctx: _TxContext, op: RegisterParticipant) -> None:
    ctx.require(LedgerPermission.REGISTER_PARTICIPANT)
    ctx.authorize(op, None)
    _check_text("participant name", op.name, MAX_NAME_BYTES)
    address = _account_address(ctx, op.public_key)
    if ctx.state.get_participant(address) is not None:
        raise AccountExists(f"participant {address} is already registered")
    initial = ParticipantState.CONSENSUS if ctx.env.genesis else ParticipantState.READY
    if len(op.address) > MAX_NAME_BYTES:
        raise InvalidOperation("participant network address too long")
    organization = governance.check_organization_name(op.organization or op.name)
    members = ctx.members()
    if members.active and not members.is_member(organization):
        # A node of a new organisation makes it a member (weight 1; a settings proposal changes it).
        settings = current_settings(ctx.state, ctx.env)
        ctx.state.put_settings(_replace_settings(
            settings, governance=governance.governance_value(members.with_organization(organization)),
        ))
    ctx.state.put_participant(ParticipantRecord(
        address, op.name, op.public_key, initial, ctx.height, op.address, organization,
    ))
    if ctx.env.genesis:
        _change_validator_set(ctx, op.public_key, joins=True)


_ALLOWED_PARTICIPANT_CHANGES = {
    (ParticipantState.READY, ParticipantState.CONSENSUS),
    (ParticipantState.READY, ParticipantState.DEACTIVATED),
    (ParticipantState.CONSENSUS, ParticipantState.DEACTIVATED),
}


def _op_update_participant_state(ctx: _TxContext, op: UpdateParticipantState) -> None:
    """Activate a registered node as a validator, or deactivate one (a governed change)."""
    ctx.require(LedgerPermission.UPDATE_PARTICIPANT_STATE)
    ctx.authorize(op, None)
    _check_address(op.address)
    record = ctx.state.get_participant(op.address)
    if record is None:
        raise AccountNotFound(f"no participant {op.address}")
    if (record.state, op.state) not in _ALLOWED_PARTICIPANT_CHANGES:
        raise InvalidOperation(f"a participant cannot go from {record.state.name} to {op.state.name}")
    ctx.state.put_participant(ParticipantRecord(
        record.address, record.name, record.public_key, op.state, record.registered_height,
        record.network_address, record.organization,
    ))
    if op.state == ParticipantState.CONSENSUS:
        _change_validator_set(ctx, record.public_key, joins=True)
    elif record.state == ParticipantState.CONSENSUS:
        _change_validator_set(ctx, record.public_key, joins=False)


def _op_configure_role(ctx: _TxContext, op: ConfigureRole) -> None:
    ctx.require(LedgerPermission.CONFIGURE_ROLES)
    ctx.authorize(op, None)
    _check_text("role name", op.role, MAX_NAME_BYTES)
    current = ctx.state.get_role(op.role)
    ledger_permissions = set(current.ledger_permissions) if current else set()
    tx_permissions = set(current.tx_permissions) if current else set()
    ledger_permissions |= set(op.grant_ledger)
    ledger_permissions -= set(op.revoke_ledger)
    tx_permissions |= set(op.grant_tx)
    tx_permissions -= set(op.revoke_tx)
    ctx.state.put_role(RoleRecord(
        op.role, tuple(sorted(ledger_permissions)), tuple(sorted(tx_permissions)),
    ))


def _op_authorize_user_roles(ctx: _TxContext, op: AuthorizeUserRoles) -> None:
    ctx.require(LedgerPermission.AUTHORIZE_USER_ROLES)
    for role in (*op.authorize, *op.unauthorize):
        if ctx.state.get_role(role) is None:
            raise InvalidOperation(f"role {role!r} is not configured")
    for user in op.users:
        _check_address(user)
        account = ctx.state.get_account(user)
        if account is None or account.kind != AccountKind.USER:
            raise AccountNotFound(f"no user {user}")
        ctx.authorize(op, account.organization or None)
        current = ctx.state.get_user_roles(user)
        roles = set(current.roles) if current else set()
        roles |= set(op.authorize)
        roles -= set(op.unauthorize)
        ctx.state.put_user_roles(UserRolesRecord(user, tuple(sorted(roles)), op.policy))


GOVERNED_SETTINGS = (
    "consensus", "signature_algorithms", "max_tx_bytes", "max_ops_per_tx", "default_gas_limit", "governance",
)


def _op_update_ledger_settings(ctx: _TxContext, op: UpdateLedgerSettings) -> None:
    settings = current_settings(ctx.state, ctx.env)
    value = op.value
    new: LedgerSettings
    if op.name != "genesis":
        if op.name not in GOVERNED_SETTINGS:
            raise InvalidOperation(f"unknown setting {op.name!r}; governed: {', '.join(GOVERNED_SETTINGS)}")
        ctx.require(LedgerPermission.SET_CRYPTO if op.name == "signature_algorithms" else LedgerPermission.SET_CONSENSUS)
        ctx.authorize(op, None)
    if op.name == "genesis":
        if not ctx.env.genesis:
            raise PermissionDenied("genesis settings can only be set by the genesis block")
        if value.type != ValueType.BYTES:
            raise InvalidOperation("genesis settings must be the encoded LedgerSettings")
        new = codec.decode(LedgerSettings, value.data)
    elif op.name == "governance":
        ctx.require(LedgerPermission.SET_CONSENSUS)
        if value.type != ValueType.JSON:
            raise InvalidOperation("governance must be JSON")
        table = governance.governance_from_json(value.to_python())
        if not table.active:
            raise InvalidOperation("governance.organizations must name at least one member organisation")
        new = _replace_settings(settings, governance=governance.governance_value(table))
    elif op.name == "consensus":
        ctx.require(LedgerPermission.SET_CONSENSUS)
        if value.type != ValueType.JSON:
            raise InvalidOperation("consensus settings must be JSON")
        new = _replace_settings(settings, consensus=value)
    elif op.name == "signature_algorithms":
        ctx.require(LedgerPermission.SET_CRYPTO)
        codes = value.to_python()
        if not isinstance(codes, list) or not codes or not all(isinstance(c, int) for c in codes):
            raise InvalidOperation("signature_algorithms must be a JSON list of algorithm codes")
        for code in codes:
            if not algorithm_by_code(code).is_signature:
                raise InvalidOperation(f"algorithm {code:#06x} is not a signature algorithm")
        new = _replace_settings(settings, signature_algorithms=tuple(sorted(set(codes))))
    elif op.name in ("max_tx_bytes", "max_ops_per_tx", "default_gas_limit"):
        ctx.require(LedgerPermission.SET_CONSENSUS)
        number = value.to_python()
        if value.type != ValueType.INT64 or not isinstance(number, int) or number <= 0:
            raise InvalidOperation(f"{op.name} must be a positive INT64")
        new = _replace_settings(settings, **{op.name: number})
    else:
        raise InvalidOperation(f"unknown setting {op.name!r}; governed: {', '.join(GOVERNED_SETTINGS)}")
    ctx.state.put_settings(new)


def _replace_settings(settings: LedgerSettings, **changes: object) -> LedgerSettings:
    fields = {
        "hash_algorithm": settings.hash_algorithm,
        "signature_algorithms": settings.signature_algorithms,
        "consensus": settings.consensus,
        "max_tx_bytes": settings.max_tx_bytes,
        "max_ops_per_tx": settings.max_ops_per_tx,
        "default_gas_limit": settings.default_gas_limit,
        "governance": settings.governance,
        "contract_engine": settings.contract_engine,
    }
    fields.update(changes)
    return LedgerSettings(**fields)  # type: ignore[arg-type]


# --- proposals and votes ------------------------------------------------------------------
#
# A proposal is an entry of the governance account (key: hex of the proposing transaction's
# hash; one version per change), so an entry proof proves its votes and its outcome.

def _voting_organizations(ctx: _TxContext) -> tuple[str, ...]:
    if ctx.governed_by:
        raise InvalidOperation("a proposal cannot propose or vote")
    if not ctx.members().active:
        raise InvalidOperation("this ledger has no member organisations to vote")
    organizations = ctx.approving_organizations()
    if not organizations:
        raise PermissionDenied("no signer may vote for a member organisation (a member's user with APPROVE_TX)")
    return organizations


def _read_proposal(ctx: _TxContext, proposal_id: bytes) -> tuple[dict[str, object], int]:
    key = governance.proposal_key(proposal_id)
    version = ctx.state.get_latest_version(governance.GOVERNANCE_ACCOUNT, key)
    record = ctx.state.get_entry(governance.GOVERNANCE_ACCOUNT, key, version)
    if record is None:
        raise ProposalNotFound(f"no proposal {key}")
    data = record.value.to_python()
    if not isinstance(data, dict):
        raise InvalidOperation(f"proposal {key} is not readable")
    return data, version


def _write_proposal(ctx: _TxContext, data: dict[str, object], expected_version: int) -> None:
    if ctx.state.get_account(governance.GOVERNANCE_ACCOUNT) is None:
        ctx.state.put_account(AccountRecord(
            address=governance.GOVERNANCE_ACCOUNT,
            kind=AccountKind.DATA,
            public_key=governance.GOVERNANCE_ACCOUNT_KEY.encoded,
            state=AccountState.NORMAL,
            owners=(),
            created_height=ctx.height,
            name="",
            write_policy=WritePolicy.OWNERS,
        ), new=True)
    key = str(data["id"])
    write_entry(ctx, governance.GOVERNANCE_ACCOUNT, key, TypedValue.json_(data), expected_version)


def _proposed_operations(data: dict[str, object]) -> tuple[Operation, ...]:
    return codec.decode(ProposedOperations, bytes.fromhex(str(data["operations"]))).operations


def _op_propose(ctx: _TxContext, op: Propose) -> None:
    organizations = _voting_organizations(ctx)
    operations = codec.decode(ProposedOperations, op.operations).operations
    if not operations:
        raise InvalidOperation("a proposal needs at least one operation")
    if len(operations) > current_settings(ctx.state, ctx.env).max_ops_per_tx:
        raise InvalidOperation("too many operations in one proposal")
    if any(isinstance(item, (Propose, Vote)) for item in operations):
        raise InvalidOperation("a proposal cannot contain proposals or votes")
    _check_text("proposal reason", op.reason, governance.MAX_REASON_BYTES)
    now = ctx.block.header.time
    expiry = op.expiry or now + ctx.members().proposal_ttl_ms
    if expiry <= now:
        raise InvalidOperation("the proposal's expiry has already passed")
    key = governance.proposal_key(ctx.tx_hash)
    if ctx.state.get_latest_version(governance.GOVERNANCE_ACCOUNT, key) != -1:
        raise InvalidOperation("one proposal per transaction")
    proposer = next(s for s in ctx.signers if ctx.organization_of(s) in organizations)
    data: dict[str, object] = {
        "id": key,
        "proposer": proposer,
        "organization": ctx.organization_of(proposer),
        "reason": op.reason,
        "operations": op.operations.hex(),
        "kinds": [type(item).__name__ for item in operations],
        "policies": [ctx.members().policy_for(item) for item in operations],
        "created_height": ctx.height,
        "expiry": expiry,
        "status": governance.STATUS_OPEN,
        "votes": {org: {"approve": True, "voter": _voter(ctx, org), "height": ctx.height} for org in organizations},
        "decided_height": -1,
        "result": "",
    }
    _decide_proposal(ctx, data, operations)
    _write_proposal(ctx, data, -1)


def _voter(ctx: _TxContext, organization: str) -> str:
    return next(s for s in ctx.signers if ctx.organization_of(s) == organization)


def _op_vote(ctx: _TxContext, op: Vote) -> None:
    organizations = _voting_organizations(ctx)
    data, version = _read_proposal(ctx, op.proposal)
    if data.get("status") != governance.STATUS_OPEN:
        raise ProposalDecided(f"proposal {data['id']} is already {data.get('status')}", status=data.get("status"))
    expiry = data.get("expiry")
    if isinstance(expiry, int) and ctx.block.header.time > expiry:
        raise ProposalExpired(f"proposal {data['id']} expired at {expiry}", expiry=expiry)
    votes = data.get("votes")
    if not isinstance(votes, dict):
        raise InvalidOperation(f"proposal {data['id']} is not readable")
    changed = False
    for org in organizations:
        previous = votes.get(org)
        if isinstance(previous, dict) and previous.get("approve") is op.approve:
            continue
        votes[org] = {"approve": op.approve, "voter": _voter(ctx, org), "height": ctx.height}
        changed = True
    if not changed:
        raise AlreadyVoted(f"{', '.join(organizations)} already voted {'for' if op.approve else 'against'} this proposal")
    _decide_proposal(ctx, data, _proposed_operations(data))
    _write_proposal(ctx, data, version)


def _decide_proposal(ctx: _TxContext, data: dict[str, object], operations: Sequence[Operation]) -> None:
    """Run the proposal's operations if its policy is met now; mark it rejected if it never can be."""
    votes = data.get("votes")
    if not isinstance(votes, dict):
        raise InvalidOperation(f"proposal {data.get('id')} is not readable")
    approvals = sorted(org for org, vote in votes.items() if isinstance(vote, dict) and vote.get("approve") is True)
    rejections = sorted(org for org, vote in votes.items() if isinstance(vote, dict) and vote.get("approve") is False)
    outcome = governance.decide(ctx.members(), operations, approvals, rejections)
    if outcome == "open":
        return
    data["decided_height"] = ctx.height
    if outcome == "rejected":
        data["status"] = governance.STATUS_REJECTED
        return
    governed = _TxContext(
        ctx.state, ctx.env, ctx.block, ctx.tx_hash, (str(data["proposer"]),), ctx.events, ctx.gas,
        ctx.authority, governed_by=str(data["organization"]),
    )
    event_mark = len(ctx.events)
    ctx.state.push()
    try:
        for operation in operations:
            _apply_operation(governed, operation)
    except JadechainError as error:
        ctx.state.discard()
        del ctx.events[event_mark:]
        data["status"] = governance.STATUS_FAILED
        data["result"] = error.code
        return
    ctx.state.merge()
    data["status"] = governance.STATUS_EXECUTED
    data["result"] = SUCCESS


# --- light clients of other ledgers (ledger/light_client.py holds the rules) -------------------------

def _light_client_of(ctx: _TxContext, ledger_hash: bytes) -> light_client.LightClientRecord:
    return light_client.read_light_client(ctx.state.get_light_client_raw, ledger_hash)


def _op_create_light_client(ctx: _TxContext, op: CreateLightClient) -> None:
    ctx.require(LedgerPermission.SET_CONSENSUS)
    ctx.authorize(op, None)
    if ctx.state.get_light_client_raw(op.ledger_hash) is not None:
        raise light_client.LightClientExists("this ledger already follows that ledger; advance it instead")
    record = light_client.new_light_client(op.ledger_hash, op.name, op.epoch, op.since_height, op.public_keys)
    ctx.state.put_light_client_raw(op.ledger_hash, codec.encode(record))


def _op_advance_light_client(ctx: _TxContext, op: AdvanceLightClient) -> None:
    record = light_client.advance_light_client(_light_client_of(ctx, op.ledger_hash), op.epoch_change)
    ctx.state.put_light_client_raw(op.ledger_hash, codec.encode(record))


def _op_prove_foreign_fact(ctx: _TxContext, op: ProveForeignFact) -> None:
    light_client.verified_fact(
        ctx.state.get_light_client_raw, op.ledger_hash, op.bundle,
        block_time=ctx.block.header.time, expect=light_client.parse_expectation(op.expect),
        max_age_ms=op.max_age_ms,
    )


_HANDLERS: dict[type, Callable[[_TxContext, object], None]] = {
    RegisterUser: _op_register_user,  # type: ignore[dict-item]
    RegisterDataAccount: _op_register_data_account,  # type: ignore[dict-item]
    RegisterEventAccount: _op_register_event_account,  # type: ignore[dict-item]
    KVSet: _op_kv_set,  # type: ignore[dict-item]
    PublishEvents: _op_publish_events,  # type: ignore[dict-item]
    DeployContract: _op_deploy_contract,  # type: ignore[dict-item]
    UpgradeContract: _op_upgrade_contract,  # type: ignore[dict-item]
    InvokeContract: _op_invoke_contract,  # type: ignore[dict-item]
    UpdateAccountState: _op_update_account_state,  # type: ignore[dict-item]
    RegisterParticipant: _op_register_participant,  # type: ignore[dict-item]
    UpdateParticipantState: _op_update_participant_state,  # type: ignore[dict-item]
    ConfigureRole: _op_configure_role,  # type: ignore[dict-item]
    AuthorizeUserRoles: _op_authorize_user_roles,  # type: ignore[dict-item]
    UpdateLedgerSettings: _op_update_ledger_settings,  # type: ignore[dict-item]
    Propose: _op_propose,  # type: ignore[dict-item]
    Vote: _op_vote,  # type: ignore[dict-item]
    CreateLightClient: _op_create_light_client,  # type: ignore[dict-item]
    AdvanceLightClient: _op_advance_light_client,  # type: ignore[dict-item]
    ProveForeignFact: _op_prove_foreign_fact,  # type: ignore[dict-item]
}
