"""Networks the control plane did not start: the one ``jadechain up`` runs, shown in the console as it is.

``jadechain up`` starts a network of validators (``jadechain net``), then the control plane with
``--adopt-network DIR`` and the apps' URLs. At start the control plane records that network as
*external*: an organisation ``local`` (the genesis' founding keys, imported into custody, are its keys), a
consortium and a network of that organisation, the network's ledger and nodes (their gateways as they
run), and the apps. The explorer, the live node table and the apps page then show it without anyone
creating a second network. Adoption is idempotent: a later ``up`` finds the same ledger hash and only
refreshes the gateway addresses. The control plane never starts, stops or reconfigures an external
network's processes (``jadechain up`` / ``down`` do): those requests fail with ``NETWORK_EXTERNAL``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baas import audit
from baas.errors import Conflict
from baas.models import AppInstance, Consortium, ConsortiumMember, CustodyKey, LedgerRecord, Network, Node, Organization
from ledger.crypto import decrypt_private_key, load_keystore

log = logging.getLogger("jadechain.baas")

EXTERNAL = "external"
"""``Network.provisioner`` and ``AppInstance.status`` of what the control plane watches but does not run."""

LOCAL_ORGANIZATION = "local"
LOCAL_NETWORK = "local"


class ExternalNetwork(Conflict):
    code = "NETWORK_EXTERNAL"


def require_managed(network: Network) -> None:
    """Refuse to act on the processes of a network the control plane did not start."""
    if network.provisioner == EXTERNAL:
        raise ExternalNetwork(f"network {network.name} runs outside the control plane (jadechain up); "
                              "start and stop it with jadechain up / down")


def _organization(session: Session, custody: Any, founder_private: bytes) -> Organization:
    org = session.scalar(select(Organization).where(Organization.name == LOCAL_ORGANIZATION))
    if org is None:
        org = Organization(name=LOCAL_ORGANIZATION, display_name="This machine (jadechain up)")
        session.add(org)
        session.flush()
    if org.key_id is None:
        org.key_id = _custody_key(session, custody, org, "org", "first founding key of jadechain up", founder_private).id
    return org


def _custody_key(session: Session, custody: Any, org: Organization, purpose: str, label: str,
                 private_encoded: bytes) -> CustodyKey:
    from ledger.crypto import PrivateKey, keypair_from_private

    public = keypair_from_private(PrivateKey.from_encoded(private_encoded)).public.base58
    existing = session.scalar(select(CustodyKey).where(CustodyKey.public_key == public))
    if existing is not None:
        return existing
    row: CustodyKey = custody.new_key(session, org.id, purpose, label, private_encoded=private_encoded)
    return row


def _network_name(session: Session) -> str:
    taken = set(session.scalars(select(Network.name)))
    if LOCAL_NETWORK not in taken:
        return LOCAL_NETWORK
    index = 2
    while f"{LOCAL_NETWORK}-{index}" in taken:
        index += 1
    return f"{LOCAL_NETWORK}-{index}"


def adopt_network(state: Any, layout_dir: Path, apps: dict[str, str]) -> int:
    """Record the network in ``layout_dir`` (``network.json`` of ``jadechain net``) and ``apps`` (kind → URL).

    Returns the network's id. Node keys are imported into custody (the same user's files on the same
    machine): governance the console prepares for this ledger is then signed as for its own networks.
    """
    from jadechain.devnet.net import load_layout

    layout = load_layout(layout_dir)
    password = Path(layout.password_file).read_text().strip()
    privates = [decrypt_private_key(load_keystore(node.key_file), password).encoded for node in layout.nodes]
    genesis = Path(layout_dir, "genesis.json").read_text()
    with state.sessions() as session:
        ledger = session.scalar(select(LedgerRecord).where(LedgerRecord.ledger_hash == layout.ledger_hash))
        if ledger is None:
            org = _organization(session, state.custody, privates[0])
            consortium = session.scalar(select(Consortium).where(Consortium.name == LOCAL_ORGANIZATION))
            if consortium is None:
                consortium = Consortium(name=LOCAL_ORGANIZATION, description="The network jadechain up started",
                                        created_by_org_id=org.id)
                session.add(consortium)
                session.flush()
                session.add(ConsortiumMember(consortium_id=consortium.id, organization_id=org.id))
            network = Network(name=_network_name(session), consortium_id=consortium.id, crypto=layout.crypto,
                              consensus=dict(layout.consensus), provisioner=EXTERNAL, status="running")
            session.add(network)
            session.flush()
            ledger = LedgerRecord(network_id=network.id, name="dev", ledger_hash=layout.ledger_hash,
                                  hash_algorithm="SM3" if layout.crypto == "sm" else "SHA256", genesis_hex=genesis)
            session.add(ledger)
            action = "network.adopted"
        else:
            network = ledger.network
            org = session.get(Organization, session.scalar(select(ConsortiumMember.organization_id).where(
                ConsortiumMember.consortium_id == network.consortium_id).limit(1)))
            assert org is not None
            action = "network.readopted"
        known = {node.name: node for node in network.nodes}
        for item, private in zip(layout.nodes, privates):
            node = known.get(item.name)
            if node is None:
                key = _custody_key(session, state.custody, org, "node", f"{network.name}/{item.name} consensus key", private)
                node = Node(network_id=network.id, organization_id=org.id, name=item.name, key_id=key.id)
                session.add(node)
            node.grpc_port, node.gateway_port, node.gateway_url = item.grpc_port, item.http_port, item.url
            node.desired_state, node.status = "running", "running"
        session.flush()
        for kind, url in sorted(apps.items()):
            instance = session.scalar(select(AppInstance).where(AppInstance.ledger_id == ledger.id,
                                                                AppInstance.kind == kind, AppInstance.status == EXTERNAL))
            if instance is None:
                session.add(AppInstance(kind=kind, ledger_id=ledger.id, organization_id=org.id, status=EXTERNAL,
                                        mount_path=url))
            else:
                instance.mount_path = url
        audit.record(session, "system", action, f"network:{network.id}",
                     {"name": network.name, "ledger": layout.ledger_hash, "nodes": len(layout.nodes),
                      "apps": sorted(apps)})
        log.info("%s %s: ledger %s, %d nodes", action, network.name, layout.ledger_hash, len(layout.nodes))
        return network.id
