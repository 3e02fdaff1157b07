"""Consortium governance on a real 4-node network (127.0.0.1), through the SDK and the CLI.

Three organisations found the ledger: A runs node0 and node1, B runs node2, C runs node3;
each node's key is its organisation's admin. The policy is the default: a majority of the
three organisations. In order:

(a) B alone is refused, each with its stable code: freezing or revoking A's contract and
    A's user (NOT_OWNER), changing a role or a ledger setting, removing A's validator
    (PROPOSAL_REQUIRED);
(b) with the policy's approvals the same actions run: B proposes on the CLI (``jadechain tx
    propose`` of an exported ``tx freeze``), C votes (``jadechain tx vote``), and the executor
    freezes A's contract in that block on every node; a role and a setting change carry B's
    and C's signatures in one transaction; ``jadechain query proposals`` shows the outcome, and
    a proof of the proposal verifies offline with only the ledger hash pinned;
(c) a vote after the decision is refused (PROPOSAL_DECIDED), a proposal expires (PROPOSAL_EXPIRED);
(d) B and C remove A's second validator by proposal; the remaining three keep committing and
    every node ends with the same blocks and roots.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from ledger import codec
from ledger.crypto import address_from_public_key, from_base58 as from_b58, generate_keypair, to_base58
from ledger.genesis import assemble_genesis, genesis_ledger_hash, parse_genesis_config, sign_genesis
from ledger.proofs import verify_bundle
from ledger.store.directory import create_ledger
from ledger.types import (
    AccountState,
    ConfigureRole,
    ParticipantState,
    TransactionPermission,
    TypedValue,
    UpdateAccountState,
    UpdateLedgerSettings,
    UpdateParticipantState,
)
from tests.support.network_fault_kit import assert_consistent, wait_until
from jadechain.devnet.net import NetworkLayout, create_network, net_down, start_node, wait_for_height, write_node_config
from jadechain.sdk import AsyncJadechainClient, JadechainClient
from node.solo import load_key

ROOT = Path(__file__).resolve().parents[2]
ORGANIZATIONS = ("A", "A", "B", "C")

NOTE = '''\
from jadechain import contract, callable

@contract
class Note:
    @callable
    def hello(self) -> str:
        return "hi"
'''


def refound_as_consortium(layout: NetworkLayout) -> None:
    """Replace the dev genesis by one whose founders belong to organisations A, A, B, C (same keys)."""
    password = Path(layout.password_file).read_text().strip()
    pairs = [load_key(node.key_file, password) for node in layout.nodes]
    participants = "\n".join(
        f'[[participants]]\nname = "{node.name}"\norganization = "{org}"\npublic_key = "{pair.public.base58}"\n'
        for node, org, pair in zip(layout.nodes, ORGANIZATIONS, pairs)
    )
    text = (
        f'[ledger]\nname = "consortium"\nhash_algorithm = "SHA256"\n'
        f'signature_algorithms = ["SM2", "ED25519"]\ncreated_time = {int(time.time() * 1000)}\n\n{participants}'
    )
    config = parse_genesis_config(text)
    block = assemble_genesis(config, [sign_genesis(config, p.private, p.public) for p in pairs])
    layout.ledger_hash = to_base58(genesis_ledger_hash(block, config))
    for node in layout.nodes:
        shutil.rmtree(node.data_dir)
        create_ledger(node.data_dir, block).close()
    (Path(layout.directory) / "ledger.toml").write_text(text)
    genesis = json.loads((Path(layout.directory) / "genesis.json").read_text())
    genesis.update({"ledger_hash": layout.ledger_hash, "block": codec.encode(block).hex()})
    (Path(layout.directory) / "genesis.json").write_text(json.dumps(genesis, indent=2))
    for node in layout.nodes:
        write_node_config(layout, node.name)
    layout.save()


class Consortium:
    def __init__(self, layout: NetworkLayout) -> None:
        self.layout = layout
        password = Path(layout.password_file).read_text().strip()
        self.password = password
        self.a, self.a2, self.b, self.c = (load_key(node.key_file, password) for node in layout.nodes)
        self.client = JadechainClient(layout.urls, retry_timeout=60, timeout=30)
        self.ledger = self.client.ledger(layout.ledger_hash)

    def submit(self, build, *signers) -> Any:
        result = self.ledger.submit(build(self.ledger.builder()).sign(*signers), wait=True, timeout=60)
        assert result.committed, result
        return result

    def status(self, build, *signers) -> str:
        return str(self.submit(build, *signers).status)

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ, "PYTHONPATH": str(ROOT), "JADECHAIN_GATEWAY": ",".join(self.layout.urls),
            "JADECHAIN_LEDGER": self.layout.ledger_hash, "JADECHAIN_KEY_PASSWORD": self.password,
            "JADECHAIN_KEY_DIR": self.layout.key_dir, "COLUMNS": "200",
        }
        result = subprocess.run([sys.executable, "-m", "jadechain.cli.tx", *args], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=150, stdin=subprocess.DEVNULL)
        assert "Traceback" not in result.stderr, result.stderr
        if ok:
            assert result.returncode == 0, f"{args}: {result.stdout} {result.stderr}"
        return result


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    directory = tmp_path_factory.mktemp("governance") / "net"
    layout = create_network(directory, 4, "classic", consensus={"round_timeout_ms": 1000, "max_round_timeout_ms": 4000})
    try:
        refound_as_consortium(layout)
        for node in layout.nodes:
            start_node(layout, node.name)
        wait_for_height(layout, 1, 90)
        members = Consortium(layout)
        yield members
        members.client.close()
    finally:
        net_down(directory, timeout=20)


@pytest.fixture(scope="module")
def a_objects(consortium: Consortium) -> dict[str, Any]:
    """A registers a user and deploys a contract, alone."""
    user = generate_keypair(consortium.a.public.algorithm)
    contract = generate_keypair(consortium.a.public.algorithm)
    result = consortium.submit(
        lambda b: b.register_user(user.public.encoded, "a-clerk").deploy_contract(contract.public.encoded, NOTE, 1),
        consortium.a,
    )
    assert result.status == "SUCCESS", result
    return {"user": str(address_from_public_key(user.public)), "contract": str(address_from_public_key(contract.public))}


def test_a_b_alone_is_refused_with_its_code(consortium: Consortium, a_objects: dict[str, Any]) -> None:
    b = consortium.b
    assert consortium.ledger.get_account(a_objects["contract"]).organization == "A"
    for address in (a_objects["contract"], a_objects["user"]):
        assert consortium.status(lambda t: t.set_account_state(address, "FROZEN"), b) == "NOT_OWNER"
        assert consortium.status(lambda t: t.set_account_state(address, "REVOKED"), b) == "NOT_OWNER"
    role = ConfigureRole("B_ONLY", (), (), (TransactionPermission.DIRECT_OPERATION,), ())
    assert consortium.status(lambda t: t.add(role), b) == "PROPOSAL_REQUIRED"
    setting = UpdateLedgerSettings("max_ops_per_tx", TypedValue.int64(32))
    assert consortium.status(lambda t: t.add(setting), b) == "PROPOSAL_REQUIRED"
    a_node = str(address_from_public_key(consortium.a2.public))
    remove = UpdateParticipantState(a_node, ParticipantState.DEACTIVATED)
    assert consortium.status(lambda t: t.add(remove), b) == "PROPOSAL_REQUIRED"
    assert consortium.ledger.get_account(a_objects["contract"]).state == "NORMAL"
    assert len(consortium.ledger.validators().public_keys) == 4


def test_b_with_approvals_succeeds_cli_proposal_and_multi_signature(
    consortium: Consortium, a_objects: dict[str, Any], tmp_path: Path,
) -> None:
    exported = tmp_path / "freeze.json"
    consortium.cli("tx", "freeze", a_objects["contract"], "--export", str(exported))
    proposed = json.loads(consortium.cli("tx", "propose", str(exported), "--reason", "A's contract leaks data",
                                         "--key", "node2", "--json").stdout)
    assert proposed["status"] == "SUCCESS"
    proposal_id = proposed["tx_hash"]
    assert consortium.ledger.proposal(proposal_id).status == "OPEN"
    voted = json.loads(consortium.cli("tx", "vote", proposal_id, "--key", "node3", "--json").stdout)
    assert voted["status"] == "SUCCESS"
    record = consortium.ledger.proposal(proposal_id)
    assert record.status == "EXECUTED" and record.decided_height == voted["height"]
    assert sorted(record.votes) == ["B", "C"] and all(vote.approve for vote in record.votes.values())
    for url in consortium.layout.urls:  # executed by every node's executor, not by a control plane
        with JadechainClient([url], retry_timeout=30) as client:
            ledger = client.ledger(consortium.layout.ledger_hash)
            wait_until(lambda: ledger.get_account(a_objects["contract"]).state == "FROZEN", 60, f"{url} to freeze")
    listed = json.loads(consortium.cli("query", "proposals", "--status", "executed", "--json").stdout)
    assert [p["id"] for p in listed] == [record.id]
    proof_file = tmp_path / "proposal.json"
    consortium.cli("query", "proposal", proposal_id, "--proof", str(proof_file), "--proof-wait", "60")
    bundle = json.loads(proof_file.read_text())
    report = verify_bundle(bundle, ledger_hash=consortium.layout.ledger_hash)
    assert report.certified and bundle["claim"]["value"]["value"]["status"] == "EXECUTED"

    # The gateway answers bad and unknown ids with stable codes.
    base = f"{consortium.layout.urls[0]}/api/v1/ledgers/{consortium.layout.ledger_hash}/proposals"
    bad = httpx.get(f"{base}/not-an-id!", timeout=30)
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_OPERATION"
    unknown = httpx.get(f"{base}/{'00' * 34}", timeout=30)
    assert unknown.status_code == 404 and unknown.json()["code"] == "NOT_FOUND"
    assert httpx.get(base, params={"status": "bogus"}, timeout=30).status_code in (400, 422)

    # A vote after the decision is refused with its code.
    late = consortium.cli("tx", "vote", proposal_id, "--reject", "--key", "node0", ok=False)
    assert late.returncode == 1 and late.stderr.startswith("PROPOSAL_DECIDED"), late.stderr

    # The same ledger-wide acts B was refused, with C's signature beside B's (a majority of three).
    role = ConfigureRole("B_ONLY", (), (), (TransactionPermission.DIRECT_OPERATION,), ())
    assert consortium.status(lambda t: t.add(role), consortium.b, consortium.c) == "SUCCESS"
    setting = UpdateLedgerSettings("max_ops_per_tx", TypedValue.int64(32))
    assert consortium.status(lambda t: t.add(setting), consortium.b, consortium.c) == "SUCCESS"
    assert consortium.ledger.info().settings.max_ops_per_tx == 32
    freeze_user = UpdateAccountState(a_objects["user"], AccountState.FROZEN)
    assert consortium.status(lambda t: t.add(freeze_user), consortium.b, consortium.c) == "SUCCESS"


def test_c_a_proposal_expires(consortium: Consortium) -> None:
    expiry = int(time.time() * 1000) + 3000
    role = ConfigureRole("NEVER", (), (), (TransactionPermission.DIRECT_OPERATION,), ())
    proposed = consortium.submit(lambda t: t.propose([role], "short-lived", expiry), consortium.b)
    assert proposed.status == "SUCCESS"

    def past_expiry() -> bool:
        # Blocks come with transactions: send a harmless one so that block time moves on.
        consortium.submit(lambda t: t.register_data_account(generate_keypair(consortium.b.public.algorithm).public.encoded),
                          consortium.b)
        return consortium.ledger.get_block("latest").time > expiry

    wait_until(past_expiry, 90, "a block after the expiry")
    assert consortium.status(lambda t: t.vote(from_b58(proposed.tx_hash)),
                             consortium.c) == "PROPOSAL_EXPIRED"
    assert consortium.ledger.proposal(proposed.tx_hash).status == "EXPIRED"

    async def expired_seen_by_the_async_client() -> list[str]:
        async with AsyncJadechainClient(consortium.layout.urls) as client:
            ledger = await client.ledger(consortium.layout.ledger_hash)
            return [p.id for p in await ledger.proposals("expired")]

    assert asyncio.run(expired_seen_by_the_async_client()) == [from_b58(proposed.tx_hash).hex()]
    assert "NEVER" not in json.dumps(consortium.cli("query", "roles", "--json").stdout)


def test_d_b_and_c_remove_a_validator_by_proposal(consortium: Consortium) -> None:
    a_node = str(address_from_public_key(consortium.a2.public))
    remove = UpdateParticipantState(a_node, ParticipantState.DEACTIVATED)
    proposed = consortium.submit(lambda t: t.propose([remove], "node1 is unreliable"), consortium.b)
    assert proposed.status == "SUCCESS"
    assert consortium.status(lambda t: t.vote(from_b58(proposed.tx_hash)), consortium.c) == "SUCCESS"
    assert consortium.ledger.proposal(proposed.tx_hash).status == "EXECUTED"
    wait_until(lambda: len(consortium.ledger.validators().public_keys) == 3, 60, "the validator set to shrink")
    # The remaining three keep committing.
    for _ in range(3):
        assert consortium.status(
            lambda t: t.register_data_account(generate_keypair(consortium.c.public.algorithm).public.encoded),
            consortium.c) == "SUCCESS"
    assert_consistent(consortium.layout, {}, timeout=90)
