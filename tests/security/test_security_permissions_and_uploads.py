"""Permission boundaries end to end (a client over the real gateway of a running node), and upload
names that try to escape the upload directory.

The rules themselves are unit-tested on the executor: tests/unit/ledger/test_ledger_executor.py
(unregistered signer, owners-only accounts, frozen/revoked users, frozen data accounts, users
without the permission to register users or configure roles, role UNION/INTERSECT) and
tests/unit/ledger/test_ledger_contracts.py::test_freeze_unfreeze_revoke (frozen and revoked
contracts). Here a user of the SDK sees each refusal as a stable code on chain and the state
unchanged — nothing written, whatever the gateway or the mempool accepted. The control plane's
auth, tokens, CSRF and roles are in tests/unit/baas/test_baas_accounts.py and
test_baas_permissions.py, and fuzzed with and without a token in tests/fuzz/test_fuzz_api_baas.py.
About 10 s.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest

from ledger.crypto import ED25519, address_from_public_key, generate_keypair
from ledger.types import AccountState, UpdateAccountState
from jadechain.sdk import JadechainClient
from jadechain.sdk.client import ApiError
from jadechain.devnet.solo import SoloNode, create_dev_solo


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    dev = create_dev_solo(str(tmp_path_factory.mktemp("permissions")))
    with SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], idle_block_ms=10) as node:
        with JadechainClient([node.url]) as client:
            ledger = client.ledger()
            owned = generate_keypair(ED25519)
            assert ledger.submit(ledger.builder().register_data_account(owned.public.encoded).sign(dev.key)).status == "SUCCESS"
            alice = generate_keypair(ED25519)
            assert ledger.submit(ledger.builder().register_user(alice.public.encoded, "alice").sign(dev.key)).status == "SUCCESS"
            yield {"ledger": ledger, "admin": dev.key, "account": address_from_public_key(owned.public), "alice": alice}


def _refused(ledger: Any, tx: Any, account: str, key: str) -> str:
    """Submit; return its on-chain status (or ingress error code); the key must stay unwritten."""
    try:
        result = ledger.submit(tx)
        status = result.status
    except ApiError as error:
        status = error.code
    with pytest.raises(ApiError) as missing:
        ledger.get_entry(account, key)
    assert missing.value.code == "NOT_FOUND"
    return str(status)


def test_an_unregistered_signer_cannot_write(ledger: dict[str, Any]) -> None:
    stranger = generate_keypair(ED25519)
    tx = ledger["ledger"].builder().kv_set(ledger["account"], "by-stranger", 1).sign(stranger)
    assert _refused(ledger["ledger"], tx, ledger["account"], "by-stranger") == "PERMISSION_DENIED"


def test_a_registered_user_cannot_write_an_account_it_does_not_own(ledger: dict[str, Any]) -> None:
    tx = ledger["ledger"].builder().kv_set(ledger["account"], "by-alice", 1).sign(ledger["alice"])
    assert _refused(ledger["ledger"], tx, ledger["account"], "by-alice") == "PERMISSION_DENIED"


def test_a_user_without_the_role_cannot_register_users(ledger: dict[str, Any]) -> None:
    mallory = generate_keypair(ED25519)
    result = ledger["ledger"].submit(ledger["ledger"].builder().register_user(mallory.public.encoded, "mallory").sign(ledger["alice"]))
    assert result.status == "PERMISSION_DENIED"
    with pytest.raises(ApiError):
        ledger["ledger"].get_account(address_from_public_key(mallory.public))


def test_a_frozen_user_is_refused_and_cannot_unfreeze_itself(ledger: dict[str, Any]) -> None:
    client, admin = ledger["ledger"], ledger["admin"]
    bob = generate_keypair(ED25519)
    bob_address = address_from_public_key(bob.public)
    own = generate_keypair(ED25519)
    assert client.submit(client.builder().register_user(bob.public.encoded, "bob").sign(admin)).status == "SUCCESS"
    assert client.submit(client.builder().register_data_account(own.public.encoded).sign(bob)).status == "SUCCESS"
    bobs = address_from_public_key(own.public)
    assert client.submit(client.builder().add(UpdateAccountState(bob_address, AccountState.FROZEN)).sign(admin)).status == "SUCCESS"
    assert _refused(client, client.builder().kv_set(bobs, "while-frozen", 1).sign(bob), bobs, "while-frozen") == "ACCOUNT_FROZEN"
    unfreeze = client.builder().add(UpdateAccountState(bob_address, AccountState.NORMAL)).sign(bob)
    assert client.submit(unfreeze).status in ("ACCOUNT_FROZEN", "PERMISSION_DENIED")
    assert _refused(client, client.builder().kv_set(bobs, "still-frozen", 1).sign(bob), bobs, "still-frozen") == "ACCOUNT_FROZEN"


def test_a_signature_over_other_content_is_refused_at_ingress(ledger: dict[str, Any]) -> None:
    import dataclasses

    client = ledger["ledger"]
    good = client.builder().kv_set(ledger["account"], "tampered", 1).sign(ledger["admin"])
    other = client.builder().kv_set(ledger["account"], "tampered", 2).sign(ledger["admin"])
    forged = dataclasses.replace(good, signatures=other.signatures)
    assert _refused(client, forged, ledger["account"], "tampered") in ("INVALID_SIGNATURE", "INVALID_TRANSACTION")


# --- uploads ----------------------------------------------------------------------------------

async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 7):
        yield body[start:start + 7]


@pytest.mark.parametrize("name", ["../../../../tmp/evil.txt", "..\\..\\evil.txt", "/etc/passwd", "a/../../b",
                                  "%2e%2e%2fevil", "..", "evil\x00.txt"])
def test_upload_file_names_never_escape_the_upload_directory(tmp_path: Path, name: str) -> None:
    from baas.apps.evidence.upload import parse_streaming

    keep_dir = tmp_path / "uploads"
    keep_dir.mkdir()
    outside_before = set(os.listdir(tmp_path))
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + b"payload" + f"\r\n--{boundary}--\r\n".encode()
    upload = asyncio.run(parse_streaming(_chunks(body), f"multipart/form-data; boundary={boundary}", keep=True,
                                         keep_dir=str(keep_dir), max_bytes=1 << 20, max_files=1))
    try:
        for item in upload.files:
            assert "/" not in item.file_name  # only ever a display name
            if item.kept_path:
                assert Path(item.kept_path).resolve().parent == keep_dir.resolve()
        assert set(os.listdir(tmp_path)) == outside_before
    finally:
        upload.discard()


def test_an_oversized_upload_is_refused_while_streaming(tmp_path: Path) -> None:
    from baas.apps.evidence.records import EvidenceError
    from baas.apps.evidence.upload import parse_streaming

    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n").encode() \
        + b"x" * (64 << 10) + f"\r\n--{boundary}--\r\n".encode()
    with pytest.raises(EvidenceError):
        asyncio.run(parse_streaming(_chunks(body), f"multipart/form-data; boundary={boundary}", keep=True,
                                    keep_dir=str(tmp_path), max_bytes=16 << 10, max_files=1))
    assert os.listdir(tmp_path) == []
