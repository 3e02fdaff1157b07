"""Mutual TLS between the nodes of a network, with certificates from the consortium's CA.

``jadechain net up`` creates a per-network CA (``tls/ca.pem``, key ``tls/ca.key``, mode 0600) and,
for each node, a TLS key pair and a certificate that the CA signs. A certificate binds the node's
*consensus* key: its subjectAltName carries ``URI:jadechain:node:<base58 node public key>``, so a
peer that presents a valid consortium certificate can still only send consensus envelopes signed
by the node key its certificate names. The gRPC server requires a client certificate from the same
CA on every call (consensus, sync and Submit); a peer without one fails the handshake.

Classic ECDSA P-256 certificates over TLS (gRPC's BoringSSL negotiates TLS 1.3 when both ends
offer it). SM2 certificates / TLCP are not offered by gRPC's TLS stack.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ledger.errors import ConfigError

__all__ = [
    "NODE_URI_PREFIX", "SERVER_NAME", "TlsFiles", "create_consortium_ca", "issue_certificate",
    "node_key_of_certificate", "server_credentials", "secure_channel", "channel_credentials",
]

SERVER_NAME = "jadechain-node"
"""The DNS name every node certificate carries; clients verify it (whatever address they dial)."""
NODE_URI_PREFIX = "jadechain:node:"
VALID_DAYS = 3650


@dataclass(frozen=True)
class TlsFiles:
    """Where a node (or a client) finds its TLS material."""

    ca_file: str
    cert_file: str
    key_file: str

    def read(self) -> tuple[bytes, bytes, bytes]:
        return Path(self.ca_file).read_bytes(), Path(self.cert_file).read_bytes(), Path(self.key_file).read_bytes()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def create_consortium_ca(directory: str | os.PathLike[str], network: str) -> tuple[Path, Path]:
    """A new CA for one network: ``ca.pem`` and ``ca.key`` (0600) in ``directory``; returns their paths."""
    root = Path(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Jadechain consortium"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"{network} consortium CA")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    root.mkdir(parents=True, exist_ok=True)
    _write_private(root / "ca.key", _key_pem(key))
    (root / "ca.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return root / "ca.pem", root / "ca.key"


def issue_certificate(directory: str | os.PathLike[str], name: str, node_public_key: str | None) -> TlsFiles:
    """A TLS key and certificate for ``name`` signed by the CA in ``directory``.

    ``node_public_key`` (base58) is bound into the certificate for a node; None issues a client
    certificate (operators' tools: Submit over gRPC) that binds no consensus key.
    """
    root = Path(directory)
    ca_key = serialization.load_pem_private_key((root / "ca.key").read_bytes(), password=None)
    ca_certificate = x509.load_pem_x509_certificate((root / "ca.pem").read_bytes())
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{root / 'ca.key'} is not the network CA's elliptic-curve key")
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(SERVER_NAME), x509.DNSName("localhost"),
                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    if node_public_key is not None:
        names.append(x509.UniformResourceIdentifier(NODE_URI_PREFIX + node_public_key))
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_certificate.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = root / f"{name}.pem", root / f"{name}.key"
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return TlsFiles(str(root / "ca.pem"), str(cert_path), str(key_path))


def node_key_of_certificate(pem: bytes) -> str | None:
    """The base58 node key a certificate is bound to, or None (a client certificate)."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    for uri in names.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(NODE_URI_PREFIX):
            return uri[len(NODE_URI_PREFIX):]
    return None


def server_credentials(files: TlsFiles) -> Any:
    """gRPC server credentials that demand a client certificate from the consortium CA."""
    import grpc

    ca, certificate, key = files.read()
    return grpc.ssl_server_credentials([(key, certificate)], root_certificates=ca, require_client_auth=True)


def channel_credentials(files: TlsFiles) -> Any:
    import grpc

    ca, certificate, key = files.read()
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=certificate)


def secure_channel(address: str, files: TlsFiles, options: list[tuple[str, Any]] | None = None, *,
                   aio: bool = True) -> Any:
    """A channel to a node that presents ``files``' certificate and checks the node's against the CA."""
    import grpc

    all_options = [*(options or []), ("grpc.ssl_target_name_override", SERVER_NAME)]
    if aio:
        return grpc.aio.secure_channel(address, channel_credentials(files), options=all_options)
    return grpc.secure_channel(address, channel_credentials(files), options=all_options)


def peer_node_key_bytes(context: Any) -> bytes | None:
    """As :func:`peer_node_key`, the encoded key bytes (what consensus envelopes carry)."""
    from ledger.crypto import from_base58

    key = peer_node_key(context)
    if key is None:
        return None
    try:
        return from_base58(key)
    except Exception:
        return None


def peer_node_key(context: Any) -> str | None:
    """The node key bound to the calling peer's certificate (server side), or None."""
    try:
        auth = context.auth_context()
    except Exception:
        return None
    pems = auth.get("x509_pem_cert") or []
    return node_key_of_certificate(pems[0]) if pems else None
