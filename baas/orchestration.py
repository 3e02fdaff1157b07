"""Turning records into running networks: keys, genesis ceremony, node specs, on-chain governance.

The control plane holds every founding node key in custody, so it runs the genesis ceremony on
behalf of the members (each node key signs the same genesis; every node reaches the same ledger
hash). After genesis the member organisations' own keys are registered as ledger administrators,
so later governance transactions (admissions, new participants) are signed by the members.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baas.custody import Custody
from baas.errors import InvalidRequest, UpstreamError
from baas.models import ConsortiumMember, CustodyKey, Network, Node, Organization
from baas.provisioners.base import NodeSpec, PeerSpec
from ledger import codec
from ledger.crypto import PublicKey, address_from_public_key, encrypt_private_key, to_base58
from ledger.genesis import assemble_genesis, genesis_ledger_hash, parse_genesis_config, sign_genesis
from ledger.transactions import TransactionBuilder
from ledger.types import AuthorizeUserRoles, RegisterParticipant, RegisterUser, RolesPolicy

GENESIS_FORMAT = "jadechain-genesis/1"
ADMIN_ROLE = "ADMIN"
CONSENSUS_KEYS = ("round_timeout_ms", "max_round_timeout_ms", "max_block_txs", "idle_block_ms")


def make_genesis(name: str, crypto: str, participants: list[tuple[Any, ...]], consensus: dict[str, Any]) -> tuple[str, str, str]:
    """Run the genesis ceremony with the founders' key pairs; returns (ledger hash, hash algorithm, genesis JSON).

    ``participants`` are ``(node name, key pair)`` or ``(node name, key pair, organisation name)``:
    the organisation is what the ledger's governance counts (default: the node's own name).
    """
    from contracts.vm import engine_identity as default_contract_engine  # new ledgers: the WebAssembly engine

    hash_name = "SM3" if crypto == "sm" else "SHA256"
    lines = [f'[ledger]\nname = {json.dumps(name)}\nhash_algorithm = "{hash_name}"\n'
             f'signature_algorithms = ["SM2", "ED25519", "ECDSA"]\ncreated_time = {int(time.time() * 1000)}\n'
             f"contract_engine = {json.dumps(default_contract_engine())}\n"]
    if consensus:
        lines.append("[consensus]\n" + "".join(f"{k} = {int(v)}\n" for k, v in sorted(consensus.items())))
    for node_name, pair, *organization in participants:
        member = f"organization = {json.dumps(organization[0])}\n" if organization else ""
        lines.append(f'[[participants]]\nname = {json.dumps(node_name)}\n{member}public_key = "{pair.public.base58}"\n')
    config = parse_genesis_config("\n".join(lines))
    block = assemble_genesis(config, [sign_genesis(config, item[1].private, item[1].public) for item in participants])
    ledger_hash = to_base58(genesis_ledger_hash(block, config))
    document = {"format": GENESIS_FORMAT, "ledger_hash": ledger_hash, "block": codec.encode(block).hex()}
    return ledger_hash, hash_name, json.dumps(document, indent=2)


def network_password(custody: Custody, network: Network) -> str:
    assert network.keystore_password is not None
    return custody.unseal(network.keystore_password, f"network:{network.name}".encode()).decode()


def node_spec(session: Session, custody: Custody, node: Node, *, with_secrets: bool = False) -> NodeSpec:
    network = node.network
    key = session.get(CustodyKey, node.key_id)
    assert key is not None
    keystore: dict[str, Any] = {}
    password = ""
    if with_secrets:
        password = network_password(custody, network)
        keystore = encrypt_private_key(custody.keypair(key).private, password, scrypt_n=1 << 14)
    peers = []
    for other in network.nodes:
        if other.id == node.id or other.desired_state == "removed" or not other.validator:
            continue
        other_key = session.get(CustodyKey, other.key_id)
        assert other_key is not None
        peers.append(PeerSpec(other.name, other_key.public_key, f"127.0.0.1:{other.grpc_port}"))
    return NodeSpec(
        network=network.name, name=node.name, organization=node.organization.name, public_key=key.public_key,
        keystore_json=keystore, password=password, grpc_port=node.grpc_port, gateway_port=node.gateway_port,
        ledger_hashes=tuple(ledger.ledger_hash for ledger in network.ledgers),
        genesis={ledger.ledger_hash: ledger.genesis_hex for ledger in network.ledgers},
        peers=tuple(peers), consensus={k: v for k, v in network.consensus.items() if k in CONSENSUS_KEYS},
    )


def node_url(node: Node) -> str:
    """The node's gateway as the control plane reaches it."""
    return node.gateway_url or f"http://127.0.0.1:{node.gateway_port}"


def gateway_urls(network: Network) -> list[str]:
    return [node_url(node) for node in network.nodes if node.desired_state == "running"]


def ledger_client(network: Network, ledger_hash: str, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    from jadechain.sdk import JadechainClient

    urls = gateway_urls(network)
    if not urls:
        raise UpstreamError(f"network {network.name} has no running node")
    client = JadechainClient(urls, timeout=timeout, retry_timeout=timeout)
    return client, client.ledger(ledger_hash)


def submit(network: Network, ledger_hash: str, tx: Any, timeout: float = 30.0) -> dict[str, Any]:
    """Submit a signed transaction through the network's gateways and wait for its commit."""
    from jadechain.sdk import ApiError

    client, ledger = ledger_client(network, ledger_hash, timeout)
    try:
        result = ledger.submit(tx, wait=True, timeout=timeout)
    except ApiError as error:
        raise UpstreamError(f"the node refused the transaction: {error.code}: {error.message}",
                            node_code=error.code) from None
    finally:
        client.close()
    if not result.committed:
        raise UpstreamError(f"transaction {result.tx_hash} did not commit within {timeout}s")
    return {"tx_hash": result.tx_hash, "status": result.status, "height": result.height}


def wait_healthy(network: Network, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    pending = set(gateway_urls(network))
    while pending and time.monotonic() < deadline:
        for url in list(pending):
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    pending.discard(url)
            except httpx.HTTPError:
                pass
        if pending:
            time.sleep(0.2)
    if pending:
        raise UpstreamError(f"nodes did not become healthy within {timeout:.0f}s: {sorted(pending)}")


def register_org_admins_tx(ledger_hash: str, organizations: list[tuple[str, PublicKey]], signers: list[Any]) -> Any:
    """RegisterUser + AuthorizeUserRoles(ADMIN) for each organisation key, signed by ``signers``."""
    from ledger.crypto import from_base58

    builder = TransactionBuilder(from_base58(ledger_hash), time_ms=int(time.time() * 1000))
    addresses = []
    for name, public in organizations:
        builder.add(RegisterUser(public.encoded, name, name))  # the admin belongs to its own organisation
        addresses.append(str(address_from_public_key(public)))
    builder.add(AuthorizeUserRoles(tuple(addresses), (ADMIN_ROLE,), (), RolesPolicy.UNION))
    return builder.sign(*signers)


def register_participant_tx(
    ledger_hash: str, name: str, public: PublicKey, signers: list[Any], address: str = "", organization: str = "",
) -> Any:
    from ledger.crypto import from_base58

    builder = TransactionBuilder(from_base58(ledger_hash), time_ms=int(time.time() * 1000))
    # The node's key is also registered as a ledger user: once a validator, it co-signs later
    # membership changes, and every endpoint signer must be a registered user.
    builder.add(RegisterUser(public.encoded, name, organization))
    # The consensus address goes on chain so every validator can reach the new node.
    builder.add(RegisterParticipant(name, public.encoded, address, organization))
    return builder.sign(*signers)


def org_key(session: Session, organization: Organization) -> CustodyKey:
    if organization.key_id is None:
        raise InvalidRequest(f"organisation {organization.name} has no key in custody")
    key = session.get(CustodyKey, organization.key_id)
    assert key is not None
    return key


def member_organizations(session: Session, consortium_id: int) -> list[Organization]:
    return list(session.scalars(select(Organization).join(ConsortiumMember, ConsortiumMember.organization_id == Organization.id)
                                .where(ConsortiumMember.consortium_id == consortium_id).order_by(Organization.id)))


def new_password() -> str:
    return secrets.token_urlsafe(24)
