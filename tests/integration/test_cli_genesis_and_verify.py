"""The genesis ceremony and offline verification, driven through the CLI as founders would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "jadechain.cli"]
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "JADECHAIN_KEY_PASSWORD": "correct horse", **(env or {})}
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed: {result.stdout}\n{result.stderr}")
    return result


def test_three_founders_run_the_ceremony_and_agree_on_one_ledger_hash(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    public_keys = {}
    for name, algorithm in (("alpha", "sm2"), ("beta", "ed25519"), ("gamma", "sm2")):
        info = json.loads(run("keys", "new", name, "--algorithm", algorithm, "--dir", str(keys), "--json").stdout)
        public_keys[name] = info["public_key"]
        assert "private" not in json.dumps(info).lower()
    listed = json.loads(run("keys", "list", "--dir", str(keys), "--json").stdout)
    assert sorted(row["name"] for row in listed) == ["alpha", "beta", "gamma"]
    config = tmp_path / "ledger.toml"
    config.write_text(
        '[ledger]\nname = "consortium"\nhash_algorithm = "SM3"\nsignature_algorithms = ["SM2", "ED25519"]\n'
        "created_time = 1700000000000\n\n"
        + "".join(f'[[participants]]\nname = "{n}"\npublic_key = "{k}"\n\n' for n, k in public_keys.items())
    )
    proposal = tmp_path / "proposal.json"
    run("genesis", "propose", "--config", str(config), "--out", str(proposal))
    # The config named no contract engine: the WebAssembly engine's identity is written in, and signed.
    from contracts.vm import engine_identity

    assert f'contract_engine = "{engine_identity()}"' in json.loads(proposal.read_text())["config"]

    # Not everyone has signed yet: assembling must refuse and name who is missing.
    run("genesis", "sign", str(proposal), "--key", "alpha", "--dir", str(keys))
    early = run("genesis", "assemble", str(proposal), "--out", str(tmp_path / "g.json"), check=False)
    assert early.returncode == 1 and "INVALID_SIGNATURE" in early.stderr and "beta" in early.stderr

    # A wrong password is a clear error, not a traceback.
    wrong = run("genesis", "sign", str(proposal), "--key", "beta", "--dir", str(keys),
                env={"JADECHAIN_KEY_PASSWORD": "nope"}, check=False)
    assert wrong.returncode == 1 and "WRONG_PASSWORD" in wrong.stderr and "Traceback" not in wrong.stderr

    run("genesis", "sign", str(proposal), "--key", "beta", "--dir", str(keys))
    run("genesis", "sign", str(proposal), "--key", "gamma", "--dir", str(keys))
    hashes = set()
    for party in ("a", "b"):
        out = tmp_path / f"genesis-{party}.json"
        hashes.add(json.loads(run("genesis", "assemble", str(proposal), "--out", str(out), "--json").stdout)["ledger_hash"])
    assert len(hashes) == 1

    # Every node initialises its database from the genesis file and ends at the same ledger.
    for node in ("n1", "n2"):
        info = json.loads(run("genesis", "init", "--genesis", str(tmp_path / "genesis-a.json"),
                              "--data-dir", str(tmp_path / node), "--json").stdout)
        assert info["ledger_hash"] in hashes and info["height"] == 0
    ledgers = json.loads(run("ledger", "info", "--data-dir", str(tmp_path / "n2"), "--json").stdout)
    assert ledgers[0]["hash_algorithm"] == "SM3" and sorted(ledgers[0]["participants"]) == ["alpha", "beta", "gamma"]
    from ledger.genesis import genesis_contract_engine
    from jadechain.devnet.genesis import read_genesis_file

    assert genesis_contract_engine(read_genesis_file(tmp_path / "genesis-a.json")) == engine_identity()

    # An edited proposal is refused.
    document = json.loads(proposal.read_text())
    document["config"] = document["config"].replace("consortium", "impostor")
    proposal.write_text(json.dumps(document))
    edited = run("genesis", "assemble", str(proposal), check=False)
    assert edited.returncode == 1 and "CONFIG_ERROR" in edited.stderr


@pytest.mark.parametrize("crypto", ["sm", "classic"])
def test_demo_then_verify_offline_and_tampering_fails(tmp_path: Path, crypto: str) -> None:
    directory = tmp_path / "local"
    run("demo", "--dir", str(directory), "--crypto", crypto)
    bundle = directory / "proof-product.json"
    validators = directory / "validators.json"
    report = json.loads(run("verify", str(bundle), "--validators", str(validators), "--json").stdout)
    assert report["valid"] and report["certified"] and report["signers"] == 4
    assert report["claim"]["value"]["value"]["name"] == "green tea"

    document = json.loads(bundle.read_text())
    document["claim"]["value"]["value"]["name"] = "fake tea"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    result = run("verify", str(forged), "--validators", str(validators), "--json", check=False)
    assert result.returncode == 1
    assert json.loads(result.stdout)["code"] == "PROOF_INVALID"


def test_verify_checks_every_proof_in_a_zip_trusting_only_the_ledger_hash(tmp_path: Path) -> None:
    import zipfile

    directory = tmp_path / "local"
    run("demo", "--dir", str(directory), "--crypto", "classic")
    bundle = json.loads((directory / "proof-product.json").read_text())
    archive = tmp_path / "evidence.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("proof/a.json", json.dumps(bundle))
        handle.writestr("proof/b.json", json.dumps(bundle))
        handle.writestr("README.txt", "not a proof")
    pinned = ("--ledger", bundle["ledger_hash"])
    report = json.loads(run("verify", str(archive), *pinned, "--json").stdout)
    assert report["valid"] and [b["file"] for b in report["bundles"]] == ["proof/a.json", "proof/b.json"]
    assert any("genesis" in check for check in report["bundles"][0]["checks"])

    bundle["claim"]["version"] = 7
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("proof/a.json", json.dumps(bundle))
    result = run("verify", str(archive), *pinned, "--json", check=False)
    assert result.returncode == 1 and json.loads(result.stdout)["code"] == "PROOF_INVALID"
