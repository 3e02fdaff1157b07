"""Wire and ledger types: transactions, operations, blocks, results.

Every type here is a frozen, slotted dataclass whose field order *is* its
canonical encoding (see :mod:`ledger.codec`); reordering fields changes every
hash on the chain. Hashes, public keys and signatures are carried in JD Chain's
``algorithm code ‖ raw bytes`` form; addresses are base58 strings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar, NewType

from ledger import codec
from ledger.values import TypedValue, ValueType

HashDigest = NewType("HashDigest", bytes)
"""``code ‖ raw digest`` in the ledger's hash algorithm."""
Address = NewType("Address", str)
"""Base58 account address (see :mod:`ledger.crypto.address`)."""
Height = NewType("Height", int)

NO_VERSION = -1
"""The version of an entry that was never written."""


# --- enumerations --------------------------------------------------------------

class AccountKind(enum.IntEnum):
    USER = 1
    DATA = 2
    CONTRACT = 3
    EVENT = 4
    PARTICIPANT = 5


class AccountState(enum.IntEnum):
    NORMAL = 1
    FROZEN = 2
    REVOKED = 3


class ParticipantState(enum.IntEnum):
    READY = 1
    """Registered, not yet a validator (waits for activation at an epoch boundary)."""
    CONSENSUS = 2
    """A validator of the current epoch."""
    DEACTIVATED = 3


class LedgerPermission(enum.IntEnum):
    """What a role may do to the ledger (JD Chain's ledger permissions)."""

    CONFIGURE_ROLES = 1
    AUTHORIZE_USER_ROLES = 2
    SET_CONSENSUS = 3
    SET_CRYPTO = 4
    REGISTER_PARTICIPANT = 5
    REGISTER_USER = 6
    REGISTER_DATA_ACCOUNT = 7
    REGISTER_CONTRACT = 8
    UPGRADE_CONTRACT = 9
    WRITE_DATA_ACCOUNT = 10
    APPROVE_TX = 11
    CONSENSUS_TX = 12
    REGISTER_EVENT_ACCOUNT = 13
    WRITE_EVENT_ACCOUNT = 14
    UPDATE_USER_STATE = 15
    UPDATE_CONTRACT_STATE = 16
    UPDATE_ACCOUNT_STATE = 17
    UPDATE_PARTICIPANT_STATE = 18


class TransactionPermission(enum.IntEnum):
    """How a role may transact: operations directly, or through contracts."""

    DIRECT_OPERATION = 1
    CONTRACT_OPERATION = 2


class RolesPolicy(enum.IntEnum):
    """How a user's several roles combine."""

    UNION = 1
    INTERSECT = 2


class WritePolicy(enum.IntEnum):
    """Who may write a data account besides holders of WRITE_DATA_ACCOUNT."""

    OWNERS = 1
    """Only the account's owners (the signers that registered it) may write."""
    ANY_WRITER = 2
    """Any signer with the WRITE_DATA_ACCOUNT permission may write."""


# --- identities ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class EndpointSignature:
    """A signer's public key and signature over the transaction hash."""

    public_key: bytes
    """Encoded public key (``code ‖ raw``)."""
    signature: bytes
    """Encoded signature (``code ‖ raw``) over the transaction hash bytes."""


@dataclass(frozen=True, slots=True)
class KVWrite:
    """One key-value write naming the version it expects to replace."""

    key: str
    value: TypedValue
    expected_version: int
    """-1 for a key never written; the current version otherwise."""


@dataclass(frozen=True, slots=True)
class EventWrite:
    topic: str
    content: TypedValue
    expected_sequence: int
    """The topic's current last sequence (-1 when empty); -2 appends without a check."""


APPEND_ANY = -2


# --- operations ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RegisterUser:
    public_key: bytes
    """Encoded public key; the user's address is derived from it."""
    name: str
    organization: str = ""
    """The organisation the user belongs to; empty: the registering signer's. Registering a user
    into an organisation that did not sign needs the members' approval (see :mod:`ledger.governance`)."""


@dataclass(frozen=True, slots=True)
class RegisterDataAccount:
    public_key: bytes
    """Encoded public key the account address is derived from (JD Chain identity)."""
    write_policy: WritePolicy


@dataclass(frozen=True, slots=True)
class RegisterEventAccount:
    public_key: bytes


@dataclass(frozen=True, slots=True)
class KVSet:
    """Write entries of one data account; all writes of the operation or none."""

    account: str
    writes: tuple[KVWrite, ...]


@dataclass(frozen=True, slots=True)
class PublishEvents:
    account: str
    events: tuple[EventWrite, ...]


@dataclass(frozen=True, slots=True)
class DeployContract:
    public_key: bytes
    """Encoded public key the contract address is derived from."""
    source: str
    version: int


@dataclass(frozen=True, slots=True)
class UpgradeContract:
    address: str
    source: str
    version: int
    """Must be greater than the deployed version."""


@dataclass(frozen=True, slots=True)
class InvokeContract:
    address: str
    method: str
    args: bytes
    """Canonical msgpack array of the arguments (str, int, bool, bytes, lists)."""
    gas_limit: int


@dataclass(frozen=True, slots=True)
class UpdateAccountState:
    """Freeze, unfreeze or revoke a user, data, event or contract account."""

    address: str
    state: AccountState


@dataclass(frozen=True, slots=True)
class RegisterParticipant:
    name: str
    public_key: bytes
    """The node's consensus key (encoded)."""
    address: str = ""
    """Where peers reach the node's consensus port (``host:port``); empty if not published."""
    organization: str = ""
    """The member organisation that runs the node; empty means an organisation of its own (its name)."""


@dataclass(frozen=True, slots=True)
class UpdateParticipantState:
    address: str
    state: ParticipantState


@dataclass(frozen=True, slots=True)
class ConfigureRole:
    role: str
    grant_ledger: tuple[LedgerPermission, ...]
    revoke_ledger: tuple[LedgerPermission, ...]
    grant_tx: tuple[TransactionPermission, ...]
    revoke_tx: tuple[TransactionPermission, ...]


@dataclass(frozen=True, slots=True)
class AuthorizeUserRoles:
    users: tuple[str, ...]
    authorize: tuple[str, ...]
    unauthorize: tuple[str, ...]
    policy: RolesPolicy


@dataclass(frozen=True, slots=True)
class UpdateLedgerSettings:
    """Change a governed setting; ``value`` is the new setting's canonical bytes."""

    name: str
    value: TypedValue


@dataclass(frozen=True, slots=True)
class Propose:
    """Put operations that one organisation may not run alone to the member organisations' vote.

    The proposal's id is the hash of the transaction that carries this operation. The
    proposer's organisation approves by proposing; the executor runs ``operations`` in the
    block where the ledger's policy for them is met (see :mod:`ledger.governance`).
    """

    operations: bytes
    """The canonical encoding of a :class:`ProposedOperations` (kept as bytes: an operation
    that holds operations would make the wire format recursive)."""
    reason: str
    expiry: int
    """Block time (ms) after which the proposal can no longer be decided; 0 = the ledger's default."""


@dataclass(frozen=True, slots=True)
class Vote:
    """An organisation's vote on an open proposal; a later vote replaces an earlier one."""

    proposal: bytes
    """The proposal id (the hash of the proposing transaction)."""
    approve: bool


@dataclass(frozen=True, slots=True)
class CreateLightClient:
    """Follow another ledger (governed): its hash and the validators of one of its epochs.

    See :mod:`ledger.light_client`; the members of this ledger decide which ledger they trust.
    """

    ledger_hash: bytes
    """The followed ledger's hash."""
    name: str
    epoch: int
    """The followed ledger's epoch whose validators are given."""
    since_height: int
    """The first height of that epoch on the followed ledger."""
    public_keys: tuple[bytes, ...]
    """That epoch's validators (encoded public keys, sorted)."""


@dataclass(frozen=True, slots=True)
class AdvanceLightClient:
    """Move a light client to the followed ledger's next epoch; anyone may submit it."""

    ledger_hash: bytes
    epoch_change: bytes
    """An encoded :class:`ledger.certificate.EpochChangeCertificate` of the followed ledger."""


@dataclass(frozen=True, slots=True)
class ProveForeignFact:
    """Evidence from another ledger: the transaction fails unless the bundle proves the fact."""

    ledger_hash: bytes
    """The light client (followed ledger) the bundle is checked against."""
    bundle: bytes
    """The proof bundle (entry, transaction or event) as UTF-8 JSON."""
    expect: bytes
    """A JSON object of claim fields the proven fact must have (empty: any)."""
    max_age_ms: int
    """With a value above 0, the certified header may be at most this much older than this block."""


Operation = (
    RegisterUser
    | RegisterDataAccount
    | RegisterEventAccount
    | KVSet
    | PublishEvents
    | DeployContract
    | UpgradeContract
    | InvokeContract
    | UpdateAccountState
    | RegisterParticipant
    | UpdateParticipantState
    | ConfigureRole
    | AuthorizeUserRoles
    | UpdateLedgerSettings
    | Propose
    | Vote
    | CreateLightClient
    | AdvanceLightClient
    | ProveForeignFact
)

OPERATION_TAGS: dict[int, type] = {
    1: RegisterUser,
    2: RegisterDataAccount,
    3: RegisterEventAccount,
    4: KVSet,
    5: PublishEvents,
    6: DeployContract,
    7: UpgradeContract,
    8: InvokeContract,
    9: UpdateAccountState,
    10: RegisterParticipant,
    11: UpdateParticipantState,
    12: ConfigureRole,
    13: AuthorizeUserRoles,
    14: UpdateLedgerSettings,
    15: Propose,
    16: Vote,
    40: CreateLightClient,
    41: AdvanceLightClient,
    42: ProveForeignFact,
}
codec.register_union(Operation, OPERATION_TAGS)


@dataclass(frozen=True, slots=True)
class ProposedOperations:
    """What a :class:`Propose` asks the members to approve, in the order it will run."""

    operations: tuple[Operation, ...]


# --- transactions ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TransactionContent:
    """What the signers sign (through its hash)."""

    ledger_hash: bytes
    """The ledger this transaction is for (empty only in the genesis transaction)."""
    operations: tuple[Operation, ...]
    time: int
    """Client time in milliseconds since the epoch (informational)."""
    nonce: bytes
    """16 random bytes so that two identical requests are two transactions."""
    expiry: int
    """Block time (ms) after which the transaction may no longer be included; 0 = never."""


@dataclass(frozen=True, slots=True)
class Transaction:
    content: TransactionContent
    signatures: tuple[EndpointSignature, ...]


class TxStatus(str, enum.Enum):
    """Status recorded in a transaction's info; the same strings as error codes."""

    SUCCESS = "SUCCESS"


@dataclass(frozen=True, slots=True)
class TransactionInfo:
    """The accumulator leaf for one executed transaction."""

    tx_hash: bytes
    height: int
    index: int
    """Position of the transaction in its block."""
    status: str
    """"SUCCESS" or the stable error code that made it fail."""
    write_set_hash: bytes
    events_hash: bytes
    gas_used: int
    results: tuple[TypedValue, ...] = ()
    """What the operations returned, one per operation, when the transaction succeeded and invoked
    a contract: an ``InvokeContract`` operation's return value, NIL for the others. Empty
    otherwise (left out of the encoding, so a transaction without contract calls keeps its leaf)."""

    __codec_optional_tail__: ClassVar[tuple[str, ...]] = ("results",)


@dataclass(frozen=True, slots=True)
class Event:
    """One published event (by a user or by a contract)."""

    account: str
    topic: str
    sequence: int
    content: TypedValue
    tx_hash: bytes
    height: int


# --- blocks ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BlockHeader:
    """A block's header. Its hash is the block hash; the genesis block hash is the ledger hash.

    Execution roots are those after the *previous* block (pipelined execution):
    a replica refuses a header whose roots differ from the ones it computed.
    """

    ledger_hash: bytes
    """Empty in the genesis header (the ledger hash is that header's hash)."""
    height: int
    previous_hash: bytes
    """Hash of the previous header; empty for genesis."""
    tx_root: bytes
    """Hash of the encoded list of this block's transaction hashes."""
    tx_count: int
    state_root: bytes
    """State-tree root after executing the previous block (raw digest)."""
    accumulator_root: bytes
    """Transaction-accumulator root after the previous block (raw digest)."""
    accumulator_size: int
    """Number of transaction infos in the accumulator after the previous block."""
    time: int
    """Block time, ms since the epoch, as proposed and certified by the validators."""
    proposer: bytes
    """Encoded public key of the proposing node (empty for genesis)."""
    epoch: int
    """Validator-set epoch this block was decided in."""


@dataclass(frozen=True, slots=True)
class Block:
    header: BlockHeader
    transactions: tuple[Transaction, ...]


@dataclass(frozen=True, slots=True)
class ExecutionRoots:
    state_root: bytes
    accumulator_root: bytes
    accumulator_size: int


# --- records stored in the ledger (and leaves of the state tree) -----------------------

@dataclass(frozen=True, slots=True)
class AccountRecord:
    address: str
    kind: AccountKind
    public_key: bytes
    state: AccountState
    owners: tuple[str, ...]
    """Addresses of the signers that registered the account."""
    created_height: int
    name: str
    """User or participant name; empty for other kinds."""
    write_policy: WritePolicy
    organization: str = ""
    """The member organisation that registered the account and administers it alone."""


@dataclass(frozen=True, slots=True)
class ContractRecord:
    address: str
    source: str
    code_hash: bytes
    version: int
    state: AccountState
    owners: tuple[str, ...]
    deployed_height: int
    updated_height: int


@dataclass(frozen=True, slots=True)
class EntryRecord:
    """One version of one data-account entry; the state leaf proves all of it."""

    account: str
    key: str
    version: int
    value: TypedValue
    height: int
    """Height of the block that wrote this version."""
    tx_hash: bytes


@dataclass(frozen=True, slots=True)
class EventHead:
    """The last event of a topic (the state tree proves a topic's length)."""

    account: str
    topic: str
    sequence: int
    event_hash: bytes


@dataclass(frozen=True, slots=True)
class RoleRecord:
    role: str
    ledger_permissions: tuple[LedgerPermission, ...]
    tx_permissions: tuple[TransactionPermission, ...]


@dataclass(frozen=True, slots=True)
class UserRolesRecord:
    user: str
    roles: tuple[str, ...]
    policy: RolesPolicy


@dataclass(frozen=True, slots=True)
class ParticipantRecord:
    address: str
    name: str
    public_key: bytes
    state: ParticipantState
    registered_height: int
    network_address: str = ""
    """``host:port`` of the node's consensus endpoint, as registered (JD Chain keeps it on chain too)."""
    organization: str = ""
    """The member organisation that runs the node."""


@dataclass(frozen=True, slots=True)
class ValidatorSetRecord:
    """The validator set in force, kept in the state tree so that it is provable.

    Changed only by governed participant transactions; each change starts a new epoch
    at the next height.
    """

    epoch: int
    public_keys: tuple[bytes, ...]
    """Encoded public keys of the validators, sorted."""
    since_height: int
    """First block height decided by this set (0 for the genesis set)."""


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    """Settings fixed at genesis and changed only by governed transactions."""

    hash_algorithm: int
    """Code of SM3 or SHA-256."""
    signature_algorithms: tuple[int, ...]
    """Codes of the accepted signature algorithms."""
    consensus: TypedValue
    """Consensus settings as canonical JSON (block size, timeouts, ...)."""
    max_tx_bytes: int
    max_ops_per_tx: int
    default_gas_limit: int
    governance: TypedValue = TypedValue(ValueType.JSON, b"{}")
    """Canonical JSON: member organisations with their weights and the per-operation policy
    table (see :mod:`ledger.governance`); ``{}`` on ledgers without member organisations."""
    contract_engine: str = ""
    """Identity of the contract engine the ledger was created with (empty: the legacy sandbox).
    A node whose engine has another identity refuses to execute contracts rather than diverge;
    left out of the encoding when empty, so older encodings stay valid."""

    __codec_optional_tail__: ClassVar[tuple[str, ...]] = ("contract_engine",)


# --- values that go into the canonical encoding helpers ----------------------------

def typed_value(value: object) -> TypedValue:
    """Convert a plain Python value to the TypedValue a client most likely means."""
    if isinstance(value, TypedValue):
        return value
    if value is None:
        return TypedValue.nil()
    if isinstance(value, bool):
        return TypedValue.boolean(value)
    if isinstance(value, int):
        return TypedValue.int64(value)
    if isinstance(value, str):
        return TypedValue.text(value)
    if isinstance(value, (bytes, bytearray)):
        return TypedValue.bytes_(bytes(value))
    return TypedValue.json_(value)


__all__ = [
    "AccountKind", "AccountRecord", "AccountState", "Address", "AuthorizeUserRoles", "Block",
    "BlockHeader", "ConfigureRole", "ContractRecord", "DeployContract", "EndpointSignature",
    "EntryRecord", "Event", "EventHead", "EventWrite", "ExecutionRoots", "HashDigest", "Height",
    "InvokeContract", "KVSet", "KVWrite", "LedgerPermission", "LedgerSettings", "NO_VERSION",
    "Operation", "ParticipantRecord", "ParticipantState", "Propose", "ProposedOperations", "PublishEvents", "RegisterDataAccount",
    "RegisterEventAccount", "RegisterParticipant", "RegisterUser", "RoleRecord", "RolesPolicy",
    "Transaction", "TransactionContent", "TransactionInfo", "TransactionPermission",
    "TxStatus", "TypedValue", "UpdateAccountState", "UpdateLedgerSettings",
    "UpdateParticipantState", "UpgradeContract", "UserRolesRecord", "ValidatorSetRecord", "ValueType", "Vote",
    "WritePolicy",
    "APPEND_ANY", "typed_value",
]
