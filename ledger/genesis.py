"""The genesis ceremony: founders agree on one genesis block, hence one ledger hash.

1. *propose*: someone turns the ledger init config (TOML) into a genesis
   proposal: the genesis transaction content, built deterministically from the
   config alone (its nonce is derived from the config, not drawn at random), so
   every founder who holds the same config derives the same proposal.
2. *sign*: each founding participant signs the proposal's transaction hash with
   its own key.
3. *assemble*: once every founder has signed, anyone builds the genesis block;
   its header hash is the ledger hash, and every party gets the same one.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ledger import codec, governance
from ledger.crypto import (
    PrivateKey,
    PublicKey,
    address_from_public_key,
    algorithm_by_code,
    algorithm_by_name,
    hash_digest,
    hasher,
    sign,
    verify,
)
from ledger.errors import ConfigError, CryptoError, InvalidOperation, InvalidSignature, UnknownAlgorithm
from ledger.ledger import block_hash, compute_tx_root
from ledger.merkle.accumulator import empty_root
from ledger.merkle.state_tree import SPARSE_MERKLE_PLACEHOLDER_HASH
from ledger.types import (
    AuthorizeUserRoles,
    Block,
    BlockHeader,
    ConfigureRole,
    EndpointSignature,
    LedgerPermission,
    LedgerSettings,
    Operation,
    RegisterParticipant,
    RegisterUser,
    RolesPolicy,
    Transaction,
    TransactionContent,
    TransactionPermission,
    UpdateLedgerSettings,
)
from ledger.values import TypedValue, canonical_json

ADMIN_ROLE = "ADMIN"
DEFAULT_ROLE = "DEFAULT"

DEFAULT_CONSENSUS = {
    "max_block_txs": 2000,
    "max_block_bytes": 4 * 1024 * 1024,
    "round_timeout_ms": 3000,
    "max_round_timeout_ms": 60000,
    "idle_block_ms": 50,
}

DEFAULT_ROLE_PERMISSIONS: dict[str, tuple[tuple[LedgerPermission, ...], tuple[TransactionPermission, ...]]] = {
    ADMIN_ROLE: (tuple(LedgerPermission), tuple(TransactionPermission)),
    DEFAULT_ROLE: (
        (
            LedgerPermission.REGISTER_DATA_ACCOUNT,
            LedgerPermission.WRITE_DATA_ACCOUNT,
            LedgerPermission.REGISTER_EVENT_ACCOUNT,
            LedgerPermission.WRITE_EVENT_ACCOUNT,
        ),
        tuple(TransactionPermission),
    ),
}


@dataclass(frozen=True, slots=True)
class Founder:
    name: str
    public_key: bytes
    """Encoded consensus key of the founding node; also registered as an admin user."""
    address: str = ""
    """``host:port`` of the founding node's consensus endpoint (optional)."""
    organization: str = ""
    """The member organisation that runs the node (default: the participant's name)."""


@dataclass(frozen=True, slots=True)
class GenesisConfig:
    ledger_name: str
    created_time: int
    """Milliseconds since the epoch; the genesis block time (part of the ledger hash)."""
    hash_algorithm: int
    signature_algorithms: tuple[int, ...]
    consensus: str
    """Canonical JSON of the consensus settings."""
    founders: tuple[Founder, ...]
    roles: tuple[tuple[str, tuple[LedgerPermission, ...], tuple[TransactionPermission, ...]], ...]
    max_tx_bytes: int
    max_ops_per_tx: int
    default_gas_limit: int
    governance: str = "{}"
    """Canonical JSON of the member organisations and the policy table (see :mod:`ledger.governance`)."""
    contract_engine: str = ""
    """Identity of the contract engine (``contracts.vm.engine_identity()``); empty for the legacy sandbox."""


def parse_genesis_config(text: str) -> GenesisConfig:
    """Read the ledger init TOML; every problem is a ConfigError naming the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"genesis config is not valid TOML: {exc}") from exc
    ledger = _table(data, "ledger")
    try:
        hash_algorithm = algorithm_by_name(str(ledger.get("hash_algorithm", "SM3")))
        signature_algorithms = tuple(
            algorithm_by_name(str(name)) for name in ledger.get("signature_algorithms", ["SM2", "ED25519"])
        )
    except UnknownAlgorithm as exc:
        raise ConfigError(f"ledger: {exc.message}") from exc
    if not hash_algorithm.is_hash or hash_algorithm.name.upper() == "RIPEMD160":
        raise ConfigError("ledger.hash_algorithm must be SM3 or SHA256")
    if not signature_algorithms or not all(a.is_signature for a in signature_algorithms):
        raise ConfigError("ledger.signature_algorithms must list signature algorithms")
    created_time = ledger.get("created_time")
    if not isinstance(created_time, int) or created_time < 0:
        raise ConfigError("ledger.created_time must be milliseconds since the epoch (an integer)")
    name = ledger.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("ledger.name must be a non-empty string")
    consensus = dict(DEFAULT_CONSENSUS)
    consensus.update(data.get("consensus", {}))
    founders_raw = data.get("participants")
    if not isinstance(founders_raw, list) or not founders_raw:
        raise ConfigError("at least one [[participants]] entry is required")
    founders: list[Founder] = []
    for position, item in enumerate(founders_raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ConfigError(f"participants[{position}].name is required")
        try:
            key = PublicKey.from_base58(str(item.get("public_key", "")))
        except CryptoError as exc:
            raise ConfigError(f"participants[{position}].public_key: {exc.message}") from exc
        if key.algorithm not in signature_algorithms:
            raise ConfigError(f"participants[{position}] key algorithm is not accepted by the ledger")
        address = item.get("address", "")
        if not isinstance(address, str):
            raise ConfigError(f"participants[{position}].address must be a string host:port")
        organization = item.get("organization", item["name"])
        try:
            governance.check_organization_name(organization)
        except InvalidOperation as exc:
            raise ConfigError(f"participants[{position}].organization: {exc.message}") from exc
        founders.append(Founder(item["name"], key.encoded, address, str(organization)))
    if len({f.public_key for f in founders}) != len(founders):
        raise ConfigError("two participants share a public key")
    roles = dict(DEFAULT_ROLE_PERMISSIONS)
    for position, item in enumerate(data.get("roles", [])):
        try:
            roles[str(item["name"])] = (
                tuple(LedgerPermission[p] for p in item.get("ledger_permissions", [])),
                tuple(TransactionPermission[p] for p in item.get("tx_permissions", [])),
            )
        except KeyError as exc:
            raise ConfigError(f"roles[{position}]: unknown permission {exc}") from exc
    table = _governance_table(data.get("governance", {}), founders)
    return GenesisConfig(
        ledger_name=name,
        created_time=created_time,
        hash_algorithm=hash_algorithm.code,
        signature_algorithms=tuple(sorted({a.code for a in signature_algorithms})),
        consensus=canonical_json(consensus).decode("utf-8"),
        founders=tuple(founders),
        roles=tuple((r, lp, tp) for r, (lp, tp) in sorted(roles.items())),
        max_tx_bytes=int(ledger.get("max_tx_bytes", 1024 * 1024)),
        max_ops_per_tx=int(ledger.get("max_ops_per_tx", 64)),
        default_gas_limit=int(ledger.get("default_gas_limit", 10_000_000)),
        governance=canonical_json(table.to_json()).decode("utf-8"),
        contract_engine=_contract_engine(ledger.get("contract_engine", "")),
    )


def _contract_engine(value: object) -> str:
    if not isinstance(value, str) or len(value) > 1024 or not value.isprintable():
        raise ConfigError("ledger.contract_engine must be the engine identity string (printable, at most 1024 chars)")
    return value


def _governance_table(raw: object, founders: Sequence[Founder]) -> governance.Governance:
    """The initial governance: every founder's organisation is a member (weight 1 unless set).

    ``[governance]`` may set ``default``, ``weighted_threshold``, ``proposal_ttl_ms``, a
    ``[governance.operations]`` policy table and ``[governance.weights]`` per organisation.
    """
    if not isinstance(raw, dict):
        raise ConfigError("[governance] must be a table")
    unknown = sorted(set(raw) - {"default", "operations", "weights", "weighted_threshold", "proposal_ttl_ms"})
    if unknown:
        raise ConfigError(f"governance: unknown key(s) {', '.join(unknown)}")
    weights = raw.get("weights", {})
    if not isinstance(weights, dict):
        raise ConfigError("governance.weights must map organisation names to weights")
    organizations = sorted({f.organization for f in founders})
    strangers = sorted(set(weights) - set(organizations))
    if strangers:
        raise ConfigError(f"governance.weights names organisation(s) without a participant: {', '.join(strangers)}")
    table = {key: value for key, value in raw.items() if key != "weights"}
    table["organizations"] = {org: weights.get(org, 1) for org in organizations}
    try:
        return governance.governance_from_json(table)
    except InvalidOperation as exc:
        raise ConfigError(exc.message) from exc


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    table = data.get(name)
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] table is required")
    return table


def genesis_settings(config: GenesisConfig) -> LedgerSettings:
    return LedgerSettings(
        hash_algorithm=config.hash_algorithm,
        signature_algorithms=config.signature_algorithms,
        consensus=TypedValue.json_(_json_load(config.consensus)),
        max_tx_bytes=config.max_tx_bytes,
        max_ops_per_tx=config.max_ops_per_tx,
        default_gas_limit=config.default_gas_limit,
        governance=TypedValue.json_(_json_load(config.governance)),
        contract_engine=config.contract_engine,
    )


def _json_load(text: str) -> object:
    return json.loads(text)


def build_genesis_content(config: GenesisConfig) -> TransactionContent:
    """The genesis transaction content: a pure function of the config."""
    operations: list[Operation] = [
        UpdateLedgerSettings("genesis", TypedValue.bytes_(codec.encode(genesis_settings(config)))),
    ]
    for role, ledger_permissions, tx_permissions in config.roles:
        operations.append(ConfigureRole(role, ledger_permissions, (), tx_permissions, ()))
    admins: list[str] = []
    for founder in config.founders:
        operations.append(RegisterParticipant(founder.name, founder.public_key, founder.address, founder.organization))
        operations.append(RegisterUser(founder.public_key, founder.name))
        admins.append(address_from_public_key(PublicKey.from_encoded(founder.public_key)))
    operations.append(AuthorizeUserRoles(tuple(admins), (ADMIN_ROLE,), (), RolesPolicy.UNION))
    algorithm = algorithm_by_name("SHA256")
    nonce = hash_digest(algorithm, codec.encode(config))[2:18]
    return TransactionContent(
        ledger_hash=b"",
        operations=tuple(operations),
        time=config.created_time,
        nonce=nonce,
        expiry=0,
    )


def genesis_tx_hash(config: GenesisConfig, content: TransactionContent) -> bytes:
    algorithm = algorithm_by_code(config.hash_algorithm)
    return config.hash_algorithm.to_bytes(2, "big") + hasher(algorithm)(codec.encode(content))


def sign_genesis(config: GenesisConfig, private_key: PrivateKey, public_key: PublicKey) -> EndpointSignature:
    if public_key.encoded not in {f.public_key for f in config.founders}:
        raise ConfigError("this key is not one of the founding participants")
    content = build_genesis_content(config)
    return EndpointSignature(public_key.encoded, sign(private_key, genesis_tx_hash(config, content)))


def assemble_genesis(config: GenesisConfig, signatures: Sequence[EndpointSignature]) -> Block:
    """The genesis block, once every founder's signature is present and valid."""
    content = build_genesis_content(config)
    tx_hash = genesis_tx_hash(config, content)
    by_key: dict[bytes, EndpointSignature] = {}
    for item in signatures:
        key = PublicKey.from_encoded(item.public_key)
        if not verify(key, tx_hash, item.signature):
            raise InvalidSignature(f"genesis signature of {key.base58} does not verify")
        by_key[item.public_key] = item
    missing = [f.name for f in config.founders if f.public_key not in by_key]
    if missing:
        raise InvalidSignature(f"genesis not signed by: {', '.join(missing)}")
    extra = set(by_key) - {f.public_key for f in config.founders}
    if extra:
        raise InvalidSignature("genesis signed by a key that is not a founder")
    ordered = tuple(by_key[f.public_key] for f in config.founders)
    tx = Transaction(content, ordered)
    hash_fn = hasher(algorithm_by_code(config.hash_algorithm))
    header = BlockHeader(
        ledger_hash=b"",
        height=0,
        previous_hash=b"",
        tx_root=compute_tx_root(hash_fn, [tx_hash]),
        tx_count=1,
        state_root=SPARSE_MERKLE_PLACEHOLDER_HASH,
        accumulator_root=empty_root(hash_fn),
        accumulator_size=0,
        time=config.created_time,
        proposer=b"",
        epoch=0,
    )
    return Block(header, (tx,))


def genesis_contract_engine(block: Block) -> str:
    """The contract engine a genesis block records (``LedgerSettings.contract_engine``; empty: legacy)."""
    for tx in block.transactions:
        for op in tx.content.operations:
            if isinstance(op, UpdateLedgerSettings) and op.name == "genesis":
                return codec.decode(LedgerSettings, op.value.data).contract_engine
    return ""


def genesis_ledger_hash(block: Block, config: GenesisConfig) -> bytes:
    return block_hash(hasher(algorithm_by_code(config.hash_algorithm)), config.hash_algorithm, block.header)
