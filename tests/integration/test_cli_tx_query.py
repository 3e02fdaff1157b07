"""``jadechain tx`` / ``jadechain query`` as a user runs them: subprocesses against a real solo node over HTTP.

The commands run through ``python -m jadechain.cli.tx`` (the stand-alone runner of the two Typer apps),
so this test passes before and after they are mounted into ``jadechain``. ``keys new`` and ``verify``
are the existing ``jadechain`` commands (``python -m jadechain.cli``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from ledger.crypto import address_from_public_key
from jadechain.devnet.solo import DevSolo, SoloNode, create_dev_solo

REPO = Path(__file__).resolve().parents[2]

COUNTER = '''\
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

HOSTILE = '''\
from jadechain import contract, callable

@contract
class Thief:
    @callable
    def steal(self) -> str:
        return open("/etc/passwd").read()
'''


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> DevSolo:
    return create_dev_solo(str(tmp_path_factory.mktemp("cli-tx")))


@pytest.fixture(scope="module")
def node(dev: DevSolo) -> Iterator[SoloNode]:
    running = SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], idle_block_ms=10).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def key_dir(dev: DevSolo) -> str:
    return str(Path(dev.key_file).parent)


@pytest.fixture(scope="module")
def admin(dev: DevSolo) -> str:
    return address_from_public_key(dev.key.public)


class Cli:
    def __init__(self, node: SoloNode, dev: DevSolo, key_dir: str) -> None:
        self.env = {
            **os.environ,
            "JADECHAIN_GATEWAY": node.url,
            "JADECHAIN_KEY_PASSWORD": dev.password,
            "JADECHAIN_KEY_DIR": key_dir,
            "COLUMNS": "200",
        }
        self.env.pop("JADECHAIN_LEDGER", None)

    def run(self, *args: str, module: str = "jadechain.cli.tx", ok: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", module, *args], cwd=REPO, env={**self.env, **env},
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )
        assert "Traceback" not in result.stderr, result.stderr
        if ok:
            assert result.returncode == 0, f"{args}: {result.stderr}"
        return result

    def json(self, *args: str, **env: str) -> Any:
        return json.loads(self.run(*args, "--json", **env).stdout)

    def fails(self, *args: str, **env: str) -> str:
        """Run a command that must fail; return its stderr (``CODE: message``)."""
        result = self.run(*args, ok=False, **env)
        assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
        return result.stderr


@pytest.fixture(scope="module")
def cli(node: SoloNode, dev: DevSolo, key_dir: str) -> Cli:
    return Cli(node, dev, key_dir)


@pytest.fixture(scope="module")
def account(cli: Cli) -> str:
    registered = cli.json("tx", "account-register", "--key", "node0")
    assert registered["status"] == "SUCCESS" and registered["committed"]
    return str(registered["address"])


def test_kv_versions_conflict_and_json_queries(cli: Cli, account: str, admin: str, dev: DevSolo,
                                               tmp_path: Path) -> None:
    first = cli.json("tx", "kv-set", account, "product/42", '{"lot": "L1", "qty": 3}', "--type", "json", "-k", "node0")
    assert (first["status"], first["version"]) == ("SUCCESS", 0)
    second = cli.json("tx", "kv-set", account, "product/42", "shipped", "--expected-version", "0", "-k", "node0")
    assert second["status"] == "SUCCESS" and second["height"] > first["height"]

    stale = cli.fails("tx", "kv-set", account, "product/42", "lost update", "--expected-version", "0", "-k", "node0")
    assert stale.startswith("VERSION_CONFLICT: ")
    assert "at version 1, not 0" in stale and "--expected-version 1" in stale
    third = cli.json("tx", "kv-set", account, "product/42", "7", "--type", "int", "--auto-version", "-k", "node0")
    assert (third["status"], third["version"]) == ("SUCCESS", 2)

    latest = cli.json("query", "entry", account, "product/42")
    assert (latest["version"], latest["value"]) == (2, {"type": "INT64", "value": 7})
    assert latest["tx_hash"] == third["tx_hash"]
    oldest = cli.json("query", "entry", account, "product/42", "--version", "0")
    assert oldest["value"] == {"type": "JSON", "value": {"lot": "L1", "qty": 3}}
    history = cli.json("query", "entry", account, "product/42", "--versions")
    assert [(v["version"], v["value"]["value"]) for v in history] == [(0, {"lot": "L1", "qty": 3}), (1, "shipped"), (2, 7)]
    assert cli.json("query", "entries", account)["items"] == [{"key": "product/42", "latest_version": 2}]
    missing = cli.fails("query", "entry", account, "no-such-key")
    assert missing.startswith("NOT_FOUND: ")

    record = cli.json("query", "account", account)
    assert (record["kind"], record["owners"], record["write_policy"]) == ("DATA", [admin], "OWNERS")
    tx = cli.json("query", "tx", second["tx_hash"])
    assert (tx["status"], tx["height"], tx["signers"]) == ("SUCCESS", second["height"], [admin])
    assert tx["operations"][0]["type"] == "KVSet"
    block = cli.json("query", "block", str(second["height"]))
    assert block["tx_count"] == 1 and block["certified"]
    assert cli.json("query", "block", "--hash", block["hash"])["height"] == second["height"]
    assert second["tx_hash"] in [t["tx_hash"] for t in cli.json("query", "txs", str(second["height"]))["items"]]
    assert [item["hash"] for item in cli.json("query", "ledgers")] == [dev.ledger_hash]

    # A bulk load: batched transactions (three here), then the same rows again as new versions.
    rows = tmp_path / "rows.csv"
    rows.write_text("key,value,type\n" + "".join(f"lot/{i},{i * 10},int\n" for i in range(120)))
    loaded = cli.json("tx", "kv-import", account, str(rows), "--batch", "50", "-k", "node0")
    assert (loaded["written"], loaded["transactions"], loaded["failed"]) == (120, 3, [])
    again = cli.fails("tx", "kv-import", account, str(rows), "--batch", "50", "-k", "node0")
    assert again.startswith("VERSION_CONFLICT: ") and "--auto-version" in again
    assert cli.json("tx", "kv-import", account, str(rows), "--auto-version", "-k", "node0")["written"] == 120
    overwritten = cli.json("query", "entry", account, "lot/119")
    assert (overwritten["version"], overwritten["value"]) == (1, {"type": "INT64", "value": 1190})

    # Human output: a readable table, no JSON.
    shown = cli.run("query", "entry", account, "product/42", "--versions").stdout
    assert "shipped" in shown and "version" in shown


def test_offline_export_sign_with_two_keys_then_send(cli: Cli, account: str, admin: str, key_dir: str,
                                                     dev: DevSolo, tmp_path: Path) -> None:
    bob = json.loads(cli.run("keys", "new", "bob", "--dir", key_dir, "--json", module="jadechain.cli").stdout)
    registered = cli.json("tx", "user-register", "--key-name", "bob", "-k", "node0")
    assert (registered["status"], registered["address"]) == ("SUCCESS", bob["address"])
    assert cli.json("tx", "role", "WRITER", "--grant", "write_data_account", "--grant-tx", "DIRECT_OPERATION",
                    "-k", "node0")["status"] == "SUCCESS"
    assert cli.json("tx", "authorize", "bob", "--roles", "WRITER", "-k", "node0")["status"] == "SUCCESS"
    roles = cli.json("query", "user-roles", bob["address"])
    assert (roles["roles"], roles["policy"]) == (["WRITER"], "UNION")

    # Export with --ledger: no node is contacted (the gateway given here does not exist).
    unsigned = tmp_path / "tx.json"
    exported = cli.json("tx", "kv-set", account, "contract/7", "signed by two", "--ledger", dev.ledger_hash,
                        "--export", str(unsigned), JADECHAIN_GATEWAY="http://127.0.0.1:9")
    document = json.loads(unsigned.read_text())
    assert document["tx_hash"] == exported["tx_hash"] and document["ledger_hash"] == dev.ledger_hash
    assert document["signatures"] == [] and "contract/7" in document["summary"][0]

    unconfirmed = cli.fails("tx", "sign", str(unsigned), "--key", "node0")
    assert "--yes" in unconfirmed
    cli.run("tx", "sign", str(unsigned), "--key", "node0", "--yes")
    signed = cli.json("tx", "sign", str(unsigned), "--key", "bob", "--yes")
    assert signed["signed_by"] == [admin, bob["address"]]

    tampered = tmp_path / "tampered.json"
    forged = dict(json.loads(unsigned.read_text()))
    forged["content"] = forged["content"].replace(b"signed by two".hex(), b"signed by one".hex())
    tampered.write_text(json.dumps(forged))
    assert "edited" in cli.fails("tx", "send", str(tampered))

    sent = cli.json("tx", "send", str(unsigned))
    assert sent["tx_hash"] == exported["tx_hash"] and sent["status"] == "SUCCESS"
    assert sorted(cli.json("query", "tx", sent["tx_hash"])["signers"]) == sorted([admin, bob["address"]])
    assert cli.json("query", "entry", account, "contract/7")["value"] == {"type": "TEXT", "value": "signed by two"}


def test_contract_deploy_invoke_and_hostile_source_refused_locally(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "counter.py"
    source.write_text(COUNTER)
    deployed = cli.json("tx", "contract-deploy", str(source), "-k", "node0")
    assert deployed["status"] == "SUCCESS"
    address = deployed["address"]
    invoked = cli.json("tx", "contract-invoke", address, "bump", "k1", '"first value"', "--gas", "500000", "-k", "node0")
    assert invoked["status"] == "SUCCESS" and invoked["gas_used"] > 0
    assert cli.json("query", "entry", address, "k1")["value"] == {"type": "TEXT", "value": "first value"}
    events = cli.json("query", "events", address, "bumped")
    assert [(e["sequence"], e["content"]["value"]) for e in events] == [(0, {"key": "k1", "version": 0})]
    contract = cli.json("query", "contract", address, "--source")
    assert (contract["version"], contract["state"], contract["source"]) == (1, "NORMAL", COUNTER)
    contracts_before = cli.json("query", "contracts")
    assert address in [c["address"] for c in contracts_before["items"]]

    broken = tmp_path / "broken.py"
    broken.write_text(COUNTER.replace("return version", "return version +"))
    refused = cli.fails("tx", "contract-deploy", str(broken), "-k", "node0")
    assert "CONTRACT_REJECTED: " in refused
    line = COUNTER.splitlines().index("        return version") + 1
    assert "syntax" in refused and f"{broken}:{line}:" in refused
    assert cli.json("query", "contracts")["total"] == contracts_before["total"]

    # The ledger runs the WebAssembly engine: the thief loads, but the VM has no file system to read.
    hostile = tmp_path / "thief.py"
    hostile.write_text(HOSTILE)
    thief = cli.json("tx", "contract-deploy", str(hostile), "-k", "node0")
    assert thief["status"] == "SUCCESS"
    stolen = cli.fails("tx", "contract-invoke", thief["address"], "steal", "-k", "node0")
    assert "CONTRACT_FAULT" in stolen and "root:" not in stolen


def test_events_published_and_watched(cli: Cli) -> None:
    registered = cli.json("tx", "event-account-register", "-k", "node0")
    events_account = registered["address"]
    first = cli.json("tx", "publish", events_account, "shipment", '{"step": "packed"}', "--type", "json", "-k", "node0")
    cli.json("tx", "publish", events_account, "shipment", "delivered", "-k", "node0")
    listed = cli.json("query", "events", events_account, "shipment")
    assert [(e["sequence"], e["content"]["value"]) for e in listed] == [(0, {"step": "packed"}), (1, "delivered")]
    assert cli.json("query", "events", events_account, "shipment", "--from", "1")[0]["sequence"] == 1

    watched = cli.run("query", "watch", "--from-height", str(first["height"]), "--kinds", "tx,event",
                      "--count", "4", "--json").stdout
    messages = [json.loads(line) for line in watched.splitlines() if line.strip()]
    assert [m["kind"] for m in messages] == ["tx", "event", "tx", "event"]
    assert messages[0]["data"]["tx_hash"] == first["tx_hash"]
    assert [m["data"]["sequence"] for m in messages if m["kind"] == "event"] == [0, 1]


def test_entry_proof_saved_by_query_verifies_after_the_node_is_stopped(
    cli: Cli, node: SoloNode, account: str, tmp_path: Path
) -> None:
    written = cli.json("tx", "kv-set", account, "evidence/1", "sha256:9f86d081", "-k", "node0")
    bundle = tmp_path / "entry-proof.json"
    validators = tmp_path / "validators.json"
    cli.run("query", "entry", account, "evidence/1", "--proof", str(bundle))
    cli.run("query", "validators", "--out", str(validators))
    tx_bundle = tmp_path / "tx-proof.json"
    cli.run("query", "tx", written["tx_hash"], "--proof", str(tx_bundle))
    node.stop()

    report = cli.json("verify", str(bundle), "--validators", str(validators), module="jadechain.cli")
    assert report["valid"] and report["kind"] == "entry" and report["certified"]
    assert report["claim"]["key"] == "evidence/1"
    assert report["claim"]["value"] == {"type": "TEXT", "value": "sha256:9f86d081"}
    assert cli.json("verify", str(tx_bundle), "--validators", str(validators), module="jadechain.cli")["valid"]

    forged = json.loads(bundle.read_text())
    forged["claim"]["value"]["value"] = "sha256:forged"
    bundle.write_text(json.dumps(forged))
    rejected = cli.run("verify", str(bundle), "--validators", str(validators), module="jadechain.cli", ok=False)
    assert rejected.returncode == 1 and "PROOF_INVALID" in rejected.stderr
