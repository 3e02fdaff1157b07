"""The gateway over real HTTP on loopback: a solo node on a one-validator dev ledger, the SDK as client."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Iterator

import httpx
import msgpack
import pytest

from ledger import codec
from ledger.certificate import ValidatorSet
from ledger.crypto import ED25519, address_from_public_key, generate_keypair, to_base58
from ledger.errors import ProofError
from ledger.proofs import verify_bundle
from ledger.transactions import TransactionBuilder
from ledger.types import EndpointSignature, Transaction
from node.gateway.app import GatewaySettings
from jadechain.sdk import ApiError, AsyncJadechainClient, Entry, JadechainClient, LedgerClient, StreamMessage, TxResult
from jadechain.devnet.solo import DevSolo, SoloNode, create_dev_solo


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> DevSolo:
    return create_dev_solo(str(tmp_path_factory.mktemp("gateway-api")))


@pytest.fixture(scope="module")
def node(dev: DevSolo) -> Iterator[SoloNode]:
    settings = GatewaySettings(max_body_bytes=64 * 1024, admin_token="s3cret", post_rate=0)
    with SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], settings=settings, idle_block_ms=10) as running:
        yield running


@pytest.fixture(scope="module")
def client(node: SoloNode) -> Iterator[JadechainClient]:
    with JadechainClient([node.url], retry_timeout=5) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def ledger(client: JadechainClient) -> LedgerClient:
    return client.ledger()


@pytest.fixture(scope="module")
def trusted(dev: DevSolo) -> ValidatorSet:
    """What a light client pins: the genesis validator set (one key), known without asking the node."""
    return ValidatorSet(0, (dev.key.public.encoded,))


@pytest.fixture(scope="module")
def account(ledger: LedgerClient, dev: DevSolo) -> str:
    pair = generate_keypair(ED25519)
    result = ledger.submit(ledger.builder().register_data_account(pair.public.encoded).sign(dev.key))
    assert result.committed and result.status == "SUCCESS"
    return address_from_public_key(pair.public)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert body["code"] == code
    assert body["message"]


def test_kv_writes_commit_and_read_back_with_versions_blocks_and_txs(
    ledger: LedgerClient, dev: DevSolo, account: str
) -> None:
    first = ledger.submit(ledger.builder().kv_set(account, "product/6901234567892", {"lot": "L1"}).sign(dev.key))
    second = ledger.submit(ledger.builder().kv_set(account, "product/6901234567892", "shipped", 0).sign(dev.key))
    assert (first.status, second.status) == ("SUCCESS", "SUCCESS")
    assert second.height > first.height

    entry = ledger.get_entry(account, "product/6901234567892")
    assert (entry.version, entry.value, entry.value_type) == (1, "shipped", "TEXT")
    assert entry.tx_hash == second.tx_hash and entry.height == second.height
    assert entry.raw["value"] == {"type": "TEXT", "value": "shipped"}  # the gateway's JSON, kept as it came
    old = ledger.get_entry(account, "product/6901234567892", version=0)
    assert (old.value, old.value_type) == ({"lot": "L1"}, "JSON")
    versions = ledger.get_versions(account, "product/6901234567892")
    assert [v.version for v in versions] == [0, 1]
    assert [v.height for v in versions] == [first.height, second.height]

    tx = ledger.get_tx(second.tx_hash)
    assert (tx.status, tx.height, tx.index, tx.tx_hash) == ("SUCCESS", second.height, second.index, second.tx_hash)
    assert tx.operations[0]["type"] == "KVSet"
    assert tx.signers == (address_from_public_key(dev.key.public),)

    block = ledger.get_block(second.height)
    assert block.tx_count >= 1 and block.certified and block.height == second.height
    assert ledger.client.request("GET", f"{ledger.base}/blocks/hash/{block.hash}")["height"] == second.height
    txs = ledger.get_block_txs(second.height)
    assert second.tx_hash in [item.tx_hash for item in txs] and txs.total == block.tx_count
    latest = ledger.get_block("latest")
    assert latest.height >= second.height
    info = ledger.info()
    assert info.hash == dev.ledger_hash and info.settings.hash_algorithm == "SHA256"
    assert info.validators == (to_base58(dev.key.public.encoded),)
    keys = ledger.client.request("GET", f"{ledger.base}/accounts/{account}/entries")
    assert {"key": "product/6901234567892", "latest_version": 1} in keys["items"]
    data_accounts = ledger.client.request("GET", f"{ledger.base}/data-accounts", params={"limit": 1000})
    assert account in [a["address"] for a in data_accounts["items"]] and data_accounts["total"] >= 1
    users = ledger.client.request("GET", f"{ledger.base}/users")
    assert users["total"] >= 1
    me = address_from_public_key(dev.key.public)
    assert ledger.client.request("GET", f"{ledger.base}/users/{me}/roles")["user"] == me
    assert ledger.client.request("GET", f"{ledger.base}/roles")
    assert ledger.client.request("GET", f"{ledger.base}/participants")[0]["state"] == "CONSENSUS"


def test_proof_bundles_over_http_verify_offline_as_certified(
    ledger: LedgerClient, dev: DevSolo, account: str, trusted: ValidatorSet
) -> None:
    result = ledger.submit(ledger.builder().kv_set(account, "evidence/1", "sha256:abcd").sign(dev.key))
    deadline = time.monotonic() + 10
    while True:  # the committer seals the block with an empty one within idle_block_ms
        try:
            bundle = ledger.entry_proof(account, "evidence/1")
            break
        except ApiError as error:
            assert error.code == "PROOF_PENDING" and error.http_status == 409
            assert time.monotonic() < deadline
            time.sleep(0.02)
    report = verify_bundle(bundle, trusted_validators=trusted, require_certificate=True)
    assert report.certified and report.signers == 1
    assert report.claim["value"] == {"type": "TEXT", "value": "sha256:abcd"}

    tx_bundle = ledger.tx_proof(result.tx_hash)
    tx_report = ledger.verify(tx_bundle, trusted)
    assert tx_report.kind == "transaction" and tx_report.claim["status"] == "SUCCESS"

    height = ledger.info().height
    consistency = ledger.consistency_proof(1, height)
    assert ledger.verify(consistency, trusted).certified

    tampered = dict(bundle, claim=dict(bundle["claim"], value={"type": "TEXT", "value": "forged"}))
    with pytest.raises(ProofError):
        verify_bundle(tampered, trusted_validators=trusted, require_certificate=True)
    stranger = ValidatorSet(0, (generate_keypair(ED25519).public.encoded,))
    with pytest.raises(ProofError):
        verify_bundle(bundle, trusted_validators=stranger, require_certificate=True)


def test_msgpack_body_and_batches_with_wait(node: SoloNode, ledger: LedgerClient, dev: DevSolo, account: str) -> None:
    tx = ledger.builder().kv_set(account, "mp", 1).sign(dev.key)
    response = httpx.post(f"{node.url}{ledger.base}/txs?wait=commit", content=codec.encode(tx),
                          headers={"content-type": "application/msgpack"})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["status"] == "SUCCESS"
    batch = [ledger.builder().kv_set(account, f"batch/{i}", i).sign(dev.key) for i in range(20)]
    results = ledger.submit_many(batch + [batch[0]])
    assert all(not isinstance(r, ApiError) and r.status == "SUCCESS" for r in results[:20])
    assert isinstance(results[20], ApiError) and results[20].code == "DUPLICATE_TRANSACTION"
    assert (ledger.get_entry(account, "batch/19").value, ledger.get_entry(account, "batch/19").value_type) == (19, "INT64")


def test_rejected_transactions_answer_their_stable_codes(node: SoloNode, ledger: LedgerClient, dev: DevSolo, account: str) -> None:
    url = f"{node.url}{ledger.base}/txs"
    tx = ledger.builder().kv_set(account, "sig", 1).sign(dev.key)
    signature = tx.signatures[0]
    flipped = signature.signature[:-1] + bytes([signature.signature[-1] ^ 0x01])
    forged = Transaction(tx.content, (EndpointSignature(signature.public_key, flipped),))
    assert_error(httpx.post(url, json={"tx": codec.encode(forged).hex()}), 400, "INVALID_SIGNATURE")
    foreign = TransactionBuilder(tx.content.ledger_hash[:2] + bytes(32)).kv_set(account, "k", 1).sign(dev.key)
    assert_error(httpx.post(url, json={"tx": codec.encode(foreign).hex()}), 400, "LEDGER_MISMATCH")
    assert httpx.post(url, json={"tx": codec.encode(tx).hex()}).status_code == 200
    assert_error(httpx.post(url, json={"tx": codec.encode(tx).hex()}), 409, "DUPLICATE_TRANSACTION")
    # The SDK turns a duplicate (e.g. a retry after failover) into a wait for the first submission.
    assert ledger.submit(tx).status == "SUCCESS"


def test_malformed_bodies_are_400_malformed_encoding(node: SoloNode, ledger: LedgerClient) -> None:
    url = f"{node.url}{ledger.base}/txs"
    assert_error(httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}), 400, "MALFORMED_ENCODING")
    assert_error(httpx.post(url, json={"tx": "zz"}), 400, "MALFORMED_ENCODING")
    assert_error(httpx.post(url, json={"tx": "9301"}), 400, "MALFORMED_ENCODING")
    assert_error(httpx.post(url, json={"tx": 12}), 400, "MALFORMED_ENCODING")
    assert_error(httpx.post(url, json={"something": "else"}), 400, "MALFORMED_ENCODING")
    garbage = msgpack.packb([1, 2, 3])
    assert_error(httpx.post(url, content=garbage, headers={"content-type": "application/msgpack"}), 400, "MALFORMED_ENCODING")


def test_http_errors_are_code_and_message_json(node: SoloNode, ledger: LedgerClient, account: str) -> None:
    base = node.url + ledger.base
    assert_error(httpx.get(f"{node.url}/api/v1/ledgers/NoSuchLedger"), 404, "LEDGER_NOT_FOUND")
    assert_error(httpx.get(f"{node.url}/api/v1/ledgers/NoSuchLedger/blocks/1"), 404, "LEDGER_NOT_FOUND")
    assert_error(httpx.get(f"{node.url}/api/v1/nothing/here"), 404, "NOT_FOUND")
    assert_error(httpx.get(f"{base}/blocks/999999"), 404, "NOT_FOUND")
    assert_error(httpx.get(f"{base}/blocks/-1"), 422, "VALIDATION_ERROR")
    assert_error(httpx.get(f"{base}/blocks/1/txs", params={"limit": 0}), 422, "VALIDATION_ERROR")
    assert_error(httpx.get(f"{base}/blocks/1/txs", params={"limit": 100000}), 422, "VALIDATION_ERROR")
    assert_error(httpx.get(f"{base}/txs/0OIl"), 400, "INVALID_PARAMETER")
    assert_error(httpx.get(f"{base}/accounts/{account}/entry", params={"key": "absent"}), 404, "NOT_FOUND")
    assert_error(httpx.delete(f"{base}/txs"), 405, "METHOD_NOT_ALLOWED")
    assert_error(httpx.post(f"{base}/txs", content=b"x" * (64 * 1024 + 1)), 413, "REQUEST_TOO_LARGE")
    assert_error(httpx.get(f"{node.url}/api/v1/admin/mempool"), 401, "UNAUTHENTICATED")
    assert_error(httpx.get(f"{node.url}/api/v1/admin/mempool", headers={"Authorization": "Bearer wrong"}), 401, "UNAUTHENTICATED")
    stats = httpx.get(f"{node.url}/api/v1/admin/mempool", headers={"Authorization": "Bearer s3cret"})
    assert stats.status_code == 200 and ledger.ledger_hash in stats.json()


def test_chunked_oversized_body_is_413(node: SoloNode, ledger: LedgerClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"0" * 10_000

    response = httpx.post(f"{node.url}{ledger.base}/txs", content=chunks(), headers={"content-type": "application/json"})
    assert_error(response, 413, "REQUEST_TOO_LARGE")


def test_health_metrics_and_openapi(node: SoloNode, ledger: LedgerClient, account: str) -> None:
    health = httpx.get(f"{node.url}/health").json()
    assert health["status"] == "ok" and health["ledgers"][ledger.ledger_hash] >= 1
    metrics = httpx.get(f"{node.url}/metrics").text
    for name in ("jadechain_height", "jadechain_mempool_size", "jadechain_transactions_committed_total",
                 "jadechain_commit_latency_seconds_bucket", "jadechain_verify_queue",
                 "jadechain_tx_latency_seconds_bucket"):
        assert name in metrics
    spec = httpx.get(f"{node.url}/openapi.json").json()
    assert "/api/v1/ledgers/{ledger}/txs" in spec["paths"]
    assert "/api/v1/ledgers/{ledger}/stream" in spec["paths"]
    assert httpx.get(f"{node.url}/docs").status_code == 200


def test_rate_limit_and_proof_pending_on_a_slow_node(tmp_path) -> None:
    dev = create_dev_solo(str(tmp_path))
    settings = GatewaySettings(post_rate=0.5, post_burst=3)
    with SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], settings=settings, idle_block_ms=1500) as slow:
        with JadechainClient([slow.url], retry_timeout=0.01) as sdk:
            ledger = sdk.ledger()
            pair = generate_keypair(ED25519)
            registered = ledger.submit(ledger.builder().register_data_account(pair.public.encoded).sign(dev.key))
            assert registered.status == "SUCCESS"
            # Committed, but no later block certifies its roots yet (the seal comes after idle_block_ms).
            with pytest.raises(ApiError) as pending:
                ledger.tx_proof(registered.tx_hash, wait=0)
            assert (pending.value.code, pending.value.http_status) == ("PROOF_PENDING", 409)
            # With wait= the SDK waits for a certified header covering it, then the proof holds.
            bundle = ledger.tx_proof(registered.tx_hash, wait=60)
            assert bundle["header"]["certificate"] is not None
            assert LedgerClient.verify(bundle, ledger_hash=dev.ledger_hash).claim["tx_hash"] == registered.tx_hash
            url = f"{slow.url}{ledger.base}/txs"
            statuses = [httpx.post(url, json={"tx": "00"}).status_code for _ in range(4)]
            assert statuses[-1] == 429
            assert_error(httpx.post(url, json={"tx": "00"}), 429, "RATE_LIMITED")


def test_sdk_fails_over_from_a_dead_gateway(node: SoloNode, dev: DevSolo, account: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with JadechainClient([dead, node.url], retry_timeout=5) as sdk:
        ledger = sdk.ledger(dev.ledger_hash)
        result = ledger.submit(ledger.builder().kv_set(account, "failover", True).sign(dev.key))
        assert result.status == "SUCCESS"
        assert sdk.gateways[sdk._current] == node.url
    with JadechainClient([dead], retry_timeout=0.3, backoff=0.05) as lonely:
        with pytest.raises(ApiError) as unavailable:
            lonely.health()
        assert unavailable.value.code == "GATEWAYS_UNAVAILABLE"


def test_async_sdk_submits_reads_proves_and_follows(node: SoloNode, dev: DevSolo, account: str, trusted: ValidatorSet) -> None:
    async def scenario() -> tuple[TxResult, Entry, object, list[StreamMessage]]:
        async with AsyncJadechainClient([node.url], retry_timeout=5) as sdk:
            ledger = await sdk.ledger()
            result = await ledger.submit(ledger.builder().kv_set(account, "async", "yes").sign(dev.key))
            entry = await ledger.get_entry(account, "async")
            messages: list[StreamMessage] = []
            async for message in ledger.subscribe(from_height=result.height, kinds=("tx",)):
                messages.append(message)
                if message.data["tx_hash"] == result.tx_hash:
                    break
            await ledger.submit(ledger.builder().kv_set(account, "async-2", 1).sign(dev.key))
            for _ in range(100):
                try:
                    bundle = await ledger.entry_proof(account, "async")
                    break
                except ApiError:
                    await asyncio.sleep(0.02)
            report = ledger.verify(bundle, trusted)
            tx_bundle = await ledger.tx_proof(result.tx_hash, wait=30)  # waits for a certified header
            assert ledger.verify(tx_bundle, ledger_hash=dev.ledger_hash).claim["tx_hash"] == result.tx_hash
            return result, entry, report, messages

    result, entry, report, messages = asyncio.run(scenario())
    assert result.status == "SUCCESS" and entry.value == "yes" and entry.version == 0
    assert report.certified  # type: ignore[attr-defined]
    assert messages[-1].data["tx_hash"] == result.tx_hash and messages[-1].height == result.height


def test_events_by_topic_with_proofs_and_in_the_stream(ledger: LedgerClient, dev: DevSolo, trusted: ValidatorSet) -> None:
    pair = generate_keypair(ED25519)
    events_account = address_from_public_key(pair.public)
    assert ledger.submit(ledger.builder().register_event_account(pair.public.encoded).sign(dev.key)).status == "SUCCESS"
    published = [ledger.submit(ledger.builder().publish(events_account, "shipment", {"step": i}).sign(dev.key))
                 for i in range(3)]
    assert all(p.status == "SUCCESS" for p in published)
    events = ledger.get_events(events_account, "shipment", from_sequence=1)
    assert [e.sequence for e in events] == [1, 2]
    assert (events[0].content, events[0].content_type, events[0].topic) == ({"step": 1}, "JSON", "shipment")
    assert events[1].tx_hash == published[2].tx_hash
    topics = ledger.client.request("GET", f"{ledger.base}/accounts/{events_account}/topics")
    assert topics == [{"topic": "shipment", "latest_sequence": 2}]
    one = ledger.client.request("GET", f"{ledger.base}/accounts/{events_account}/events/2", params={"topic": "shipment"})
    assert one["tx_hash"] == published[2].tx_hash
    deadline = time.monotonic() + 10
    while True:
        try:
            bundle = ledger.event_proof(events_account, "shipment", 2)
            break
        except ApiError as error:
            assert error.code == "PROOF_PENDING" and time.monotonic() < deadline
            time.sleep(0.02)
    report = ledger.verify(bundle, trusted)
    assert report.kind == "event" and report.claim["content"] == {"type": "JSON", "value": {"step": 2}}
    streamed = []
    for message in ledger.subscribe(from_height=published[0].height, kinds=("event",), reconnect=False):
        streamed.append(message.data)
        if message.data["sequence"] == 2:
            break
    assert [(m["topic"], m["sequence"]) for m in streamed] == [("shipment", 0), ("shipment", 1), ("shipment", 2)]
    event_accounts = ledger.client.request("GET", f"{ledger.base}/event-accounts")
    assert events_account in [a["address"] for a in event_accounts["items"]]


COUNTER = '''
from jadechain import contract, callable, event

@contract
class Counter:
    @event
    def bumped(self, key: str, version: int): ...

    @callable
    def bump(self, key: str, value: str) -> int:
        me = self.ctx.address
        version = self.ctx.set(me, key, value, self.ctx.get_version(me, key))
        self.bumped(key=key, version=version)
        return version
'''


def test_contracts_deploy_invoke_and_source_through_the_gateway(ledger: LedgerClient, dev: DevSolo) -> None:
    pytest.importorskip("contracts")
    from contracts.vm import engine_identity

    info = ledger.client.request("GET", ledger.base)
    assert info["settings"]["contract_engine"] == engine_identity()  # a new dev ledger runs the WebAssembly engine
    pair = generate_keypair(ED25519)
    address = address_from_public_key(pair.public)
    deployed = ledger.submit(ledger.builder().deploy_contract(pair.public.encoded, COUNTER).sign(dev.key))
    assert deployed.status == "SUCCESS"
    invoked = ledger.submit(ledger.builder().invoke(address, "bump", "k1", "v0").sign(dev.key))
    assert invoked.status == "SUCCESS" and invoked.gas_used and invoked.gas_used > 0
    record = ledger.client.request("GET", f"{ledger.base}/contracts/{address}")
    assert record["source"] == COUNTER and record["version"] == 1 and record["state"] == "NORMAL"
    listed = ledger.client.request("GET", f"{ledger.base}/contracts")
    assert address in [a["address"] for a in listed["items"]]
    assert ledger.get_entry(address, "k1").value == "v0"
    tx = ledger.get_tx(invoked.tx_hash)
    assert tx.operations[0]["type"] == "InvokeContract"
    assert [e.topic for e in tx.events] == ["bumped"]
