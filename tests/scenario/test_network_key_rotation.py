"""Rotating a validator's consensus key on real node processes (127.0.0.1), as docs/reliability.md says.

A 4-validator network under a steady load of KV writes: the documented command moves node3 to a new
key through a proposal and votes; the epoch changes, the network keeps committing (no committed
transaction lost, identical blocks and roots everywhere), node3 comes back as a validator of the new
epoch and votes with its new key. Afterwards a message signed with node3's old key is refused by the
other nodes, a commit certificate with an old-key signature is refused, and a proof of a new-epoch
block verifies offline with nothing trusted but the ledger hash (the verifier follows the epoch change).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from ledger.certificate import encode_commit_statement
from ledger.crypto import from_base58, load_keypair, sign
from ledger.errors import ProofError
from ledger.proofs import certificate_from_json, certificate_to_json, verify_bundle
from tests.support.network_fault_kit import started_network, Load, assert_consistent, get, make_network, wait_progress, wait_until, wait_voting
from jadechain.devnet.net import create_network, load_layout
from jadechain.sdk import JadechainClient

ROOT = Path(__file__).resolve().parents[2]


def documented_rotation() -> str:
    """The runnable block of docs/reliability.md that rotates a key."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "docs" / "reliability.md").read_text(), flags=re.S)
    (block,) = [b for b in blocks if "rotate-key" in b and not b.startswith("# (fragment:")]
    return block


def invalid_messages(url: str, ledger_hash: str) -> float:
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=5).text
    match = re.search(r'^jadechain_invalid_messages_total\{ledger="' + re.escape(ledger_hash) + r'"\} (\S+)$', text, re.M)
    assert match, text[:2000]
    return float(match.group(1))


def send_envelope(address: str, pair, message: bytes) -> None:
    """One envelope to a node's consensus port, sealed by ``pair`` (what any peer process does)."""
    import grpc

    from consensus.network import SEND_METHOD, call_unary, seal_envelope

    async def go() -> None:
        async with grpc.aio.insecure_channel(address) as channel:
            await call_unary(channel, SEND_METHOD, seal_envelope(pair.public.encoded, lambda m: sign(pair.private, m),
                                                                 [message]), timeout=5.0)

    asyncio.run(go())


@pytest.fixture(scope="module", params=["plaintext", "tls"])
def network(request, tmp_path_factory):
    """A 4-node network; with ``tls`` its nodes talk mutual TLS, each certificate bound to the node's key
    (rotation must issue node3 a certificate for its new key, or its peers drop its envelopes)."""
    directory = tmp_path_factory.mktemp("rotation") / "net"
    if request.param == "tls":
        layout = create_network(directory, 4, "classic", tls=True, consensus={
            "round_timeout_ms": 500, "max_round_timeout_ms": 2000, "fast_forward_rounds": 20})
    else:
        layout, _ = make_network(directory)
    with started_network(layout):
        yield directory


def test_rotate_a_validator_key_under_load_and_refuse_the_old_key(network) -> None:
    layout = load_layout(network)
    password = Path(layout.password_file).read_text().strip()
    old_pair = load_keypair(layout.node("node3").key_file, password)
    tls_cert = Path(network) / "tls" / "node3.pem"
    node3_certificate_before = tls_cert.read_text() if tls_cert.exists() else None
    names = [n.name for n in layout.nodes]
    load = Load(layout).start()
    try:
        wait_progress(layout, names, 3, 60)
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        done = subprocess.run(["bash", "-e", "-c", documented_rotation()], cwd=Path(network).parent, env=env,
                              capture_output=True, text=True, timeout=400)
        assert done.returncode == 0, done.stdout + done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["node"] == "node3" and result["old_public_key"] == old_pair.public.base58
        layout = load_layout(network)
        load.layout = layout
        node3 = layout.node("node3")
        assert node3.public_key == result["new_public_key"] != old_pair.public.base58
        assert node3.key_file == result["key_file"] and os.stat(node3.key_file).st_mode & 0o077 == 0
        epoch = result["epoch"]
        assert epoch == 1 and result["executed_at"] > result["proposed_at"]
        wait_progress(layout, names, 4, 90)  # the network keeps committing, node3 included
        for name in names:
            status = get(layout.node(name).url, "/api/v1/node/status")["ledgers"][layout.ledger_hash]
            assert status["epoch"] == epoch and status["validators"] == 4 and status["validator"], (name, status)
            assert not status["halted"], status
        wait_voting(layout, "node3", 3, 60)  # node3 votes, and only its new key is a validator now
        with JadechainClient([layout.node("node0").url]) as client:
            ledger = client.ledger(layout.ledger_hash)
            validators = ledger.validators()
            assert validators.epoch == epoch
            assert from_base58(result["new_public_key"]) in validators.public_keys
            assert old_pair.public.encoded not in validators.public_keys
            from ledger.crypto import address_from_public_key

            new_user = address_from_public_key(load_keypair(node3.key_file, password).public)
            old_user = address_from_public_key(old_pair.public)
            roles = [client.request("GET", f"{ledger.base}/users/{user}/roles")["roles"] for user in (new_user, old_user)]
            assert roles[0] == roles[1] and roles[0]  # the new key speaks for node3's organisation as the old did
        # node3 attests with its new key: the certificates it assembles for new blocks carry that signature
        new_key = result["new_public_key"]
        with JadechainClient([node3.url], retry_timeout=30) as client:
            ledger = client.ledger(layout.ledger_hash)

            def signed_by_new_key() -> bool:
                fresh = max(load.committed.items(), key=lambda item: item[1])[0]
                try:
                    certificate = ledger.tx_proof(fresh, wait=10)["header"]["certificate"]
                except Exception:
                    return False
                return certificate is not None and new_key in {s["public_key"] for s in certificate["signatures"]}

            wait_until(signed_by_new_key, 60, "a certificate signed by node3's new key", layout)
    finally:
        load.stop()
    assert len(load.committed) > 10
    assert_consistent(layout, load.committed, check_on="node3")

    # a message signed with the old key after the change is refused (the sender is no participant now)
    node0 = layout.node("node0")
    tip = get(node0.url, f"/api/v1/ledgers/{layout.ledger_hash}/blocks/latest")
    ledger_hash = from_base58(layout.ledger_hash)
    header_hash = from_base58(tip["hash"])
    statement = encode_commit_statement(ledger_hash, tip["height"], header_hash, epoch)
    attestation = msgpack.packb([tip["height"], header_hash, epoch, sign(old_pair.private, statement)], use_bin_type=True)
    from node.replica import MSG_ATTESTATION, pack_message

    if not (Path(network) / "tls").exists():  # (with TLS a plaintext caller fails the handshake before that)
        before = invalid_messages(node0.url, layout.ledger_hash)
        send_envelope(node0.grpc_address, old_pair, pack_message(ledger_hash, MSG_ATTESTATION, attestation))
        wait_until(lambda: invalid_messages(node0.url, layout.ledger_hash) > before, 20, "node0 to refuse the old key")
        assert "unknown sender" in Path(node0.log).read_text()
    else:
        cert = (Path(network) / "tls" / "node3.pem").read_text()
        assert node3_certificate_before != cert  # node3 got a certificate for its new key

    # a certificate of a new-epoch block with the old key's signature in it is refused offline
    with JadechainClient([node0.url], retry_timeout=30) as client:
        ledger = client.ledger(layout.ledger_hash)
        committed_late = max(load.committed.items(), key=lambda item: item[1])[0]
        bundle = ledger.tx_proof(committed_late)
    assert bundle["header"]["certificate"]["epoch"] == epoch
    assert verify_bundle(bundle, ledger_hash=ledger_hash).certified  # light client walks genesis → epoch 1
    certificate = certificate_from_json(bundle["header"]["certificate"])
    old_signature = sign(old_pair.private, encode_commit_statement(
        ledger_hash, certificate.height, certificate.header_hash, epoch))
    from ledger.certificate import ValidatorSignature, assemble_certificate

    forged = assemble_certificate(ledger_hash, certificate.height, certificate.header_hash, epoch,
                                  [*certificate.signatures[:-1], ValidatorSignature(old_pair.public.encoded, old_signature)])
    tampered = dict(bundle, header=dict(bundle["header"], certificate=certificate_to_json(forged)))
    with pytest.raises(ProofError, match="outside the validator set"):
        verify_bundle(tampered, ledger_hash=ledger_hash)
    genuine = Path(network).parent / "genuine.json"
    genuine.write_text(json.dumps(bundle))
    checked = subprocess.run([sys.executable, "-m", "jadechain.cli", "verify", str(genuine), "--ledger",
                              layout.ledger_hash, "--json"], capture_output=True, text=True, cwd=ROOT, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert checked.returncode == 0 and json.loads(checked.stdout)["valid"] is True, checked.stdout + checked.stderr
    path = Path(network).parent / "forged.json"
    path.write_text(json.dumps(tampered))
    refused = subprocess.run([sys.executable, "-m", "jadechain.cli", "verify", str(path), "--ledger",
                              layout.ledger_hash], capture_output=True, text=True, cwd=ROOT, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert refused.returncode == 1 and "outside the validator set" in refused.stdout + refused.stderr
