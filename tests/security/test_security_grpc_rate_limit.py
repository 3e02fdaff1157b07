"""The gRPC client Submit has the HTTP gateway's per-client rate limit (``[gateway] post_rate`` and
``post_burst``): one token bucket per TLS certificate when the caller presents one, else per address;
a caller over its budget is refused with ``RATE_LIMITED`` (HTTP's 429 code), without anything decoded.

A real single-validator network with mutual TLS (jadechain.devnet.net, ``tls=True``); about 10 s.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import grpc
import msgpack
import pytest

from consensus.network import SUBMIT_METHOD
from ledger.crypto import from_base58
from jadechain.devnet.net import create_network, net_down, start_node, wait_for_height
from node.server import submit_client, submit_rate_gate
from node.tls import SERVER_NAME

BURST = 5


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    layout = create_network(tmp_path_factory.mktemp("grpc-rate") / "net", 1, tls=True)
    config = Path(layout.nodes[0].config)
    # A refill so slow that no token comes back during the test, a burst of BURST.
    config.write_text(re.sub(r"(\[gateway\]\n)", rf"\1post_rate = 0.001\npost_burst = {BURST}.0\n", config.read_text()))
    start_node(layout, layout.nodes[0].name)
    try:
        wait_for_height(layout, 1, 90)
        yield layout
    finally:
        net_down(layout.directory, timeout=15)


def _submit(layout: Any, who: str) -> str:
    """One Submit with ``who``'s certificate (client or node0) carrying one garbage transaction: the
    code of its single result (a decoding error when admitted, RATE_LIMITED when not)."""
    tls = Path(layout.directory) / "tls"
    credentials = grpc.ssl_channel_credentials(root_certificates=(tls / "ca.pem").read_bytes(),
                                               private_key=(tls / f"{who}.key").read_bytes(),
                                               certificate_chain=(tls / f"{who}.pem").read_bytes())
    request = msgpack.packb([from_base58(layout.ledger_hash), [b"\x00"]])
    with grpc.secure_channel(layout.nodes[0].grpc_address, credentials,
                             options=[("grpc.ssl_target_name_override", SERVER_NAME)]) as channel:
        call = channel.unary_unary(SUBMIT_METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        results = msgpack.unpackb(call(request, timeout=60), raw=False)
    assert len(results) == 1, results
    return str(results[0][1])


def test_a_flood_of_grpc_submits_is_refused_per_certificate(node: Any) -> None:
    codes = [_submit(node, "client") for _ in range(3 * BURST)]
    admitted = [code for code in codes if code != "RATE_LIMITED"]
    # At most the burst (plus a token of refill) gets through; the rest is refused with HTTP's code.
    assert 1 <= len(admitted) <= BURST + 1, codes
    assert codes[-1] == "RATE_LIMITED" and codes.count("RATE_LIMITED") >= 2 * BURST - 1, codes
    assert all(code and code != "None" for code in admitted), codes  # the garbage tx itself refused with a code
    # Another certificate from the same address has its own bucket: still admitted.
    assert _submit(node, "node0") != "RATE_LIMITED"


class _Context:
    def __init__(self, peer: str, pem: bytes | None = None) -> None:
        self._peer = peer
        self._pem = pem

    def peer(self) -> str:
        return self._peer

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [self._pem]} if self._pem else {}


def test_the_client_is_its_certificate_else_its_address_without_the_port() -> None:
    assert submit_client(_Context("ipv4:127.0.0.1:40001")) == submit_client(_Context("ipv4:127.0.0.1:40002"))
    assert submit_client(_Context("ipv6:[::1]:40001")) == submit_client(_Context("ipv6:[::1]:50000"))
    assert submit_client(_Context("ipv4:127.0.0.1:1")) != submit_client(_Context("ipv4:127.0.0.2:1"))
    a, b = b"-----BEGIN CERTIFICATE-----\nAAAA\n", b"-----BEGIN CERTIFICATE-----\nBBBB\n"
    assert submit_client(_Context("ipv4:127.0.0.1:1", a)) == submit_client(_Context("ipv4:127.0.0.9:2", a))
    assert submit_client(_Context("ipv4:127.0.0.1:1", a)) != submit_client(_Context("ipv4:127.0.0.1:1", b))


def test_the_gate_refuses_over_the_burst_and_a_zero_rate_disables_it() -> None:
    gate = submit_rate_gate(0.001, 3)
    refused = [gate(_Context(f"ipv4:127.0.0.1:{port}")) for port in range(1000, 1006)]
    assert refused[:3] == [None, None, None]
    for reply in refused[3:]:
        assert reply is not None
        [[tx_hash, code, message]] = msgpack.unpackb(reply, raw=False)
        assert tx_hash is None and code == "RATE_LIMITED" and message
    assert gate(_Context("ipv4:127.0.0.2:1000")) is None  # another address, its own bucket
    unlimited = submit_rate_gate(0, 1)
    assert all(unlimited(_Context("ipv4:127.0.0.1:1")) is None for _ in range(100))
