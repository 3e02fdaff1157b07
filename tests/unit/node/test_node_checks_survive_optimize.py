"""Checks on input are explicit code, never ``assert``: ``python -O`` strips asserts, and the checks must stay.

The first test keeps ``assert`` statements out of the code a validator runs (ledger, consensus, node); the
second runs the checks that replaced them in a ``python -O`` child and expects the stable errors.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("ledger", "consensus", "node")


def test_no_assert_statement_in_the_validators_code() -> None:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Assert):
                    found.append(f"{relative}:{node.lineno}")
    assert not found, "use an explicit check with a stable error (asserts vanish under -O): " + ", ".join(found)


CHECKS_UNDER_OPTIMIZE = r'''
import asyncio, sys, tempfile
from pathlib import Path

assert False, "this child must run with -O"  # stripped under -O; fails the test otherwise

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from consensus.errors import InvalidMessage
from consensus.network import call_unary
from ledger.errors import ConfigError
from node.config import NodeConfig, NodeSection
from node.tls import create_consortium_ca, issue_certificate

outcomes = []

# A CA key of the wrong kind (an operator's file): a clear ConfigError, not a certificate signed by luck.
with tempfile.TemporaryDirectory() as directory:
    create_consortium_ca(directory, "net")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    Path(directory, "ca.key").write_bytes(rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    try:
        issue_certificate(directory, "node0", None)
        outcomes.append("tls: no error")
    except ConfigError as error:
        outcomes.append(f"tls: {error.code}")

# A config object built around the validator (model_construct): no password source is a ConfigError.
config = NodeConfig.model_construct(node=NodeSection.model_construct(password_file=None, password_env=None))
try:
    config.read_password()
    outcomes.append("password: no error")
except ConfigError as error:
    outcomes.append(f"password: {error.code}")

# A peer's gRPC answer that is not bytes: InvalidMessage, not a value passed on.
class Channel:
    def unary_unary(self, method, request_serializer, response_deserializer):
        async def call(request, timeout):
            return "not bytes"
        return call

try:
    asyncio.run(call_unary(Channel(), "/jadechain.Consensus/Fetch", b"", 1.0))
    outcomes.append("peer answer: no error")
except InvalidMessage as error:
    outcomes.append(f"peer answer: {error.code}")

print("\n".join(outcomes))
'''


def test_the_checks_that_replaced_asserts_hold_under_python_optimize() -> None:
    result = subprocess.run([sys.executable, "-O", "-c", CHECKS_UNDER_OPTIMIZE], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[:3] == [
        "tls: CONFIG_ERROR", "password: CONFIG_ERROR", "peer answer: INVALID_CONSENSUS_MESSAGE"], result.stdout


MALFORMED_PEER_MESSAGES = r'''
import msgpack
from types import SimpleNamespace
from node.replica import Replica

counted = []
replica = SimpleNamespace(_count=lambda name, amount=1: counted.append(name))
# well-formed msgpack, wrong field types: before the explicit checks these passed under -O
Replica._on_attestation(replica, b"peer", msgpack.packb(["1", b"h" * 32, 0, b"s"], use_bin_type=True))
Replica._on_attestation(replica, b"peer", msgpack.packb([1, 7, 0, b"s"], use_bin_type=True))
Replica._on_epoch_signature(replica, b"peer", msgpack.packb([1, [b"signature"]], use_bin_type=True))
print(counted)
'''


def test_a_replica_drops_malformed_peer_messages_under_python_optimize() -> None:
    """Attestations and epoch signatures with wrong field types are counted as invalid and dropped, never
    reach the comparisons (which would raise outside the handler's guard)."""
    result = subprocess.run([sys.executable, "-O", "-c", MALFORMED_PEER_MESSAGES], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str(["invalid_messages"] * 3)
