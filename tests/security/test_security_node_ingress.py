"""Gateway and transport findings on a real validator process (``python -m node.server``):

* transactions signed by keys that are not registered users of the ledger are refused at ingress
  (HTTP and gRPC), never committed as PERMISSION_DENIED;
* the gRPC client Submit has the HTTP limits: at most 5,000 transactions and 8 MiB per call;
* the gateway's POST rate limit is on by default and set in ``[gateway]`` of node.toml.

One single-validator network; about 15 s.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import grpc
import httpx
import msgpack
import pytest

from consensus.network import SUBMIT_METHOD
from ledger import codec
from ledger.crypto import ED25519, address_from_public_key, decrypt_private_key, from_base58, generate_keypair
from ledger.crypto import algorithm_by_code, hasher, keypair_from_private, load_keystore, to_base58
from ledger.executor import transaction_hash
from node.config import GatewaySection
from jadechain.devnet.net import create_network, net_down, start_node, wait_for_height
from jadechain.sdk import JadechainClient
from jadechain.sdk.client import ApiError

POST_BURST = 25


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    layout = create_network(tmp_path_factory.mktemp("ingress") / "net", 1)
    config = Path(layout.nodes[0].config)
    # A low limit, to see it act: 1 POST/s refill, a burst of POST_BURST.
    config.write_text(re.sub(r"(\[gateway\]\n)", rf"\1post_rate = 1.0\npost_burst = {POST_BURST}.0\n", config.read_text()))
    start_node(layout, layout.nodes[0].name)
    try:
        wait_for_height(layout, 1, 60)
        password = Path(layout.password_file).read_text().strip()
        admin = keypair_from_private(decrypt_private_key(load_keystore(layout.nodes[0].key_file), password))
        yield {"layout": layout, "url": layout.nodes[0].url, "grpc": layout.nodes[0].grpc_address, "admin": admin}
    finally:
        net_down(layout.directory, timeout=15)


def _grpc_submit(address: str, request: bytes) -> list[Any]:
    options = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(address, options=options) as channel:
        call = channel.unary_unary(SUBMIT_METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            return list(msgpack.unpackb(call(request, timeout=60), raw=False))
        except grpc.RpcError as error:
            return [[None, str(error.code()), error.details()]]


def test_an_unregistered_signer_is_refused_at_ingress(node: dict[str, Any]) -> None:
    stranger = generate_keypair(ED25519)
    with JadechainClient([node["url"]]) as client:
        ledger = client.ledger()
        account = generate_keypair(ED25519)
        tx = ledger.builder().register_data_account(account.public.encoded).sign(stranger)
        with pytest.raises(ApiError) as refused:
            ledger.submit(tx)
        assert refused.value.code == "PERMISSION_DENIED" and "not a registered user" in refused.value.message
        tx_hash = transaction_hash(hasher(algorithm_by_code(int.from_bytes(tx.content.ledger_hash[:2], "big"))),
                                   int.from_bytes(tx.content.ledger_hash[:2], "big"), tx)
        with pytest.raises(ApiError) as missing:
            ledger.get_tx(to_base58(tx_hash))
        assert missing.value.code == "NOT_FOUND"
        with pytest.raises(ApiError):
            ledger.get_account(address_from_public_key(account.public))
        # The registered admin still gets through.
        assert ledger.submit(ledger.builder().register_data_account(account.public.encoded).sign(node["admin"]),
                             wait=True).status == "SUCCESS"


def test_an_unregistered_signer_is_refused_over_grpc_too(node: dict[str, Any]) -> None:
    stranger = generate_keypair(ED25519)
    with JadechainClient([node["url"]]) as client:
        ledger = client.ledger()
        tx = ledger.builder().register_data_account(generate_keypair(ED25519).public.encoded).sign(stranger)
        ledger_hash = from_base58(node["layout"].ledger_hash)
    [result] = _grpc_submit(node["grpc"], msgpack.packb([ledger_hash, [codec.encode(tx)]], use_bin_type=True))
    assert result[1] == "PERMISSION_DENIED"


def test_grpc_submit_refuses_more_than_5000_transactions(node: dict[str, Any]) -> None:
    ledger_hash = from_base58(node["layout"].ledger_hash)
    results = _grpc_submit(node["grpc"], msgpack.packb([ledger_hash, [b"\x00"] * 20_000], use_bin_type=True))
    assert len(results) == 1 and results[0][1] == "BATCH_TOO_LARGE", results[:3]


def test_grpc_submit_refuses_more_than_8_mib(node: dict[str, Any]) -> None:
    ledger_hash = from_base58(node["layout"].ledger_hash)
    request = msgpack.packb([ledger_hash, [b"\x00" * (1 << 20)] * 20], use_bin_type=True)  # 20 MiB
    results = _grpc_submit(node["grpc"], request)
    assert len(results) == 1 and results[0][1] in ("REQUEST_TOO_LARGE", "StatusCode.RESOURCE_EXHAUSTED"), results[:1]
    # and the node still serves
    assert httpx.get(node["url"] + "/health", timeout=10).status_code == 200


def test_the_gateway_rate_limit_is_on_by_default() -> None:
    section = GatewaySection(port=0)
    assert section.post_rate > 0 and section.post_burst >= 1


def test_the_configured_rate_limit_refuses_a_flood(node: dict[str, Any]) -> None:
    url = f"{node['url']}/api/v1/ledgers/{node['layout'].ledger_hash}/txs"
    statuses = []
    with httpx.Client(timeout=30) as web:
        for index in range(3 * POST_BURST):
            # A forged X-Forwarded-For per request must not give each request a fresh bucket.
            response = web.post(url, content=b"\x00", headers={"Content-Type": "application/octet-stream",
                                                               "X-Forwarded-For": f"198.51.100.{index % 250}"})
            statuses.append(response.status_code)
    assert 429 in statuses
    refused = [s for s in statuses if s == 429]
    assert len(refused) >= POST_BURST // 2
