"""Nodes of a ``net up`` network talk over mutual TLS with certificates from the network's consortium CA.

Real node processes (two validators, ``python -m node.server``) on 127.0.0.1:

* they reach consensus over TLS (blocks keep committing);
* a plaintext caller, and a caller whose certificate comes from another CA, are refused at the
  handshake — on every gRPC method, Submit included;
* the consortium's client certificate (operators' tools) may Submit;
* a certificate binds a node key: an envelope signed by node0's key but carried on a connection
  that presents another certificate is dropped and counted.

About 20 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import grpc
import httpx
import msgpack
import pytest

from consensus.network import SEND_METHOD, SUBMIT_METHOD, seal_envelope
from ledger.crypto import decrypt_private_key, from_base58, generate_keypair, keypair_from_private, load_keystore, sign
from jadechain.devnet.net import net_down, net_up, node_height
from jadechain.sdk import JadechainClient
from node.tls import SERVER_NAME, TlsFiles, create_consortium_ca, issue_certificate, node_key_of_certificate


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = tmp_path_factory.mktemp("mtls") / "net"
    layout = net_up(str(directory), nodes=2, timeout=120.0)
    try:
        yield layout
    finally:
        net_down(layout.directory, timeout=15)


def _call(address: str, method: str, request: bytes, files: TlsFiles | None) -> tuple[str, bytes]:
    if files is None:
        channel = grpc.insecure_channel(address)
    else:
        ca, certificate, key = files.read()
        credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=certificate)
        channel = grpc.secure_channel(address, credentials, options=[("grpc.ssl_target_name_override", SERVER_NAME)])
    with channel:
        call = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            return "OK", call(request, timeout=15)
        except grpc.RpcError as error:
            return str(error.code()), b""


def _tls_dir(layout: Any) -> Path:
    return Path(layout.directory) / "tls"


def _invalid(url: str) -> float:
    total = 0.0
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("jadechain_invalid_messages"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_net_up_nodes_reach_consensus_over_mutual_tls(network: Any) -> None:
    for node in network.nodes:
        config = Path(node.config).read_text()
        assert "[tls]" in config
        certificate = (_tls_dir(network) / f"{node.name}.pem").read_bytes()
        assert node_key_of_certificate(certificate) == node.public_key
        assert oct((_tls_dir(network) / f"{node.name}.key").stat().st_mode & 0o777) == oct(0o600)
    assert oct((_tls_dir(network) / "ca.key").stat().st_mode & 0o777) == oct(0o600)
    # Two validators: a commit needs both votes, so a committed transaction crossed TLS.
    password = Path(network.password_file).read_text().strip()
    admin = keypair_from_private(decrypt_private_key(load_keystore(network.nodes[0].key_file), password))
    with JadechainClient([network.nodes[1].url]) as client:
        ledger = client.ledger(network.ledger_hash)
        account = generate_keypair(admin.public.algorithm)
        result = ledger.submit(ledger.builder().register_data_account(account.public.encoded).sign(admin), wait=True,
                               timeout=60)
    assert result.committed and result.status == "SUCCESS"
    assert all((node_height(node, network.ledger_hash) or 0) >= 1 for node in network.nodes)


def test_a_plaintext_caller_is_refused_on_every_method(network: Any) -> None:
    address = network.nodes[0].grpc_address
    ledger_hash = from_base58(network.ledger_hash)
    for method, request in ((SUBMIT_METHOD, msgpack.packb([ledger_hash, []])), (SEND_METHOD, b"")):
        status, _ = _call(address, method, request, None)
        assert status == "StatusCode.UNAVAILABLE", (method, status)


def test_a_certificate_from_another_ca_is_refused(network: Any, tmp_path: Path) -> None:
    create_consortium_ca(tmp_path / "rogue", "rogue")
    rogue = issue_certificate(tmp_path / "rogue", "node0", network.nodes[0].public_key)  # even naming node0's key
    # It trusts the real CA for the server, but presents a certificate the nodes do not trust.
    presented = TlsFiles(str(_tls_dir(network) / "ca.pem"), rogue.cert_file, rogue.key_file)
    status, _ = _call(network.nodes[0].grpc_address, SUBMIT_METHOD,
                      msgpack.packb([from_base58(network.ledger_hash), []]), presented)
    assert status == "StatusCode.UNAVAILABLE"


def test_the_consortium_client_certificate_may_submit(network: Any) -> None:
    client = TlsFiles(str(_tls_dir(network) / "ca.pem"), str(_tls_dir(network) / "client.pem"),
                      str(_tls_dir(network) / "client.key"))
    status, reply = _call(network.nodes[0].grpc_address, SUBMIT_METHOD,
                          msgpack.packb([from_base58(network.ledger_hash), [b"\x00"]]), client)
    assert status == "OK"
    [[_, code, _]] = msgpack.unpackb(reply, raw=False)
    assert code  # the garbage transaction is refused with a code: the call itself got through


def test_an_envelope_must_come_from_the_node_its_certificate_names(network: Any) -> None:
    password = Path(network.password_file).read_text().strip()
    node0 = keypair_from_private(decrypt_private_key(load_keystore(network.nodes[0].key_file), password))
    envelope = seal_envelope(node0.public.encoded, lambda m: sign(node0.private, m), [])
    tls = _tls_dir(network)
    target = network.nodes[1]
    before = _invalid(target.url)
    as_node0 = TlsFiles(str(tls / "ca.pem"), str(tls / "node0.pem"), str(tls / "node0.key"))
    assert _call(target.grpc_address, SEND_METHOD, envelope, as_node0)[0] == "OK"
    assert _invalid(target.url) == before  # the right certificate: accepted
    as_client = TlsFiles(str(tls / "ca.pem"), str(tls / "client.pem"), str(tls / "client.key"))
    assert _call(target.grpc_address, SEND_METHOD, envelope, as_client)[0] == "OK"
    assert _invalid(target.url) == before + 1  # node0's signature on another certificate's connection: dropped


def test_a_node_added_later_gets_a_consortium_certificate_and_joins(network: Any) -> None:
    from jadechain.devnet.net import add_node, load_layout

    added = add_node(network.directory, timeout=120.0)
    layout = load_layout(network.directory)
    name = added.get("node", {}).get("name") if isinstance(added.get("node"), dict) else added.get("node")
    node = layout.node(str(name)) if name else layout.nodes[-1]
    assert "[tls]" in Path(node.config).read_text()
    assert node_key_of_certificate((_tls_dir(layout) / f"{node.name}.pem").read_bytes()) == node.public_key
    password = Path(layout.password_file).read_text().strip()
    admin = keypair_from_private(decrypt_private_key(load_keystore(layout.nodes[0].key_file), password))
    with JadechainClient([node.url]) as client:
        ledger = client.ledger(layout.ledger_hash)
        account = generate_keypair(admin.public.algorithm)
        result = ledger.submit(ledger.builder().register_data_account(account.public.encoded).sign(admin), wait=True,
                               timeout=60)
    assert result.committed and result.status == "SUCCESS"


def test_the_handshake_is_tls_1_3_with_the_consortium_chain(network: Any) -> None:
    """An independent TLS client (Python's OpenSSL, not gRPC): the node negotiates TLS 1.3, presents a
    certificate that chains to the consortium CA and names its node key; without a client
    certificate the handshake does not complete."""
    import socket
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    tls = _tls_dir(network)
    host, port = network.nodes[0].grpc_address.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(tls / "ca.pem"))
    context.check_hostname = False  # the certificate names jadechain-node; we dial an address
    context.set_alpn_protocols(["h2"])
    context.load_cert_chain(str(tls / "client.pem"), str(tls / "client.key"))
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=SERVER_NAME) as secured:
            assert secured.version() == "TLSv1.3"
            presented = x509.load_der_x509_certificate(secured.getpeercert(binary_form=True))
    assert node_key_of_certificate(presented.public_bytes(Encoding.PEM)) == network.nodes[0].public_key
    anonymous = ssl.create_default_context(cafile=str(tls / "ca.pem"))
    anonymous.check_hostname = False
    anonymous.set_alpn_protocols(["h2"])
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with anonymous.wrap_socket(raw, server_hostname=SERVER_NAME) as secured:
                secured.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                if not secured.recv(1):  # TLS 1.3: the refusal of the client arrives after the handshake
                    raise ConnectionError("closed by the node")
