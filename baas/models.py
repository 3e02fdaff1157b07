"""The control plane's tables (SQLAlchemy 2.x typed mappings). The schema itself is owned by the
Alembic migrations in ``baas/migrations``; a test checks the two agree."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from baas.db import Base

ROLES = ("platform_admin", "org_admin", "operator", "viewer")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def as_utc(value: dt.datetime) -> dt.datetime:
    """A stored (naive, UTC) time as an aware UTC time, so the API always says which zone it means."""
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


UtcDateTime = Annotated[dt.datetime, AfterValidator(as_utc)]
"""The type of every time in an API response model: RFC 3339 with its offset (``...+00:00``)."""


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    key_id: Mapped[int | None] = mapped_column(Integer)
    """The organisation's signing key in custody (governance votes, admin transactions)."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    organization: Mapped[Organization | None] = relationship()


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    user: Mapped[User] = relationship()


class WebSession(Base):
    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    user: Mapped[User] = relationship()


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(120), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class CustodyKey(Base):
    __tablename__ = "custody_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    purpose: Mapped[str] = mapped_column(String(16))
    """``organization`` (governance and admin signing) or ``node`` (consensus key of one node)."""
    label: Mapped[str] = mapped_column(String(200))
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(String(200), unique=True)
    """Base58 of the encoded public key."""
    address: Mapped[str] = mapped_column(String(100))
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    """``nonce ‖ SM4-GCM(master key, encoded private key)``; associated data binds it to this row's public key."""
    imported: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Consortium(Base):
    __tablename__ = "consortia"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    policy: Mapped[str] = mapped_column(String(16), default="majority")
    """``majority`` (more than half the members), ``all``, ``any`` or ``threshold``."""
    threshold: Mapped[int | None] = mapped_column(Integer)
    created_by_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    members: Mapped[list["ConsortiumMember"]] = relationship(back_populates="consortium", cascade="all, delete-orphan")


class ConsortiumMember(Base):
    __tablename__ = "consortium_members"
    __table_args__ = (UniqueConstraint("consortium_id", "organization_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortia.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    joined_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    invitation_id: Mapped[int | None] = mapped_column(Integer)
    consortium: Mapped[Consortium] = relationship(back_populates="members")
    organization: Mapped[Organization] = relationship()


class Invitation(Base):
    __tablename__ = "invitations"
    id: Mapped[int] = mapped_column(primary_key=True)
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortia.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    """The invited organisation."""
    created_by_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[str] = mapped_column(String(16), default="DRAFT")
    message: Mapped[str] = mapped_column(Text, default="")
    required_signatures: Mapped[int] = mapped_column(Integer, default=1)
    """Fixed when signing opens, from the policy and the member count at that time."""
    member_org_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    """The members entitled to sign (snapshot when signing opens)."""
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reason: Mapped[str] = mapped_column(Text, default="")
    onchain: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """Governance transactions that admitted the member: ``[{network_id, ledger_hash, tx_hash, status}]``."""
    signatures: Mapped[list["InvitationSignature"]] = relationship(cascade="all, delete-orphan")


class InvitationSignature(Base):
    __tablename__ = "invitation_signatures"
    __table_args__ = (UniqueConstraint("invitation_id", "organization_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    decision: Mapped[str] = mapped_column(String(8))
    """``approve`` or ``reject`` (a member vote), or ``accept`` (the invitee's own signature)."""
    public_key: Mapped[str] = mapped_column(String(200))
    signature: Mapped[str] = mapped_column(String(300))
    signed_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded: Mapped[bool] = mapped_column(Boolean, default=False)
    signed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Network(Base):
    __tablename__ = "networks"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortia.id"))
    crypto: Mapped[str] = mapped_column(String(16), default="classic")
    consensus: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    provisioner: Mapped[str] = mapped_column(String(16), default="local")
    status: Mapped[str] = mapped_column(String(16), default="creating")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    keystore_password: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The nodes' keystore password, sealed under the master key like every secret."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    nodes: Mapped[list["Node"]] = relationship(back_populates="network", order_by="Node.id")
    ledgers: Mapped[list["LedgerRecord"]] = relationship(back_populates="network", order_by="LedgerRecord.id")


class LedgerRecord(Base):
    __tablename__ = "ledgers"
    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    name: Mapped[str] = mapped_column(String(120))
    ledger_hash: Mapped[str] = mapped_column(String(100), unique=True)
    hash_algorithm: Mapped[str] = mapped_column(String(16))
    genesis_hex: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    network: Mapped[Network] = relationship(back_populates="ledgers")


class Node(Base):
    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("network_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(120))
    key_id: Mapped[int] = mapped_column(ForeignKey("custody_keys.id"))
    grpc_port: Mapped[int] = mapped_column(Integer)
    gateway_port: Mapped[int] = mapped_column(Integer)
    gateway_url: Mapped[str | None] = mapped_column(String(300))
    """Where the control plane reaches the node's gateway (set by the provisioner; migration 0003)."""
    desired_state: Mapped[str] = mapped_column(String(16), default="running")
    """``running`` or ``stopped`` or ``removed``: what the supervisor converges to."""
    status: Mapped[str] = mapped_column(String(16), default="pending")
    pid: Mapped[int | None] = mapped_column(Integer)
    pid_started_at: Mapped[float | None] = mapped_column()
    """The process start time (from /proc) so a recycled pid is never adopted by mistake."""
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    validator: Mapped[bool] = mapped_column(Boolean, default=True)
    registration_tx: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    network: Mapped[Network] = relationship(back_populates="nodes")
    organization: Mapped[Organization] = relationship()


class Contract(Base):
    __tablename__ = "contracts"
    id: Mapped[int] = mapped_column(primary_key=True)
    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    address: Mapped[str | None] = mapped_column(String(100))
    contract_key_id: Mapped[int | None] = mapped_column(ForeignKey("custody_keys.id"))
    status: Mapped[str] = mapped_column(String(16), default="uploaded")
    """``uploaded`` → ``deployed`` (→ ``frozen`` ↔ ``deployed``)."""
    methods: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_tx: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AppInstance(Base):
    __tablename__ = "apps"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[str] = mapped_column(String(16), default="started")
    mount_path: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuditEvent(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    organization_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    client: Mapped[str] = mapped_column(String(64), default="")
    previous_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
