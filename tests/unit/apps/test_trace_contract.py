"""The traceability contract's rules, executed by the ledger's executor (no node, no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baas.apps.traceability.contract import CONTRACT_SOURCE, capture_gas, master_data_gas
from baas.apps.traceability.service import prepare_event
from ledger.crypto import address_from_public_key
from ledger.errors import NotFound

from tests.unit.ledger.ledger_testkit import Chain, make_chain, seeded_keypair

contracts = pytest.importorskip("contracts")
EXAMPLES = Path(__file__).resolve().parents[2] / "apps" / "epcis_examples"


@pytest.fixture
def chain() -> Chain:
    return make_chain(1, runtime=contracts.EngineSet())


def items(name: str, index: int | None = None) -> list[list[object]]:
    document = json.loads((EXAMPLES / f"{name}.jsonld").read_text())
    events = document["epcisBody"]["eventList"]
    chosen = events if index is None else [events[index]]
    return [prepare_event(e, document["@context"]).chain_item() for e in chosen]


def deploy(chain: Chain) -> str:
    pair = seeded_keypair("trace-contract")
    address = address_from_public_key(pair.public)
    admin = address_from_public_key(chain.admin.public)
    statuses = chain.statuses(chain.tx(lambda b: b.deploy_contract(pair.public.encoded, CONTRACT_SOURCE, 1)
                                       .invoke(address, "init", admin)))
    assert statuses == ["SUCCESS"]
    return address


def test_capture_rules_on_chain(chain: Chain) -> None:
    contract = deploy(chain)
    brand, partner, rogue = chain.new_user("brand"), chain.new_user("partner"), chain.new_user("rogue")
    brand_address = address_from_public_key(brand.public)

    def invoke(signer, method, *args, gas=2_000_000):  # type: ignore[no-untyped-def]
        return chain.statuses(chain.tx(lambda b: b.invoke(contract, method, *args, gas_limit=gas), signer))[0]

    # only the admin registers brands, and init cannot be called twice
    assert invoke(rogue, "register_brand", "9521234", address_from_public_key(rogue.public), "x") != "SUCCESS"
    assert invoke(rogue, "init", address_from_public_key(rogue.public)) != "SUCCESS"
    assert invoke(chain.admin, "register_brand", "9521234", brand_address, "Jade Tea Co") == "SUCCESS"
    assert invoke(chain.admin, "register_brand", "12", brand_address, "too short") != "SUCCESS"

    production = items("01_brand_production")
    assert invoke(rogue, "capture", production, gas=capture_gas(production)) != "SUCCESS"
    assert invoke(partner, "capture", production, gas=capture_gas(production)) != "SUCCESS"  # not yet a partner
    assert invoke(brand, "capture", production, gas=capture_gas(production)) == "SUCCESS"
    record = chain.ledger.get_entry(contract, "e:" + production[0][0]).value.to_python()
    assert record == {"d": production[0][1], "o": brand_address}
    # duplicates are refused, also when hidden in a larger capture: nothing of that capture is written
    logistics = items("02_partner_logistics")
    assert invoke(brand, "capture", logistics + production[:1]) != "SUCCESS"
    with pytest.raises(NotFound):
        chain.ledger.get_entry(contract, "e:" + logistics[0][0])
    # a partner, once authorised by the brand (only the brand or admin may do that)
    partner_address = address_from_public_key(partner.public)
    assert invoke(rogue, "set_partner", "9521234", partner_address, True) != "SUCCESS"
    assert invoke(brand, "set_partner", "9521234", partner_address, True) == "SUCCESS"
    assert invoke(partner, "capture", logistics) == "SUCCESS"
    # error declarations of an event on chain: only once, by someone entitled to its keys
    declaration = list(logistics[2])
    declaration[4], declaration[5] = True, "incorrect_data"
    assert invoke(rogue, "capture", [declaration]) != "SUCCESS"
    assert invoke(partner, "capture", [declaration]) == "SUCCESS"
    assert invoke(partner, "capture", [declaration]) != "SUCCESS"
    assert "f" not in chain.ledger.get_entry(contract, "x:" + declaration[0]).value.to_python()
    # a partner whose authorisation is revoked can no longer capture
    assert invoke(brand, "set_partner", "9521234", partner_address, False) == "SUCCESS"
    assert invoke(partner, "capture", items("03_unauthorised_capture")) != "SUCCESS"
    # malformed hashes are refused
    bad = list(items("03_unauthorised_capture")[0])
    bad[0] = "zz" * 32
    assert invoke(brand, "capture", [bad]) != "SUCCESS"


def test_master_data_rules_on_chain(chain: Chain) -> None:
    """A GS1 key is described by its brand or a partner; a private id by whoever described it first."""
    contract = deploy(chain)
    brand, partner, rogue = chain.new_user("brand"), chain.new_user("partner"), chain.new_user("rogue")
    brand_address = address_from_public_key(brand.public)

    def invoke(signer, *elements):  # type: ignore[no-untyped-def]
        listed = [list(e) for e in elements]
        return chain.statuses(chain.tx(lambda b: b.invoke(contract, "master_data", listed,
                                                          gas_limit=master_data_gas(listed)), signer))[0]

    assert invoke(chain.admin) == "SUCCESS"  # nothing to describe is harmless
    chain.statuses(chain.tx(lambda b: b.invoke(contract, "register_brand", "9521234", brand_address, "Jade Tea Co",
                                               gas_limit=2_000_000)))
    gtin = "https://id.gs1.org/01/09521234123453"
    product = [gtin, "urn:epcglobal:epcis:vtype:EPCClass", '{"cbvmda:descriptionShort":"Dragon Well"}']
    assert invoke(rogue, product) != "SUCCESS"
    assert invoke(partner, product) != "SUCCESS"
    assert invoke(brand, product) == "SUCCESS"
    record = chain.ledger.get_entry(contract, "m:" + product[1] + " " + gtin).value.to_python()
    assert record == {"o": brand_address, "t": product[1], "a": product[2]}
    # one refused element refuses the whole invocation
    renamed = [gtin, product[1], '{"cbvmda:descriptionShort":"Longjing"}']
    assert invoke(brand, renamed, ["https://id.gs1.org/01/00614141073468", product[1], "{}"]) != "SUCCESS"
    assert chain.ledger.get_entry(contract, "m:" + product[1] + " " + gtin).value.to_python()["a"] == product[2]
    assert invoke(brand, renamed) == "SUCCESS"
    assert chain.ledger.get_entry(contract, "m:" + product[1] + " " + gtin).value.to_python()["a"] == renamed[2]
    # a private id belongs to its first describer
    private = ["https://example.org/places/warehouse-7", "urn:epcglobal:epcis:vtype:BusinessLocation", "{}"]
    assert invoke(rogue, private) == "SUCCESS"
    assert invoke(brand, private) != "SUCCESS"
    assert invoke(rogue, [private[0], private[1], '{"cbvmda:name":"W7"}']) == "SUCCESS"
    assert invoke(brand, ["", private[1], "{}"]) != "SUCCESS"


def test_itip_keys_are_governed_by_their_brands_prefix(chain: Chain) -> None:
    """An ITIP (AI 8006: a GTIN's piece of a trade item) belongs to the GTIN's company prefix, on chain
    and in the app's own pre-check: a stranger's capture of the brand's ITIP is refused by both."""
    from baas.apps.traceability.identifiers import company_digits, normalise

    contract = deploy(chain)
    brand, rogue = chain.new_user("brand"), chain.new_user("rogue")
    chain.statuses(chain.tx(lambda b: b.invoke(contract, "register_brand", "9521234",
                                               address_from_public_key(brand.public), "Jade Tea Co",
                                               gas_limit=2_000_000)))
    itip = "urn:epc:id:itip:9521234.012345.01.02.77"
    assert company_digits(normalise(itip)).startswith("9521234")
    event = {"type": "ObjectEvent", "eventTime": "2026-03-01T06:00:00+08:00", "eventTimeZoneOffset": "+08:00",
             "action": "OBSERVE", "epcList": [itip]}
    captured = [prepare_event(event).chain_item()]

    def invoke(signer):  # type: ignore[no-untyped-def]
        return chain.statuses(chain.tx(lambda b: b.invoke(contract, "capture", captured,
                                                          gas_limit=capture_gas(captured)), signer))[0]

    assert invoke(rogue) != "SUCCESS"
    assert invoke(brand) == "SUCCESS"


def test_the_indexer_refuses_chain_items_whose_key_list_hides_the_events_keys() -> None:
    """The contract checks brand prefixes of the keys the item lists; an item sent to the chain directly
    with the list emptied would pass it, so every indexer recomputes the keys and refuses the item."""
    from baas.apps.traceability.eventhash import EventHashError
    from baas.apps.traceability.service import prepared_from_chain_item

    item = items("01_brand_production", 1)[0]
    assert prepared_from_chain_item(item).hash_id  # as the app sends it: accepted
    hidden = list(item)
    hidden[2] = []
    with pytest.raises(EventHashError, match="GS1 keys"):
        prepared_from_chain_item(hidden)
    flagged = list(item)
    flagged[4] = True
    with pytest.raises(EventHashError, match="declaration"):
        prepared_from_chain_item(flagged)


def test_a_declaration_of_an_event_recorded_elsewhere(chain: Chain) -> None:
    """EPCIS 2.0 events travel between repositories, so a declaration may arrive without its event
    (GS1's ErrorDeclarationAndCorrectiveEvent example). Contract version 4 records it, marked foreign,
    under the same rules as any declaration; the event itself may still be captured later, once."""
    contract = deploy(chain)
    brand, rogue = chain.new_user("brand"), chain.new_user("rogue")
    brand_address = address_from_public_key(brand.public)

    def invoke(signer, method, *args):  # type: ignore[no-untyped-def]
        return chain.statuses(chain.tx(lambda b: b.invoke(contract, method, *args, gas_limit=2_000_000), signer))[0]

    assert invoke(chain.admin, "register_brand", "9521234", brand_address, "Jade Tea Co") == "SUCCESS"
    [original] = items("03_unauthorised_capture")
    declaration = list(original)
    declaration[4], declaration[5] = True, "did_not_occur"
    assert invoke(rogue, "capture", [declaration]) != "SUCCESS"  # not entitled to the event's keys
    with pytest.raises(NotFound):
        chain.ledger.get_entry(contract, "x:" + original[0])
    assert invoke(brand, "capture", [declaration]) == "SUCCESS"
    record = chain.ledger.get_entry(contract, "x:" + original[0]).value.to_python()
    assert record == {"d": declaration[1], "o": brand_address, "r": "did_not_occur", "f": True}
    with pytest.raises(NotFound):  # the declaration wrote no event record
        chain.ledger.get_entry(contract, "e:" + original[0])
    assert invoke(brand, "capture", [declaration]) != "SUCCESS"  # once per event
    # the declared event captured afterwards: recorded once, by someone entitled to it
    assert invoke(rogue, "capture", [original]) != "SUCCESS"
    assert invoke(brand, "capture", [original]) == "SUCCESS"
    assert chain.ledger.get_entry(contract, "e:" + original[0]).value.to_python() == {"d": original[1],
                                                                                      "o": brand_address}
    assert invoke(brand, "capture", [original]) != "SUCCESS"
    assert chain.ledger.get_entry(contract, "x:" + original[0]).value.to_python() == record


def test_an_event_without_gs1_keys_is_declared_erroneous_only_by_its_capturer(chain: Chain) -> None:
    """No brand governs an event whose identifiers are private URIs, so no brand rule decides who may
    declare it erroneous: only the organisation that recorded it may (contract version 4)."""
    contract = deploy(chain)
    owner, rogue = chain.new_user("owner"), chain.new_user("rogue")

    def invoke(signer, method, *args):  # type: ignore[no-untyped-def]
        return chain.statuses(chain.tx(lambda b: b.invoke(contract, method, *args, gas_limit=2_000_000), signer))[0]

    event = {"type": "ObjectEvent", "eventTime": "2026-03-01T08:00:00Z", "eventTimeZoneOffset": "+00:00",
             "action": "OBSERVE", "epcList": ["https://example.org/things/42"]}
    [original] = [prepare_event(event).chain_item()]
    assert original[2] == []  # no GS1 key
    declaration = prepare_event({**event, "errorDeclaration": {"declarationTime": "2026-03-02T08:00:00Z"}}).chain_item()
    assert invoke(owner, "capture", [original]) == "SUCCESS"
    assert invoke(rogue, "capture", [declaration]) != "SUCCESS"
    assert invoke(owner, "capture", [declaration]) == "SUCCESS"
