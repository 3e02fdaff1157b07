"""The apps' contracts run unchanged on the WebAssembly engine: the traceability contract's
whole story gives the same statuses and the same state as on the legacy sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from baas.apps.traceability.contract import CONTRACT_SOURCE, capture_gas
from baas.apps.traceability.service import prepare_event
from contracts.runtime import SandboxRuntime
from ledger.crypto import address_from_public_key

from tests.contracts.wasm_kit import wasm_chain
from tests.unit.ledger.ledger_testkit import Chain, make_chain, seeded_keypair

EXAMPLES = Path(__file__).resolve().parents[1] / "apps" / "epcis_examples"


def items(name: str) -> list[list[object]]:
    document = json.loads((EXAMPLES / f"{name}.jsonld").read_text())
    return [prepare_event(e, document["@context"]).chain_item() for e in document["epcisBody"]["eventList"]]


def story(chain: Chain) -> tuple[list[str], list[object]]:
    pair = seeded_keypair("trace-contract")
    contract = address_from_public_key(pair.public)
    admin = address_from_public_key(chain.admin.public)
    statuses = chain.statuses(chain.tx(lambda b: b.deploy_contract(pair.public.encoded, CONTRACT_SOURCE, 1)
                                       .invoke(contract, "init", admin)))
    brand, partner, rogue = chain.new_user("brand"), chain.new_user("partner"), chain.new_user("rogue")
    brand_address = address_from_public_key(brand.public)
    partner_address = address_from_public_key(partner.public)

    def invoke(signer, method, *args, gas=2_000_000):  # type: ignore[no-untyped-def]
        statuses.extend(chain.statuses(chain.tx(lambda b: b.invoke(contract, method, *args, gas_limit=gas), signer)))

    production, logistics = items("01_brand_production"), items("02_partner_logistics")
    invoke(rogue, "register_brand", "9521234", address_from_public_key(rogue.public), "x")
    invoke(chain.admin, "register_brand", "9521234", brand_address, "Jade Tea Co")
    invoke(chain.admin, "register_brand", "12", brand_address, "too short")
    invoke(rogue, "capture", production, gas=capture_gas(production))
    invoke(partner, "capture", production, gas=capture_gas(production))
    invoke(brand, "capture", production, gas=capture_gas(production))
    invoke(brand, "capture", logistics + production[:1], gas=capture_gas(logistics))
    invoke(rogue, "set_partner", "9521234", partner_address, True)
    invoke(brand, "set_partner", "9521234", partner_address, True)
    invoke(partner, "capture", logistics, gas=capture_gas(logistics))
    declaration = list(logistics[2])
    declaration[4], declaration[5] = True, "incorrect_data"
    invoke(rogue, "capture", [declaration])
    invoke(partner, "capture", [declaration])
    invoke(partner, "capture", [declaration])
    bad = list(logistics[0])
    bad[0] = "zz" * 32
    invoke(brand, "capture", [bad])
    [elsewhere] = items("03_unauthorised_capture")  # declared before it is captured (contract version 4)
    foreign = list(elsewhere)
    foreign[4], foreign[5] = True, "did_not_occur"
    invoke(rogue, "capture", [foreign])
    invoke(brand, "capture", [foreign])
    invoke(brand, "capture", [elsewhere])
    state = [chain.ledger.get_entry(contract, key).value.to_python()
             for key in ("admin", "prefix:9521234", "e:" + production[0][0], "e:" + logistics[0][0], "x:" + declaration[0],
                         "x:" + foreign[0], "e:" + elsewhere[0])]
    return statuses, state


def test_traceability_contract_is_the_same_on_both_engines() -> None:
    legacy = story(make_chain(1, runtime=SandboxRuntime(), contract_engine=""))
    wasm = story(wasm_chain(1))
    assert wasm == legacy
    S, R = "SUCCESS", "CONTRACT_REVERTED"
    # deploy+init; rogue/admin/short brand; rogue/partner/brand capture; duplicate; rogue/brand partner;
    # partner capture; rogue/partner/repeated declaration; malformed hash; rogue/brand declaration of an
    # event not on chain, the event captured afterwards
    assert wasm[0] == [S, R, S, R, R, R, S, R, R, S, S, R, S, R, R, R, S, S]
    assert wasm[1][5]["f"] is True and "f" not in wasm[1][4]
