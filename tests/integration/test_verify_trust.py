"""`jadechain verify` as an auditor runs it against forged bundles: only a pinned, certified proof passes.

Each forgery below was accepted (exit 0, or refused only for the wrong reason) before the verifier
required a trust anchor and a commit certificate on every header but genesis. The bundles come
from in-memory ledgers (the honest one, a fork of it, a ledger of the forger's own) so that the
forger's every move can be made explicitly; the verifier runs as a separate process, as a user
runs it, and is judged by its exit code and the check it names.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from ledger.certificate import (
    ValidatorSet,
    assemble_certificate,
    encode_commit_statement,
    sign_commit_statement,
)
from ledger.crypto import KeyPair, from_base58, sign, to_base58
from ledger.errors import ProofError, TrustAnchorRequired
from ledger.ledger import Ledger
from ledger.proofs import (
    build_consistency_bundle,
    build_entry_bundle,
    build_event_bundle,
    build_transaction_bundle,
    validators_to_json,
)
from ledger.store.memory import MemoryStore
from jadechain.sdk import LedgerClient
from tests.unit.ledger.ledger_testkit import Chain, make_chain, make_genesis, seeded_keypair

REPO = Path(__file__).resolve().parents[2]


def certify(chain: Chain, signers: list[KeyPair]) -> None:
    """Sign every uncertified header with ``signers`` (the honest quorum, or a forger's own keys)."""
    for height in range(1, chain.ledger.height + 1):
        if chain.ledger.get_certificate(height) is not None:
            continue
        header_hash = chain.ledger.hash_header(chain.ledger.get_header(height))
        signatures = [
            sign_commit_statement(lambda m, p=p: sign(p.private, m), p.public.encoded,
                                  chain.ledger.ledger_hash, height, header_hash, 0)
            for p in signers
        ]
        chain.ledger.put_certificate(
            assemble_certificate(chain.ledger.ledger_hash, height, header_hash, 0, signatures))


def write_history(chain: Chain, value: str) -> tuple[str, str]:
    """The same story on every ledger: an account, an event account, then ``k`` = value."""
    account = chain.new_data_account("acct")
    events = seeded_keypair("events")
    from ledger.crypto import address_from_public_key

    chain.commit(chain.tx(lambda b: b.register_event_account(events.public.encoded)))
    events_account = address_from_public_key(events.public)
    chain.commit(chain.tx(lambda b: b.kv_set(account, "k", value, -1).publish(events_account, "inspection", value)))
    chain.commit(chain.tx(lambda b: b.kv_set(account, "other", 1, -1)))
    chain.commit()
    chain.commit()
    return account, events_account


@dataclass
class World:
    honest: Chain
    fork: Chain
    """Same genesis (so the same ledger hash) with a forged history; certified so bundles can be
    built, and then the forger drops the certificate he cannot have."""
    fake: Chain
    """A ledger of the forger's own: his genesis, his four validators, his certificates."""
    account: str
    events_account: str
    ledger_hash: str
    tmp: Path

    def bundle(self, kind: str, chain: Chain | None = None) -> dict[str, Any]:
        chain = chain or self.honest
        if kind == "entry":
            made = build_entry_bundle(chain.ledger, self.account, "k")
        elif kind == "transaction":
            made = build_transaction_bundle(chain.ledger, chain.ledger.get_entry(self.account, "k").tx_hash)
        elif kind == "event":
            made = build_event_bundle(chain.ledger, self.events_account, "inspection", 0)
        elif kind == "genesis-transaction":
            made = build_transaction_bundle(chain.ledger, chain.ledger.get_tx_hash_at(0))
        elif kind == "consistency-from-0":
            made = build_consistency_bundle(chain.ledger, 0)
        else:
            raise ValueError(kind)
        result: dict[str, Any] = json.loads(json.dumps(made))
        return result

    def save(self, bundle: dict[str, Any], name: str) -> Path:
        path = self.tmp / f"{name}.json"
        path.write_text(json.dumps(bundle))
        return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    honest = make_chain()
    account, events_account = write_history(honest, "lot L7 passed")
    certify(honest, honest.founders[:3])

    fork = make_chain()
    assert fork.ledger.ledger_hash == honest.ledger.ledger_hash
    write_history(fork, "lot L7 FAILED")
    certify(fork, fork.founders[:3])

    forgers = [seeded_keypair(f"forger-{i}") for i in range(4)]
    fake = Chain(Ledger.create(MemoryStore(), make_genesis(forgers)), forgers)
    write_history(fake, "lot L7 passed (says the forger)")
    certify(fake, forgers)
    return World(honest, fork, fake, account, events_account, to_base58(honest.ledger.ledger_hash),
                 tmp_path_factory.mktemp("verify-trust"))


def verify(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "jadechain.cli", "verify", *args], cwd=REPO, capture_output=True, text=True,
        timeout=120, stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "200"},
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def refused(world: World, bundle: dict[str, Any], name: str, *anchor: str) -> str:
    """Run verify on a forged bundle; it must exit 1 and name the failed check."""
    result = verify(str(world.save(bundle, name)), *(anchor or ("--ledger", world.ledger_hash)), "--json")
    assert result.returncode == 1, (name, result.stdout, result.stderr)
    document = json.loads(result.stdout)
    assert document["valid"] is False and document["code"] == "PROOF_INVALID"
    message: str = document["message"]
    return message


def resign(bundle: dict[str, Any], signers: list[KeyPair], ledger_hash: bytes) -> None:
    """Replace the header's certificate with one signed by ``signers`` over the real statement."""
    header = bundle["header"]
    statement = encode_commit_statement(ledger_hash, header["height"], from_base58(header["hash"]), 0)
    certificate = header["certificate"]
    certificate["signatures"] = [
        {"public_key": to_base58(p.public.encoded), "signature": to_base58(sign(p.private, statement))}
        for p in signers
    ]


# --- the anchor ----------------------------------------------------------------------------------

def test_without_an_anchor_verify_refuses_with_exit_2_and_says_how_to_pin(world: World) -> None:
    result = verify(str(world.save(world.bundle("entry"), "unpinned")))
    assert result.returncode == 2
    assert "--ledger" in result.stderr and "--validators" in result.stderr
    assert "VALID" not in result.stdout


@pytest.mark.parametrize("kind", ["entry", "transaction", "event", "genesis-transaction", "consistency-from-0"])
def test_honest_bundles_verify_with_the_pinned_ledger(world: World, kind: str) -> None:
    result = verify(str(world.save(world.bundle(kind), f"honest-{kind}")), "--ledger", world.ledger_hash, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["valid"] and report["anchor"] == "pinned ledger hash" and not report["warnings"]
    if kind == "entry":
        assert report["claim"]["value"]["value"] == "lot L7 passed"
    if kind == "genesis-transaction":
        assert report["claim"]["height"] == 0 and report["claim"]["index"] == 0
    if kind == "consistency-from-0":
        assert report["claim"]["old_height"] == 0


def test_a_pinned_validator_set_is_an_anchor_too(world: World) -> None:
    path = world.tmp / "validators.json"
    path.write_text(json.dumps(validators_to_json(world.honest.ledger.validator_set())))
    bundle = world.save(world.bundle("entry"), "with-validators")
    assert verify(str(bundle), "--validators", str(path)).returncode == 0
    strangers = world.tmp / "strangers.json"
    strangers.write_text(json.dumps(validators_to_json(world.fake.ledger.validator_set())))
    assert "validator" in refused(world, world.bundle("entry"), "judged-by-strangers", "--validators", str(strangers))


# --- forgeries -------------------------------------------------------------------------------------

def test_forged_value_with_recomputed_roots_and_a_null_certificate_is_refused(world: World) -> None:
    for kind in ("entry", "transaction", "event"):
        forged = world.bundle(kind, world.fork)
        forged["header"]["certificate"] = None
        assert "no commit certificate" in refused(world, forged, f"null-certificate-{kind}")


def test_fake_ledger_with_its_own_genesis_and_validators_is_refused(world: World) -> None:
    forged = world.bundle("entry", world.fake)
    assert forged["claim"]["account"] != "" and forged["ledger_hash"] != world.ledger_hash
    assert "not the pinned ledger" in refused(world, forged, "fake-ledger")
    # Claiming the real ledger hash instead: the forger's genesis does not hash to it.
    forged["ledger_hash"] = world.ledger_hash
    assert refused(world, forged, "fake-ledger-relabelled")


def test_dropping_the_genesis_block_to_ship_own_validators_is_refused(world: World) -> None:
    forged = world.bundle("entry", world.fork)
    forgers = world.fake.founders
    resign(forged, forgers, world.honest.ledger.ledger_hash)
    forged["validators"] = validators_to_json(ValidatorSet(0, tuple(sorted(p.public.encoded for p in forgers))))
    del forged["genesis"]
    assert "genesis" in refused(world, forged, "no-genesis")


def test_certificate_signature_mutations_are_refused(world: World) -> None:
    founders = world.honest.founders
    ledger_hash = world.honest.ledger.ledger_hash
    original = world.bundle("entry")
    signatures = original["header"]["certificate"]["signatures"]
    assert len(signatures) == 3

    dropped = copy.deepcopy(original)
    dropped["header"]["certificate"]["signatures"] = signatures[:2]
    assert "quorum" in refused(world, dropped, "dropped-signature")

    duplicated = copy.deepcopy(original)
    duplicated["header"]["certificate"]["signatures"] = [signatures[0], signatures[0], signatures[1]]
    assert "twice" in refused(world, duplicated, "duplicated-signature")

    outsider = copy.deepcopy(original)
    resign(outsider, [*founders[:2], seeded_keypair("outsider")], ledger_hash)
    assert "outside the validator set" in refused(world, outsider, "outside-signer")

    bad = copy.deepcopy(original)
    bad["header"]["certificate"]["signatures"][1]["signature"] = signatures[2]["signature"]
    assert "does not verify" in refused(world, bad, "wrong-signature")


def test_path_index_size_and_header_mutations_are_refused(world: World) -> None:
    def mutated(kind: str, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        bundle = world.bundle(kind)
        mutate(bundle)
        return bundle

    def swap_path(bundle: dict[str, Any]) -> None:
        path = bundle["accumulator_proof"]["path"]
        assert len(path) >= 2
        path[0], path[1] = path[1], path[0]

    def swap_sibling(bundle: dict[str, Any]) -> None:
        siblings = bundle["state_proof"]["proof"]["siblings"]
        siblings[0] = "00" * (len(siblings[0]) // 2)

    def other_header(bundle: dict[str, Any]) -> None:
        """A real, certified header of another block (the one proving the genesis transaction)."""
        other = world.bundle("genesis-transaction")["header"]
        assert other["height"] != bundle["header"]["height"]
        bundle["header"] = other

    cases: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
        "swapped-path": ("transaction", swap_path),
        "swapped-sibling": ("entry", swap_sibling),
        "changed-index": ("transaction", lambda b: b["accumulator_proof"].__setitem__(
            "leaf_index", b["accumulator_proof"]["leaf_index"] + 1)),
        "changed-size": ("transaction", lambda b: b["accumulator_proof"].__setitem__(
            "tree_size", b["accumulator_proof"]["tree_size"] + 1)),
        "another-block-header-entry": ("entry", other_header),
        "another-block-header-tx": ("transaction", other_header),
        "event-from-another-tx": ("event", lambda b: b.__setitem__("event", world.bundle("event", world.fork)["event"])),
    }
    for name, (kind, mutate) in cases.items():
        bundle = mutated(kind, mutate)
        assert bundle != world.bundle(kind), name
        assert refused(world, bundle, name), name


# --- the SDK ----------------------------------------------------------------------------------------

def test_sdk_verify_needs_an_anchor_and_refuses_the_same_forgeries(world: World) -> None:
    honest = world.bundle("entry")
    with pytest.raises(TrustAnchorRequired):
        LedgerClient.verify(honest)
    report = LedgerClient.verify(honest, ledger_hash=world.ledger_hash)
    assert report.claim["value"]["value"] == "lot L7 passed" and report.anchor == "pinned ledger hash"
    assert LedgerClient.verify(honest, trusted_validators=world.honest.ledger.validator_set()).certified

    null_certificate = world.bundle("entry", world.fork)
    null_certificate["header"]["certificate"] = None
    duplicated = world.bundle("entry")
    signatures = duplicated["header"]["certificate"]["signatures"]
    duplicated["header"]["certificate"]["signatures"] = [signatures[0], signatures[0], signatures[1]]
    swapped = world.bundle("transaction")
    path = swapped["accumulator_proof"]["path"]
    path[0], path[1] = path[1], path[0]
    for forged in (null_certificate, world.bundle("entry", world.fake), duplicated, swapped):
        with pytest.raises(ProofError):
            LedgerClient.verify(forged, ledger_hash=world.ledger_hash)


# --- from a running node ------------------------------------------------------------------------------

def test_genesis_transaction_and_consistency_from_zero_fetched_from_a_node_verify(tmp_path: Path) -> None:
    """Both were refused when fetched from real networks; the node serves them, verify accepts them."""
    from jadechain.sdk import JadechainClient
    from jadechain.devnet.solo import SoloNode, create_dev_solo

    dev = create_dev_solo(str(tmp_path / "solo"))
    with SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], idle_block_ms=10) as node:
        with JadechainClient([node.url]) as client:
            ledger = client.ledger(dev.ledger_hash)
            genesis_tx = ledger.get_block_txs(0)[0].tx_hash
            genesis_proof = ledger.tx_proof(genesis_tx, wait=60)
            consistency = ledger.client.request("GET", ledger.base + "/proofs/consistency", params={"old_height": 0})
    for name, bundle in (("genesis-tx", genesis_proof), ("consistency-0", consistency)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bundle))
        result = verify(str(path), "--ledger", dev.ledger_hash, "--json")
        assert result.returncode == 0, (name, result.stdout, result.stderr)
        assert json.loads(result.stdout)["anchor"] == "pinned ledger hash"
    assert json.loads(verify(str(tmp_path / "genesis-tx.json"), "--ledger", dev.ledger_hash, "--json").stdout)[
        "claim"]["height"] == 0
