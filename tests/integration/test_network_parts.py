"""The networked node's parts, each on its own: config, durable consensus store, payloads,
the replica's mempool, and the gRPC transport's ingress checks (real sockets on loopback)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgpack
import pytest

from consensus.network import NetworkServer, PeerSender, open_envelope, seal_envelope
from consensus.persistent_store import LevelDBConsensusStore
from consensus.simulation import NetworkConfig, Simulator
from ledger.crypto import ED25519, SM2, generate_keypair, sign
from ledger.errors import ConfigError
from node.config import load_node_config, parse_node_config
from node.replica_parts import (
    KIND_EMPTY,
    KIND_HEARTBEAT,
    KIND_SEAL,
    KIND_TXS,
    ChainExecution,
    decode_payload,
    encode_payload,
)
from tests.support.waiting import wait_until_async

PEER = generate_keypair(ED25519)

CONFIG = f"""
[node]
name = "node0"
data_dir = "/data/node0"
key_file = "/keys/node0.json"
password_file = "/keys/PASSWORD"
[network]
grpc_host = "127.0.0.1"
grpc_port = 7100
[gateway]
host = "127.0.0.1"
port = 8100
[consensus]
round_timeout_ms = 500
[[ledgers]]
hash = "j5abc"
[[peers]]
name = "node1"
public_key = "{PEER.public.base58}"
address = "127.0.0.1:7101"
"""


# --- config -----------------------------------------------------------------------------

def test_config_parses_the_agreed_format(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(CONFIG)
    config = load_node_config(path)
    assert config.node.name == "node0" and config.network.grpc_port == 7100
    assert config.consensus.round_timeout_ms == 500 and config.consensus.max_block_txs == 2000
    assert config.peers[0].public_key_bytes == PEER.public.encoded
    assert [ledger.hash for ledger in config.ledgers] == ["j5abc"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace('grpc_port = 7100', 'grpc_port = "x"'), "network.grpc_port"),
        (lambda t: t.replace('password_file = "/keys/PASSWORD"\n', ""), "password_file or password_env"),
        (lambda t: t.replace(PEER.public.base58, "not-a-key"), "peers.0.public_key"),
        (lambda t: t.replace("127.0.0.1:7101", "nowhere"), "peers.0.address"),
        (lambda t: t.replace("[[ledgers]]\nhash = \"j5abc\"\n", ""), "ledgers"),
        (lambda t: t.replace("round_timeout_ms = 500", "round_timeout_ms = 500\nbogus = 1"), "consensus.bogus"),
        (lambda t: t + "[[", "not valid TOML"),
    ],
)
def test_config_errors_name_the_field(change, message) -> None:
    with pytest.raises(ConfigError) as error:
        parse_node_config(change(CONFIG), "node.toml")
    assert error.value.code == "CONFIG_ERROR"
    assert message in error.value.message and "node.toml" in error.value.message


def test_config_password_from_the_environment(monkeypatch) -> None:
    config = parse_node_config(CONFIG.replace('password_file = "/keys/PASSWORD"', 'password_env = "NODE_PW"'))
    with pytest.raises(ConfigError):
        config.read_password()
    monkeypatch.setenv("NODE_PW", "secret")
    assert config.read_password() == "secret"


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_node_config(tmp_path / "absent.toml")


# --- the durable consensus store --------------------------------------------------------------

def test_leveldb_store_survives_restarts_inside_a_simulated_cluster(tmp_path: Path) -> None:
    """r1 keeps its block tree in LevelDB; it is crashed and reopened from disk three times."""
    sim = Simulator(seed=5, network=NetworkConfig(max_delay_ms=20, drop_rate=0.02))
    victim = sim.instances["r1"]
    path = str(tmp_path / "r1")
    victim.store = LevelDBConsensusStore(path)  # type: ignore[assignment]
    sim.crash("r1")
    sim.restart("r1")
    reopened: list[LevelDBConsensusStore] = [victim.store]  # type: ignore[list-item]

    def bounce(simulator: Simulator) -> None:
        simulator.crash("r1")
        reopened[-1].close()
        reopened.append(LevelDBConsensusStore(path))
        simulator.instances["r1"].store = reopened[-1]  # type: ignore[assignment]
        simulator.restart("r1")

    result = sim.run(until_commits=40, schedule=[(700, bounce), (1600, bounce), (2500, bounce)])
    assert result.violations == []
    assert result.min_honest_commits >= 40
    store = reopened[-1]
    # The commit log holds the committed chain in order, genesis first.
    logged = [block.id for _, block in store.iterate_log()]
    chain = result.chains["r1"]
    assert len(chain) >= 40 and len(set(logged)) == len(logged)
    assert [block_id for block_id in logged if block_id in set(chain)] == chain
    assert [b.id for _, b in store.iterate_log_reverse()] == list(reversed(logged))
    recovery = store.recover()
    assert recovery is not None and recovery.root.id == logged[-1]
    assert store.commit_certificate(recovery.root.id) is not None
    store.close()


# --- payloads and execution records ------------------------------------------------------------

def test_payload_shapes_round_trip_and_garbage_is_refused() -> None:
    assert decode_payload(b"").kind == KIND_EMPTY
    assert decode_payload(encode_payload(5, None)).kind == KIND_HEARTBEAT
    assert decode_payload(encode_payload(5, [])).kind == KIND_SEAL
    decoded = decode_payload(encode_payload(7, [b"a", b"b"]))
    assert decoded.kind == KIND_TXS and decoded.time_ms == 7 and decoded.txs == (b"a", b"b")
    for garbage in (b"\xc1", msgpack.packb([1]), msgpack.packb(["x", []]), msgpack.packb([1, [1, 2]]),
                    msgpack.packb([-1, []])):
        with pytest.raises(ValueError):
            decode_payload(garbage)
    with pytest.raises(ValueError):
        decode_payload(encode_payload(1, [b"x"] * 3), max_txs=2)


def test_execution_records_track_ledger_heights_and_seals(tmp_path: Path) -> None:
    store = LevelDBConsensusStore(str(tmp_path / "s"))
    genesis = b"G" * 32
    execution = ChainExecution(store, genesis, b"ledger")  # type: ignore[arg-type]
    chain = [(b"1" * 32, encode_payload(10, [b"tx"])), (b"2" * 32, encode_payload(11, [])),
             (b"3" * 32, encode_payload(12, None)), (b"4" * 32, b"")]
    parent = genesis
    for block_id, payload in chain:
        execution.execute(block_id, parent, payload)  # type: ignore[arg-type]
        parent = block_id
    records = [execution.record(block_id) for block_id, _ in chain]  # type: ignore[arg-type]
    assert [r.height for r in records] == [1, 2, 2, 2]
    assert [r.unsealed for r in records] == [True, False, False, False]
    assert [r.kind for r in records] == [KIND_TXS, KIND_SEAL, KIND_HEARTBEAT, KIND_EMPTY]
    # The digest chains: same payloads on another parent give another root.
    other = ChainExecution(store, b"H" * 32, b"another ledger")  # type: ignore[arg-type]
    assert other.execute(b"9" * 32, b"H" * 32, chain[0][1]) != records[0].root  # type: ignore[arg-type]
    # Records survive on disk.
    reopened = ChainExecution(store, genesis, b"ledger")  # type: ignore[arg-type]
    assert reopened.record(b"2" * 32) == records[1]  # type: ignore[arg-type]
    store.close()


# --- gRPC transport: ingress checks ----------------------------------------------------------

def test_envelopes_from_unknown_senders_or_with_bad_signatures_are_dropped() -> None:
    known = generate_keypair(SM2)
    stranger = generate_keypair(ED25519)
    keys = {known.public.encoded: known.public}
    good = seal_envelope(known.public.encoded, lambda m: sign(known.private, m), [b"m1", b"m2"])
    assert open_envelope(good, keys) == (known.public.encoded, [b"m1", b"m2"])
    forged = seal_envelope(known.public.encoded, lambda m: sign(stranger.private, m), [b"m1"])
    assert open_envelope(forged, keys) == "bad envelope signature"
    unknown = seal_envelope(stranger.public.encoded, lambda m: sign(stranger.private, m), [b"m1"])
    assert open_envelope(unknown, keys) == "unknown sender"
    assert open_envelope(b"\x93garbage", keys) == "malformed envelope"


def test_grpc_transport_delivers_counts_drops_and_survives_a_dead_peer() -> None:
    async def scenario() -> None:
        sender_key = generate_keypair(ED25519)
        intruder = generate_keypair(ED25519)
        received: list[tuple[bytes, list[bytes]]] = []

        async def unused(request: bytes) -> bytes:
            return request

        server = NetworkServer(
            "127.0.0.1", 0, keys={sender_key.public.encoded: sender_key.public},
            on_messages=lambda sender, messages: received.append((sender, messages)),
            get_ledger_blocks=unused, submit=unused,
        )
        async with server:
            address = f"127.0.0.1:{server.port}"
            dead = PeerSender("dead", "127.0.0.1:1", sender_key.public.encoded,
                              lambda m: sign(sender_key.private, m), call_timeout=0.5)
            live = PeerSender("live", address, sender_key.public.encoded, lambda m: sign(sender_key.private, m))
            evil = PeerSender("evil", address, intruder.public.encoded, lambda m: sign(intruder.private, m))
            for peer in (dead, live, evil):
                peer.start()
            try:
                for index in range(5):
                    dead.send(b"lost %d" % index)
                    live.send(b"hello %d" % index)
                evil.send(b"spoofed")
                await wait_until_async(
                    lambda: len([m for _, batch in received for m in batch]) >= 5
                    and server.counters.get("invalid_envelopes", 0) >= 1, 30, "five deliveries and the spoofed envelope")
                delivered = [m for _, batch in received for m in batch]
                assert delivered == [b"hello %d" % i for i in range(5)]
                assert all(sender == sender_key.public.encoded for sender, _ in received)
                assert server.counters["invalid_envelopes"] == 1
                assert live.connected and not dead.connected
            finally:
                for peer in (dead, live, evil):
                    await peer.stop()

    asyncio.run(scenario())
