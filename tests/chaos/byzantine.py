"""A Byzantine validator build, for tests only: the real node with patched behaviour.

    python tests/chaos/byzantine.py --mode equivocate,replay --config node3.toml

runs :func:`node.server.main` after patching :class:`node.replica.Replica` and
:class:`node.server.NodeTransport` in this process only (nothing in the node's code knows about
it). Modes, combinable with commas:

``equivocate``        every proposal it leads is sent to half its peers as is and to the other half
                      as a *conflicting* block for the same round (another payload), both validly
                      signed with its consensus key
``invalid_block``     its proposals carry a payload that does not decode (validly signed)
``wrong_key``         its proposals and votes are signed with a key that is not its own (inside a
                      valid envelope, so the consensus layer must catch them)
``wrong_envelope_key`` its network envelopes are signed with a key that is not its own
``replay``            every send is followed by re-sends of old consensus messages (old votes,
                      old proposals, old timeouts) it sent before
``corrupt_snapshot``  every state-snapshot chunk it serves has one byte changed; it makes no offer of
                      its own (an offer is a certified manifest the joiner checks anyway), so it
                      exports only the height a joiner asks chunks of, and serves those corrupted
``flood``             every 50 ms it gossips 300 invalid transactions (garbage bytes,
                      transactions with a broken signature, and transactions in a registered
                      user's name with a garbage signature) to every peer, and attests each chunk
                      (``node.gossip``'s MSG_TX_ATTEST) as if it had verified it

:func:`start_byzantine_node` starts it in place of a layout's node (same data, keys, ports).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
MODES = ("equivocate", "invalid_block", "wrong_key", "wrong_envelope_key", "replay", "flood", "corrupt_snapshot")

__all__ = ["MODES", "install", "start_byzantine_node"]


def install(modes: set[str]) -> None:
    """Patch the node classes of this process for ``modes``."""
    import msgpack

    from consensus.round_manager import Broadcast, SendTo
    from consensus.types import (
        Block,
        ProposalMsg,
        TimeoutMsg,
        Vote,
        VoteMsg,
        proposal_signing_bytes,
    )
    from ledger.crypto import generate_keypair, sign
    from node import replica as replica_module
    from node import server as server_module
    from node.replica_parts import decode_payload, encode_payload

    unknown = modes - set(MODES)
    if unknown:
        raise SystemExit(f"unknown Byzantine modes {sorted(unknown)}; choose from {MODES}")
    Replica = replica_module.Replica
    NodeTransport = server_module.NodeTransport
    rng = random.Random(0xB12)

    if "corrupt_snapshot" in modes:
        from node import snapshot_sync

        honest_chunk = snapshot_sync.SnapshotServer.chunk

        def corrupt_chunk(self: Any, height: int, index: int) -> bytes:
            raw = honest_chunk(self, height, index)
            if not raw:
                return raw
            return raw[:-1] + bytes([raw[-1] ^ 0x01])
        snapshot_sync.SnapshotServer.chunk = corrupt_chunk  # type: ignore[method-assign]
        snapshot_sync.SnapshotServer.offer = lambda self: b""  # type: ignore[method-assign]

    if "wrong_envelope_key" in modes:
        impostor = generate_keypair()

        def sign_envelope(self: Any, message: bytes) -> bytes:
            other = generate_keypair(self.keypair.public.algorithm) if self.keypair.public.algorithm != impostor.public.algorithm else impostor
            return sign(other.private, message)
        NodeTransport._sign_envelope = sign_envelope  # type: ignore[method-assign]

    if "replay" in modes:
        original_send, original_broadcast = NodeTransport.send, NodeTransport.broadcast
        sent: deque[tuple[bytes | None, bytes]] = deque(maxlen=2000)

        def replay(self: Any) -> None:
            if len(sent) > 20:
                for author, message in rng.sample(list(sent)[:-10], 3):
                    if author is None:
                        original_broadcast(self, message)
                    else:
                        original_send(self, author, message)

        def send(self: Any, author: bytes, message: bytes) -> None:
            original_send(self, author, message)
            sent.append((author, message))
            replay(self)

        def broadcast(self: Any, message: bytes) -> None:
            original_broadcast(self, message)
            sent.append((None, message))
            replay(self)
        NodeTransport.send = send  # type: ignore[method-assign]
        NodeTransport.broadcast = broadcast  # type: ignore[method-assign]

    original_perform = Replica._perform
    wrong = generate_keypair()

    def resign_wrong(self: Any, msg: Any) -> Any:
        other = wrong if wrong.public.algorithm == self.keypair.public.algorithm else generate_keypair(self.keypair.public.algorithm)
        if isinstance(msg, ProposalMsg):
            return ProposalMsg(msg.block, msg.sync_info, sign(other.private, proposal_signing_bytes(msg.block.id)))
        if isinstance(msg, VoteMsg):
            vote = msg.vote
            bad = sign(other.private, b"not the vote")
            return VoteMsg(Vote(vote.data, vote.author, bad), msg.sync_info)
        if isinstance(msg, TimeoutMsg):
            return msg
        return msg

    def conflicting(self: Any, msg: Any, payload: bytes) -> Any:
        block = msg.block
        other = Block(block.epoch, block.round, block.parent_qc, payload, block.author, block.parent_execution_root)
        return ProposalMsg(other, msg.sync_info, sign(self.keypair.private, proposal_signing_bytes(other.id)))

    def perform(self: Any, actions: Any) -> None:
        if "flood" in modes and not getattr(self, "_byzantine_flooding", False) and self._loop is not None:
            self._byzantine_flooding = True
            self._loop.call_later(0.05, flood, self)
        passed = []
        for action in actions:
            msg = getattr(action, "msg", None)
            if isinstance(action, Broadcast) and isinstance(msg, ProposalMsg) and bytes(msg.block.author) == self.author:
                if "equivocate" in modes:
                    peers = sorted(self.transport.peer_authors())
                    # Same round and parent, a valid payload with the same time: a true equivocation.
                    decoded = decode_payload(msg.block.payload)
                    twin = conflicting(self, msg, encode_payload(decoded.time_ms, list(decoded.txs[:-1])) if decoded.txs
                                       else encode_payload(decoded.time_ms + 1, None))
                    for index, author in enumerate(peers):
                        chosen = msg if index < len(peers) // 2 else twin
                        self.transport.send(author, self._consensus_message(chosen))
                    continue
                if "invalid_block" in modes:
                    bad = conflicting(self, msg, b"\xc1 not a payload " + os.urandom(8))
                    self.transport.broadcast(self._consensus_message(bad))
                    continue
            if "wrong_key" in modes and isinstance(action, (Broadcast, SendTo)) and isinstance(msg, (ProposalMsg, VoteMsg)):
                forged = resign_wrong(self, msg)
                if isinstance(action, Broadcast):
                    self.transport.broadcast(self._consensus_message(forged))
                elif bytes(action.author) != self.author:
                    self.transport.send(action.author, self._consensus_message(forged))
                else:
                    passed.append(action)
                continue
            passed.append(action)
        original_perform(self, passed)

    def flood(self: Any) -> None:
        if self._stopping:
            return
        from ledger.transactions import TransactionBuilder
        from ledger import codec
        raws: list[bytes] = []
        for _ in range(100):
            raws.append(os.urandom(rng.randrange(1, 200)))
        pair = generate_keypair(self.keypair.public.algorithm)
        for index in range(100):
            tx = TransactionBuilder(bytes(self.ledger_hash), time_ms=index).register_user(pair.public.encoded, "flood").sign(pair)
            raw = bytearray(codec.encode(tx))
            raw[-5] ^= 0xFF  # inside the last signature
            raws.append(bytes(raw))
        # Well-formed transactions in a registered user's name with garbage signatures: they pass
        # every ingress check but the signature itself, which only verification catches.
        from ledger.types import AccountKind, EndpointSignature
        users = self.ledger.list_accounts(AccountKind.USER, 0, 8)
        for index in range(100 if users else 0):
            victim = users[index % len(users)].public_key
            tx = TransactionBuilder(bytes(self.ledger_hash), time_ms=index).register_user(pair.public.encoded, "forged").sign(pair)
            forged = type(tx)(tx.content, (EndpointSignature(victim, bytes(tx.signatures[0].signature)),))
            raws.append(codec.encode(forged))
        body = msgpack.packb(raws, use_bin_type=True)
        self.transport.broadcast(replica_module.pack_message(self.ledger_hash, replica_module.MSG_TXS, body))
        # ...and vouch for the chunk as a designated verifier would (node.gossip): one voucher of
        # the f + 1 an honest node needs before it skips verifying.
        from node.gossip import MSG_TX_ATTEST, chunk_digest
        self.transport.broadcast(replica_module.pack_message(self.ledger_hash, MSG_TX_ATTEST, chunk_digest(body)))
        self._count("byzantine_flooded", len(raws))
        assert self._loop is not None
        self._loop.call_later(0.05, flood, self)

    Replica._perform = perform  # type: ignore[method-assign]


def start_byzantine_node(layout: Any, name: str, modes: set[str]) -> int:
    """Start ``name`` of a :class:`jadechain.devnet.net.NetworkLayout` as a Byzantine node; its pid."""
    from node.subprocesses import child_environment, python_module_command

    node = layout.node(name)
    with open(node.log, "ab") as log_file:
        process = subprocess.Popen(
            python_module_command("tests.chaos.byzantine", "--mode", ",".join(sorted(modes)), "--config", node.config),
            stdout=log_file, stderr=log_file, stdin=subprocess.DEVNULL, start_new_session=True,
            cwd=str(REPO_ROOT), env=child_environment(),
        )
    from jadechain.devnet import net
    net._children[process.pid] = process  # reaped by jadechain.devnet.net.stop_node / kill_node like its own children
    Path(node.pid_file).write_text(str(process.pid))
    return process.pid


def main() -> int:
    parser = argparse.ArgumentParser(description="Run a Byzantine Jadechain node (tests only).")
    parser.add_argument("--mode", required=True)
    parser.add_argument("--config", required=True)
    args, rest = parser.parse_known_args()
    install({m for m in args.mode.split(",") if m})
    from node.server import main as node_main
    return node_main(["--config", args.config, *rest])


if __name__ == "__main__":
    sys.exit(main())
