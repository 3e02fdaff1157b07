"""The node's configuration file (``node.toml``): what one validator process runs.

The format is shared by ``jadechain net up``, the control plane and operators::

    [node]        name, data_dir, key_file, password_file | password_env
    [network]     grpc_host, grpc_port                (peers and high-rate clients)
    [gateway]     host, port, admin_token_file        (HTTP API, /metrics)
    [consensus]   round_timeout_ms, max_block_txs, idle_block_ms, ...   (optional)
    [[ledgers]]   hash                                 (one entry per hosted ledger)
    [[peers]]     name, public_key (base58), address   (every OTHER validator)

:func:`load_node_config` parses and checks it; every problem is a ``ConfigError``
(code ``CONFIG_ERROR``) that names the file and the field.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ledger.crypto import PublicKey
from ledger.errors import ConfigError, CryptoError

__all__ = [
    "ConsensusSection",
    "GatewaySection",
    "LedgerSection",
    "NetworkSection",
    "NodeConfig",
    "NodeSection",
    "PeerSection",
    "load_node_config",
    "parse_node_config",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSection(_Section):
    name: str = Field(min_length=1)
    data_dir: str
    """Holds ``ledgers/<ledger hash>/`` (LevelDB) and ``consensus/<ledger hash>/``."""
    key_file: str
    """Encrypted keystore of the node's consensus key."""
    password_file: str | None = None
    password_env: str | None = None

    @model_validator(mode="after")
    def _one_password_source(self) -> "NodeSection":
        if (self.password_file is None) == (self.password_env is None):
            raise ValueError("give exactly one of password_file or password_env")
        return self


class NetworkSection(_Section):
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(ge=0, le=65535)


class GatewaySection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)
    admin_token_file: str | None = None
    post_rate: float = Field(200.0, ge=0)
    """POST requests per second per client address (token-bucket refill); 0 turns the limit off. The gRPC
    client Submit has the same limit (per TLS certificate, else per address)."""
    post_burst: float = Field(400.0, ge=1)
    """POST requests a client may send at once."""


class ConsensusSection(_Section):
    round_timeout_ms: int = Field(1000, ge=50, le=600_000)
    """Timeout of a round right after a commit (the pacemaker backs off from it)."""
    max_round_timeout_ms: int = Field(8000, ge=50, le=3_600_000)
    """Upper bound of the pacemaker's backoff."""
    max_block_txs: int = Field(2000, ge=1, le=100_000)
    max_block_bytes: int = Field(8 << 20, ge=1024, le=64 << 20)
    idle_block_ms: int = Field(20, ge=0, le=60_000)
    """How long the first waiting transaction may wait for others before a proposal is made."""
    max_clock_drift_ms: int = Field(30_000, ge=0)
    """A voter refuses a proposal whose time is further ahead of its own clock than this."""
    mempool_size: int = Field(200_000, ge=1)
    fast_forward_rounds: int = Field(512, ge=4)
    """A replica whose committed round is this far behind a peer's jumps to the peer's root
    (after syncing the ledger blocks in between) instead of fetching every consensus block."""
    prune_keep_blocks: int = Field(1024, ge=1)
    """Committed consensus blocks are pruned when more than this many ledger blocks below a certified
    height (the ledger keeps every block; a peer further behind syncs ledger blocks and fast-forwards)."""
    prune_every: int = Field(256, ge=1)
    """Applied ledger blocks between two pruning passes."""
    snapshot_sync: bool = False
    """A node whose ledger holds only its genesis block starts from a peer's state snapshot at a recent
    certified height instead of replaying every block (its history then starts there). ``jadechain node
    repair`` asks for it once, for the next start, whatever this says."""
    snapshot_min_blocks: int = Field(16, ge=1)
    """A snapshot is taken only if the peer's offered height is at least this (else the node replays)."""


class LedgerSection(_Section):
    hash: str = Field(min_length=1)


class PeerSection(_Section):
    name: str = Field(min_length=1)
    public_key: str
    """Base58 of the peer's encoded consensus public key."""
    address: str
    """``host:port`` of the peer's gRPC endpoint."""

    @field_validator("public_key")
    @classmethod
    def _parse_key(cls, value: str) -> str:
        try:
            PublicKey.from_base58(value)
        except (CryptoError, ValueError) as exc:
            raise ValueError(f"not a base58 public key: {exc}") from exc
        return value

    @field_validator("address")
    @classmethod
    def _parse_address(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected host:port")
        return value

    @property
    def public_key_bytes(self) -> bytes:
        return PublicKey.from_base58(self.public_key).encoded


class TlsSection(_Section):
    """Mutual TLS on the gRPC port: this node's certificate and key, and the consortium CA that
    every peer's certificate must chain to (``jadechain net up`` writes them; see node.tls)."""

    ca_file: str
    cert_file: str
    key_file: str


class NodeConfig(_Section):
    """One node process: its identity, ports, hosted ledgers and peers."""

    node: NodeSection
    network: NetworkSection
    gateway: GatewaySection
    consensus: ConsensusSection = Field(default_factory=lambda: ConsensusSection())  # type: ignore[call-arg]
    ledgers: list[LedgerSection] = Field(min_length=1)
    peers: list[PeerSection] = Field(default_factory=list)
    tls: TlsSection | None = None
    """Without it the gRPC port is plaintext (development networks made by ``create_network``)."""

    @model_validator(mode="after")
    def _distinct(self) -> "NodeConfig":
        hashes = [ledger.hash for ledger in self.ledgers]
        if len(set(hashes)) != len(hashes):
            raise ValueError("a ledger is listed twice")
        names = [peer.name for peer in self.peers]
        if len(set(names)) != len(names) or self.node.name in names:
            raise ValueError("peer names must be distinct and differ from this node's name")
        keys = [peer.public_key for peer in self.peers]
        if len(set(keys)) != len(keys):
            raise ValueError("two peers share a public key")
        return self

    def read_password(self) -> str:
        """The keystore password, from the file or the environment variable."""
        if self.node.password_file is not None:
            try:
                return Path(self.node.password_file).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"cannot read password_file {self.node.password_file}: {exc}") from exc
        if self.node.password_env is None:
            raise ConfigError("[node] needs password_file or password_env")
        value = os.environ.get(self.node.password_env)
        if value is None:
            raise ConfigError(f"environment variable {self.node.password_env} (password_env) is not set")
        return value

    def read_admin_token(self) -> str | None:
        if self.gateway.admin_token_file is None:
            return None
        try:
            return Path(self.gateway.admin_token_file).read_text().strip() or None
        except OSError as exc:
            raise ConfigError(f"cannot read admin_token_file {self.gateway.admin_token_file}: {exc}") from exc

    @property
    def grpc_address(self) -> str:
        return f"{self.network.grpc_host}:{self.network.grpc_port}"


def _format_errors(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def parse_node_config(text: str, source: str = "node.toml") -> NodeConfig:
    """Parse the TOML text of a node configuration; ``ConfigError`` names every bad field."""
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return NodeConfig.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_format_errors(exc)}") from exc


def load_node_config(path: str | os.PathLike[str]) -> NodeConfig:
    """Read and check ``node.toml``."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read node config {path}: {exc}") from exc
    return parse_node_config(text, str(path))
