"""The SSE push stream: every committed transaction's result exactly once, across reconnects and a node restart."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest

from ledger.crypto import ED25519, address_from_public_key, generate_keypair
from jadechain.sdk import JadechainClient, LedgerClient, StreamMessage
from jadechain.devnet.solo import SoloNode, create_dev_solo
from tests.support.waiting import wait_until


def submit_writes(ledger: LedgerClient, key, account: str, prefix: str, count: int) -> list[str]:
    txs = [ledger.builder().kv_set(account, f"{prefix}/{i}", i).sign(key) for i in range(count)]
    results = ledger.submit_many(txs, wait=False)
    hashes = [r.tx_hash for r in results]  # type: ignore[union-attr]
    assert len(hashes) == count
    return hashes


def ids_in_order(messages: list[StreamMessage]) -> list[tuple[int, int]]:
    return [tuple(int(part) for part in m.id.split(":")) for m in messages]  # type: ignore[misc]


def test_stream_delivers_every_result_exactly_once_across_reconnect_and_restart(tmp_path) -> None:
    dev = create_dev_solo(str(tmp_path))
    node = SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], idle_block_ms=10).start()
    try:
        with JadechainClient([node.url], retry_timeout=20, backoff=0.05) as client:
            ledger = client.ledger()
            pair = generate_keypair(ED25519)
            ledger.submit(ledger.builder().register_data_account(pair.public.encoded).sign(dev.key))
            account = address_from_public_key(pair.public)
            start_height = ledger.info().height + 1

            # 1. A subscriber that reads a few messages, disconnects, and resumes from its last id.
            before = submit_writes(ledger, dev.key, account, "a", 30)
            assert ledger.wait_tx(before[-1]).committed
            first_part: list[StreamMessage] = []
            for message in ledger.subscribe(from_height=start_height, kinds=("tx",), reconnect=False):
                first_part.append(message)
                if len(first_part) == 7:
                    break
            rest: list[StreamMessage] = []
            for message in ledger.subscribe(last_event_id=first_part[-1].id, kinds=("tx",), reconnect=False):
                rest.append(message)
                if message.data["tx_hash"] == before[-1]:
                    break
            seen = [m.data["tx_hash"] for m in first_part + rest]
            assert sorted(seen) == sorted(before) and len(seen) == len(set(seen))

            # 2. A live subscriber that rides out a node restart with automatic resume.
            received: list[StreamMessage] = []
            expected: set[str] = set(before)
            done = threading.Event()

            def follow() -> None:
                with JadechainClient([node.url], retry_timeout=20, backoff=0.05) as own:
                    for message in own.ledger(dev.ledger_hash).subscribe(from_height=start_height):
                        received.append(message)
                        if done.is_set() and expected <= {m.data.get("tx_hash") for m in received if m.kind == "tx"}:
                            return

            follower = threading.Thread(target=follow, daemon=True)
            follower.start()
            live = submit_writes(ledger, dev.key, account, "b", 25)
            expected.update(live)
            wait_until(lambda: set(live) & {m.data.get("tx_hash") for m in list(received)}, 60,
                       "the subscriber to receive a live write before the restart", interval=0.05)
            node.stop()
            with pytest.raises(httpx.TransportError):
                httpx.get(node.url + "/health", timeout=1)
            node.start()  # same port, same data directory: a restart
            expected.update(submit_writes(ledger, dev.key, account, "c", 25))  # the SDK retries until it is back
            done.set()
            follower.join(30)
            assert not follower.is_alive(), "the subscriber did not receive every transaction"
    finally:
        node.stop()

    tx_hashes = [m.data["tx_hash"] for m in received if m.kind == "tx"]
    duplicates = [h for h, n in Counter(tx_hashes).items() if n > 1]
    assert not duplicates
    assert expected <= set(tx_hashes)
    assert all(m.data["status"] == "SUCCESS" for m in received if m.kind == "tx")
    order = ids_in_order(received)
    assert order == sorted(order) and len(order) == len(set(order))
    blocks = [m.height for m in received if m.kind == "block"]
    assert blocks == list(range(start_height, start_height + len(blocks)))  # no block skipped


def test_stream_from_current_height_follows_live_commits_only(tmp_path) -> None:
    dev = create_dev_solo(str(tmp_path))
    with SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], idle_block_ms=10) as node:
        with JadechainClient([node.url]) as client:
            ledger = client.ledger()
            height = ledger.info().height
            url = f"{node.url}{ledger.base}/stream"
            with httpx.stream("GET", url, params={"kinds": "block"}, timeout=10) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                pair = generate_keypair(ED25519)
                ledger.submit(ledger.builder().register_data_account(pair.public.encoded).sign(dev.key), wait=False)
                for line in response.iter_lines():
                    if line.startswith("id: "):
                        block_height, index = map(int, line[4:].split(":"))
                        assert block_height == height + 1 and index == 0
                        break
            bad = httpx.get(url, headers={"Last-Event-ID": "garbage"})
            assert bad.status_code == 400 and bad.json()["code"] == "INVALID_PARAMETER"
