"""Deploy-time pre-checks outside a ledger follow the engine the ledger recorded at genesis."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import ValidationError

from baas.orchestration import make_genesis
from baas.routers.contracts import InvokeBody, validate
from contracts.engines import validate_for_engine
from contracts.vm import engine_identity
from ledger import codec
from ledger.errors import ContractRejected
from ledger.genesis import genesis_contract_engine
from ledger.types import Block
from jadechain.devnet.genesis import create_dev_network
from jadechain.cli.app import with_contract_engine
from tests.unit.ledger.ledger_testkit import genesis_toml, seeded_keypair
from tests.unit.ledger import ledger_testkit

THIEF = '''from jadechain import contract, callable

@contract
class Thief:
    @callable
    def steal(self) -> str:
        return open("/etc/passwd").read()
'''


@dataclass
class Record:
    genesis_hex: str


def test_new_ledgers_record_the_wasm_engine(tmp_path: Path) -> None:
    identity = engine_identity()
    assert identity.startswith("jadechain-wasm/4 ")
    assert " image=snapshot/1 " in identity  # how contract images are built is pinned too
    _, _, document = make_genesis("c", "classic", [("n0", seeded_keypair("n0"))], {})
    block = codec.decode(Block, bytes.fromhex(json.loads(document)["block"]))
    assert genesis_contract_engine(block) == identity
    create_dev_network(tmp_path, 1, "classic")
    dev = codec.decode(Block, bytes.fromhex(json.loads((tmp_path / "genesis.json").read_text())["block"]))
    assert genesis_contract_engine(dev) == identity
    assert genesis_contract_engine(ledger_testkit.make_genesis([seeded_keypair("t")])) == identity


def test_a_config_without_an_engine_gets_the_wasm_engine_written_in() -> None:
    text = genesis_toml([seeded_keypair("p")], extra="")
    bare = "\n".join(line for line in text.splitlines() if not line.startswith("contract_engine"))
    filled = with_contract_engine(bare)
    assert f"contract_engine = {json.dumps(engine_identity())}" in filled
    assert with_contract_engine(filled) == filled
    legacy = bare.replace("[ledger]\n", '[ledger]\ncontract_engine = ""\n')
    assert with_contract_engine(legacy) == legacy  # an explicit choice is kept


def test_baas_checks_a_contract_by_its_ledgers_engine() -> None:
    pair = seeded_keypair("founder")
    _, _, wasm_document = make_genesis("w", "classic", [("n0", pair)], {})
    legacy_block = ledger_testkit.make_genesis([pair], extra='contract_engine = ""\n')
    legacy_document = json.dumps({"block": codec.encode(legacy_block).hex()})
    assert validate(THIEF, Record(wasm_document))["valid"] is True  # type: ignore[arg-type]
    refused = validate(THIEF, Record(legacy_document))  # type: ignore[arg-type]
    assert refused["valid"] is False and refused["error"]["rule"] == "forbidden-builtin"
    broken = validate(THIEF.replace(".read()", ".read("), Record(wasm_document))  # type: ignore[arg-type]
    assert broken["valid"] is False and broken["error"]["rule"] == "syntax" and broken["error"]["line"] == 7


def test_wasm_pre_check_refuses_a_contract_that_does_not_load() -> None:
    with pytest.raises(ContractRejected) as caught:
        validate_for_engine(THIEF.replace("@contract", "while True:\n    pass\n\n@contract"), engine_identity())
    assert caught.value.details["rule"] == "load-budget"


def test_baas_gas_limit_stops_at_the_ledgers_default() -> None:
    assert InvokeBody(method="m", gas_limit=10_000_000).gas_limit == 10_000_000
    with pytest.raises(ValidationError):
        InvokeBody(method="m", gas_limit=10_000_001)
