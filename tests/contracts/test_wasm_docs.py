"""Every example of docs/contracts.md runs, and the dialect differences it states are true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from contracts.testkit import LocalContracts

from tests.contracts.wasm_kit import shared_runtime
from tests.unit.ledger.ledger_testkit import make_genesis, seeded_keypair

DOC = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"
ROOT = DOC.parents[1]


def blocks(language: str) -> list[str]:
    return re.findall(r"```" + language + r"\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_documented_contract_and_kit_example_run() -> None:
    source, test_file, kit_example = blocks("python")
    examples = ROOT / "examples" / "contracts"
    assert source == (examples / "counter.py").read_text()  # the documented contract is the deployed file
    assert test_file == (examples / "test_counter.py").read_text()
    namespace: dict[str, object] = {"SOURCE": source}
    exec(compile(kit_example, "docs/contracts.md", "exec"), namespace)  # asserts inside the example


def test_identity_command_and_genesis_snippet() -> None:
    done = subprocess.run([sys.executable, "-m", "contracts", "identity"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=True)
    identity = done.stdout.strip()
    assert identity == shared_runtime().identity
    (_authoring, command), (config,) = blocks("sh"), blocks("toml")  # the first runs in test_contract_authoring_node
    assert command.strip() == "python -m contracts identity"
    assert config.startswith("[ledger]\ncontract_engine = ")
    genesis = make_genesis([seeded_keypair("doc-founder")], extra=f'contract_engine = "{identity}"')
    assert genesis.header.height == 0


DIALECT = '''
from jadechain import contract, callable

@contract
class Dialect:
    @callable
    def facts(self) -> dict:
        import time
        depth = [0]
        def down():
            depth[0] += 1
            down()
        try:
            down()
        except RuntimeError:
            pass
        return {"order": list({"b": 1, "a": 2, "c": 3}), "zfill": hasattr("x", "zfill"),
                "upper": "\\u00e4".upper(), "clock": int(time.time()), "depth": depth[0]}
'''


def test_the_documented_dialect_differences_hold() -> None:
    kit = LocalContracts(runtime=shared_runtime())
    kit.deploy("d", DIALECT)
    facts = kit.invoke("d", "facts").value
    assert isinstance(facts, dict)
    assert facts["order"] == ["a", "c", "b"]
    assert facts["zfill"] is False and facts["upper"] == "\u00e4" and facts["clock"] == 0
    assert 50 <= facts["depth"] <= 150
