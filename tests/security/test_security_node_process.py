"""Attacks on a running validator process (``python -m node.server``, 127.0.0.1), refused:

- consensus envelopes from a non-member key, and envelopes that claim a member's key but are
  signed by another, are dropped at ingress and counted; malformed bytes on every gRPC method
  never take the node down;
- admin endpoints refuse a missing or wrong bearer token (and the token never reaches the logs);
- an oversized body is refused with 413 and a ``{code, message}`` body, before it is buffered;
- slowloris: dozens of connections dribbling their headers do not stop others being served;
- no private key material (hex, base58, base64) nor the keystore password appears in any API
  response crawled here or in the node's log.

Two validator processes (attacks go to node0; node1 is the member whose key is forged); about 30 s.
"""

from __future__ import annotations

import base64
import os
import socket
import time
from pathlib import Path
from typing import Any, Iterator

import grpc
import httpx
import pytest

from consensus.network import (
    GET_CONSENSUS_ROOT_METHOD,
    GET_LEDGER_BLOCKS_METHOD,
    SEND_METHOD,
    SUBMIT_METHOD,
    seal_envelope,
)
from ledger.crypto import PublicKey, decrypt_private_key, generate_keypair, load_keystore, sign, to_base58
from jadechain.devnet.net import create_network, net_down, start_node, wait_for_height

ADMIN_TOKEN = "adm-" + os.urandom(12).hex()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    layout = create_network(tmp_path_factory.mktemp("security") / "net", 2)
    saved = os.environ.get("JADECHAIN_ADMIN_TOKEN")
    os.environ["JADECHAIN_ADMIN_TOKEN"] = ADMIN_TOKEN
    try:
        for item in layout.nodes:
            start_node(layout, item.name)
    finally:
        if saved is None:
            os.environ.pop("JADECHAIN_ADMIN_TOKEN", None)
        else:
            os.environ["JADECHAIN_ADMIN_TOKEN"] = saved
    try:
        wait_for_height(layout, 1, 60)
        yield {"layout": layout, "node": layout.nodes[0], "url": layout.nodes[0].url}
    finally:
        net_down(layout.directory, timeout=15)


def _invalid_envelopes(url: str) -> float:
    total = 0.0
    for line in httpx.get(url + "/metrics", timeout=5).text.splitlines():
        if not line.startswith("#") and "invalid" in line.split("{")[0].split(" ")[0]:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _grpc_call(address: str, method: str, request: bytes) -> str:
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            call(request, timeout=5)
            return "OK"
        except grpc.RpcError as error:
            return str(error.code())


def test_envelopes_from_non_members_and_forged_senders_are_dropped(node: dict[str, Any]) -> None:
    url, grpc_address = node["url"], node["node"].grpc_address
    member = PublicKey.from_base58(node["layout"].nodes[1].public_key)  # node0's peer
    stranger = generate_keypair(member.algorithm)
    before = _invalid_envelopes(url)
    # 1. A key that is not a validator, signing correctly.
    stranger_envelope = seal_envelope(stranger.public.encoded, lambda m: sign(stranger.private, m), [b"\x93\x00\x00\x00"])
    # 2. The member's public key, signed by the stranger (a forged sender).
    forged_envelope = seal_envelope(member.encoded, lambda m: sign(stranger.private, m), [b"\x93\x00\x00\x00"])
    for envelope in (stranger_envelope, forged_envelope, b"\xc1garbage", b""):
        assert _grpc_call(grpc_address, SEND_METHOD, envelope) in ("OK", "StatusCode.INVALID_ARGUMENT",
                                                                     "StatusCode.PERMISSION_DENIED", "StatusCode.UNAUTHENTICATED")
    deadline = time.monotonic() + 10
    while _invalid_envelopes(url) < before + 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _invalid_envelopes(url) >= before + 4
    log = Path(node["node"].log).read_text(errors="replace")
    assert "unknown sender" in log and "bad envelope signature" in log


@pytest.mark.parametrize("method", [GET_LEDGER_BLOCKS_METHOD, GET_CONSENSUS_ROOT_METHOD, SUBMIT_METHOD])
def test_malformed_bytes_on_every_grpc_method_leave_the_node_serving(node: dict[str, Any], method: str) -> None:
    for payload in (b"", b"\xc1", os.urandom(64), b"\x93" + os.urandom(300)):
        _grpc_call(node["node"].grpc_address, method, payload)
    assert httpx.get(node["url"] + "/health", timeout=5).status_code == 200


def test_admin_endpoints_need_the_admin_token(node: dict[str, Any]) -> None:
    url = node["url"] + "/api/v1/admin/mempool"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_TOKEN},
                    {"Authorization": "Bearer " + ADMIN_TOKEN[:-1]}, {"Authorization": "Basic " + ADMIN_TOKEN}):
        response = httpx.get(url, headers=headers, timeout=5)
        assert response.status_code == 401, headers
        assert response.json()["code"] == "UNAUTHENTICATED"
    assert httpx.get(url, headers={"Authorization": "Bearer " + ADMIN_TOKEN}, timeout=5).status_code == 200
    assert ADMIN_TOKEN not in Path(node["node"].log).read_text(errors="replace")


def test_an_oversized_body_is_refused_with_413(node: dict[str, Any]) -> None:
    ledger = node["layout"].ledger_hash
    response = httpx.post(f"{node['url']}/api/v1/ledgers/{ledger}/txs", content=b"0" * (9 << 20),
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 413
    assert set(response.json()) >= {"code", "message"}
    # A lying Content-Length does not get past the limit either.
    with socket.create_connection(("127.0.0.1", node["node"].http_port), timeout=10) as sock:
        sock.sendall(f"POST /api/v1/ledgers/{ledger}/txs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {1 << 40}\r\n\r\n".encode() + b"0" * 1024)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413") or answer.startswith(b"HTTP/1.1 400"), answer[:100]


def test_slowloris_clients_do_not_starve_others(node: dict[str, Any]) -> None:
    slow: list[socket.socket] = []
    try:
        for _ in range(60):
            sock = socket.create_connection(("127.0.0.1", node["node"].http_port), timeout=5)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(sock)
        for round_ in range(3):
            for sock in slow:
                try:
                    sock.sendall(f"X-Slow-{round_}: a\r\n".encode())
                except OSError:
                    pass  # the server may close a dribbling client: that is fine too
            response = httpx.get(node["url"] + "/health", timeout=10)
            assert response.status_code == 200
            time.sleep(0.5)
    finally:
        for sock in slow:
            sock.close()


def _secrets(layout: Any) -> dict[str, str]:
    password = Path(layout.password_file).read_text().strip()
    needles = {password: "keystore password"}
    for item in layout.nodes:
        private = decrypt_private_key(load_keystore(item.key_file), password)
        for raw in (private.raw, private.encoded):
            needles[raw.hex()] = f"{item.name} private key (hex)"
            needles[raw.hex().upper()] = f"{item.name} private key (HEX)"
            needles[to_base58(raw)] = f"{item.name} private key (base58)"
            needles[base64.b64encode(raw).decode()] = f"{item.name} private key (base64)"
            needles[base64.urlsafe_b64encode(raw).decode().rstrip("=")] = f"{item.name} private key (base64url)"
    return needles


def test_no_private_key_material_in_api_responses_or_logs(node: dict[str, Any]) -> None:
    layout = node["layout"]
    ledger = layout.ledger_hash
    paths = ["/health", "/metrics", "/openapi.json", "/api/v1/node/status", "/api/v1/ledgers", f"/api/v1/ledgers/{ledger}",
             f"/api/v1/ledgers/{ledger}/participants", f"/api/v1/ledgers/{ledger}/blocks/latest",
             f"/api/v1/ledgers/{ledger}/blocks/0", f"/api/v1/ledgers/{ledger}/blocks/1",
             f"/api/v1/ledgers/{ledger}/blocks/0/txs", f"/api/v1/ledgers/{ledger}/users",
             f"/api/v1/ledgers/{ledger}/settings", f"/api/v1/ledgers/{ledger}/roles"]
    bodies = []
    for path in paths:
        response = httpx.get(node["url"] + path, timeout=10)
        assert response.status_code < 500, path
        bodies.append((path, response.text))
    admin = httpx.get(node["url"] + "/api/v1/admin/mempool", headers={"Authorization": "Bearer " + ADMIN_TOKEN}, timeout=5)
    bodies.append(("/api/v1/admin/mempool", admin.text))
    bodies.append(("node log", Path(node["node"].log).read_text(errors="replace")))
    needles = _secrets(layout)
    leaks = [f"{what} in {where}" for where, text in bodies for needle, what in needles.items() if needle and needle in text]
    assert leaks == []
    # The crawl saw real content (the public key is there, so the search would have found the private one).
    assert any(layout.nodes[0].public_key in text for _, text in bodies)
