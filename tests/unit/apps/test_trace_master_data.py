"""Master data in the index: GS1's example 9.8.1 vocabularies, the SimpleMasterDataQuery parameters,
HASATTR_ / EQ_ATTR_ in event queries, and an index file from before vocabularies were kept apart.

(Recording on chain and reading back from the chain: tests/integration/test_traceability_epcis.py.)
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baas.apps.traceability.identifiers import normalise
from baas.apps.traceability.service import (
    CaptureError, TraceabilityService, TraceabilitySettings, _master_data_elements, prepare_document,
)
from ledger.crypto import ED25519, generate_keypair

EXAMPLE = (Path(__file__).resolve().parents[2] / "apps" / "gs1_examples_full"
           / "Example_9.8.1-MasterData-complying-with-schema-fixed.jsonld")
SITE, ROOM_2, ROOM_3 = (normalise(f"urn:epc:id:sgln:0037000.00729.{n}") for n in (0, 8202, 8203))
LOCATION, READ_POINT = "urn:epcglobal:epcis:vtype:BusinessLocation", "urn:epcglobal:epcis:vtype:ReadPoint"


def vocabulary_list() -> Any:
    return json.loads(EXAMPLE.read_text())["epcisHeader"]["epcisMasterData"]["vocabularyList"]


@pytest.fixture()
def svc(tmp_path: Path) -> Iterator[TraceabilityService]:
    settings = TraceabilitySettings(["http://127.0.0.1:9"], "unused", generate_keypair(ED25519),
                                    str(tmp_path / "index.sqlite3"), follow=False)
    service = TraceabilityService(settings)
    for vocabulary, element_id, attributes in _master_data_elements(vocabulary_list()):
        service.store.set_master_data(vocabulary, element_id, attributes, "org")
    yield service
    service.store.close()


def ids(vocabularies: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(v["type"], e["id"]) for v in vocabularies for e in v["vocabularyElementList"]]


def query(svc: TraceabilityService, **params: str) -> list[dict[str, Any]]:
    return svc.vocabulary_query({name: [value] for name, value in params.items()})


def test_one_id_in_two_vocabularies_keeps_both_descriptions(svc: TraceabilityService) -> None:
    found = query(svc, EQ_name="urn:epc:id:sgln:0037000.00729.8202")
    assert ids(found) == [(LOCATION, ROOM_2), (READ_POINT, ROOM_2)]
    location, read_point = (v["vocabularyElementList"][0] for v in found)
    assert location == {"id": ROOM_2, "attributes": [{"id": "cbvmda:sst", "attribute": "202"}], "children": [ROOM_3]}
    assert read_point["attributes"] == [{"id": "cbvmda:site", "attribute": "0037000007296"},
                                        {"id": "cbvmda:sst", "attribute": "202"}]


def test_master_data_query_parameters(svc: TraceabilityService) -> None:
    assert len(ids(query(svc))) == 6
    assert ids(query(svc, vocabularyName=READ_POINT)) == [(READ_POINT, normalise(f"urn:epc:id:sgln:0037000.00729.{n}"))
                                                          for n in (8201, 8202, 8203)]
    assert ids(query(svc, WD_name=SITE, vocabularyName=LOCATION)) == [(LOCATION, SITE), (LOCATION, ROOM_2),
                                                                      (LOCATION, ROOM_3)]
    assert ids(query(svc, HASATTR="cbvmda:ssa")) == [(LOCATION, ROOM_3)]
    assert ids(query(svc, **{"EQATTR_cbvmda:sst": "204"})) == [(READ_POINT, ROOM_3)]
    assert ids(query(svc, **{"EQ_ATTR_cbvmda:sst": "202"})) == [(LOCATION, ROOM_2), (LOCATION, ROOM_3),
                                                               (READ_POINT, ROOM_2)]
    bare = query(svc, EQ_name=SITE, includeAttributes="false", includeChildren="false")
    assert bare == [{"type": LOCATION, "vocabularyElementList": [{"id": SITE}]}]
    named = query(svc, EQ_name=SITE, attributeNames="xmda:latitude")
    assert named[0]["vocabularyElementList"][0]["attributes"] == [{"id": "xmda:latitude", "attribute": "+18.0000"}]
    with pytest.raises(CaptureError) as too_many:
        query(svc, maxElementCount="5")
    assert too_many.value.status == 413
    for bad in ({"includeChildren": "yes"}, {"maxElementCount": "0"}, {"EQ_nam": "x"}):
        with pytest.raises(CaptureError) as refused:
            query(svc, **bad)
        assert refused.value.code == "INVALID_PARAMETER"


def test_events_filtered_by_their_places_master_data(svc: TraceabilityService) -> None:
    document = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
                "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-01-01T00:00:00Z",
                "epcisBody": {"eventList": [
                    {"type": "ObjectEvent", "eventTime": f"2024-01-01T0{n}:00:00Z", "eventTimeZoneOffset": "+00:00",
                     "action": "OBSERVE", "epcList": [f"urn:epc:id:sgtin:0037000.012345.{n}"],
                     "readPoint": {"id": f"urn:epc:id:sgln:0037000.00729.820{n}"},
                     "bizLocation": {"id": "urn:epc:id:sgln:0037000.00729.0"}} for n in (1, 2, 3)]}}
    svc.store.add_events([e.indexed for e in prepare_document(document)], "org", "tx", 1)

    def count(**params: str) -> int:
        return len(svc.query({k: [v] for k, v in params.items()}, 100)[0])

    assert count(**{"EQ_ATTR_readPoint_cbvmda:sst": "204"}) == 1
    assert count(**{"EQ_ATTR_readPoint_cbvmda:sst": "202"}) == 2  # 8202 (both vocabularies) and 8203
    assert count(**{"EQ_ATTR_bizLocation_xmda:latitude": "+18.0000"}) == 3
    assert count(HASATTR_readPoint="cbvmda:site") == 2
    assert count(HASATTR_bizLocation="cbvmda:ssa") == 0
    with pytest.raises(CaptureError):
        count(HASATTR_bizStep="cbvmda:site")


def test_an_index_from_before_vocabularies_were_kept_apart_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript("CREATE TABLE master_data (id TEXT NOT NULL, attribute TEXT NOT NULL, value TEXT NOT NULL,"
                          " vocabulary TEXT NOT NULL, PRIMARY KEY (id, attribute)) WITHOUT ROWID;")
        old.execute("INSERT INTO master_data VALUES (?, 'urn:epcglobal:cbv:mda#name', 'Old Shop', ?)", (SITE, LOCATION))
    settings = TraceabilitySettings(["http://127.0.0.1:9"], "unused", generate_keypair(ED25519), str(path),
                                    follow=False)
    service = TraceabilityService(settings)
    assert service.store.master_data(SITE) == {"urn:epcglobal:cbv:mda#name": "Old Shop"}
    assert ids(service.vocabulary_query({})) == [(LOCATION, SITE)]
    service.store.close()


def test_malformed_master_data_is_refused() -> None:
    for bad in ([{"type": "", "vocabularyElementList": []}],
                [{"type": LOCATION, "vocabularyElementList": [{"id": SITE, "attributes": [
                    {"id": "x:long", "attribute": "y" * 2001}]}]}],
                [{"type": LOCATION, "vocabularyElementList": [{"id": "https://example.org/" + "p" * 900}]}]):
        with pytest.raises(CaptureError) as refused:
            list(_master_data_elements(bad))
        assert refused.value.code == "MASTER_DATA_INVALID" and refused.value.status == 400


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["vocabularyName", "EQ_name", "WD_name", "HASATTR", "EQATTR_cbvmda:sst", "EQ_ATTR_",
                             "attributeNames", "includeAttributes", "includeChildren", "maxElementCount", "perPage",
                             "EQ_nam"]),
       values=st.lists(st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
                                 st.sampled_from(["true", "3", "urn:epc:id:sgln:0037000.00729.0", "-1", "1.5"])),
                       max_size=3))
def test_master_data_query_never_crashes(svc: TraceabilityService, name: str, values: list[str]) -> None:
    from baas.apps.traceability.identifiers import IdentifierError

    try:
        svc.vocabulary_query({name: values})
    except CaptureError as refused:
        assert refused.status in (400, 413)
    except IdentifierError:
        pass  # the app answers 400 IDENTIFIER_INVALID


def test_an_app_whose_contract_predates_master_data_keeps_it_in_the_index(svc: TraceabilityService) -> None:
    """Version 1 contracts have no ``master_data`` method: sending one would fail the whole capture,
    so such an app keeps the older behaviour (index only) and says so."""
    svc.store.set_meta("contract_version", "1")
    assert not svc.master_data_on_chain()
    private = [{"type": LOCATION, "vocabularyElementList": [{"id": "https://example.org/places/w7", "attributes": [
        {"id": "urn:epcglobal:cbv:mda#name", "attribute": "Warehouse 7"}]}]}]
    assert svc.save_master_data(generate_keypair(ED25519), private) == {"elements": 1, "onChain": False}
    assert svc.store.master_data("https://example.org/places/w7") == {"urn:epcglobal:cbv:mda#name": "Warehouse 7"}
    svc.store.set_meta("contract_version", "2")
    assert svc.master_data_on_chain()


def test_the_indexer_skips_master_data_sent_to_the_chain_in_a_non_canonical_spelling(
        svc: TraceabilityService) -> None:
    """The contract checks a GS1 key's prefix in its Digital Link form; a URN spelling sent to the chain
    directly would dodge it, so the indexer (every read goes through it) ignores such elements."""
    gtin_urn, gtin_dl = "urn:epc:idpat:sgtin:9521234.012345.*", normalise("urn:epc:idpat:sgtin:9521234.012345.*")
    svc._index_master_data([[gtin_urn, "urn:epcglobal:epcis:vtype:EPCClass", '{"cbvmda:descriptionShort":"fake"}'],
                            [gtin_dl, "urn:epcglobal:epcis:vtype:EPCClass", "not json"],
                            [gtin_dl, "urn:epcglobal:epcis:vtype:EPCClass", '{"cbvmda:descriptionShort":"Tea"}']],
                           "org")
    assert svc.store.master_data(gtin_urn) == {}
    assert svc.store.master_data(gtin_dl) == {"cbvmda:descriptionShort": "Tea"}


def test_events_filtered_by_the_master_data_of_their_products_lots_and_parties(svc: TraceabilityService) -> None:
    """HASATTR_ / EQ_ATTR_ (also spelt EQATTR_) on every field whose values have master data: the
    EPC classes of the quantity lists, instance EPCs through their own, their lot's or their GTIN's
    description (a description applies to every identifier under it), sources and destinations."""
    gtin = normalise("urn:epc:idpat:sgtin:0037000.012345.*")
    lot = normalise("urn:epc:class:lgtin:0037000.012345.LOT1")
    supplier, shop = "https://example.org/parties/acme", "https://example.org/places/shop-9"
    product = "urn:epcglobal:epcis:vtype:EPCClass"
    svc.store.set_master_data(product, gtin, {"cbvmda:descriptionShort": "Tea"}, "org")
    svc.store.set_master_data(product, lot, {"cbvmda:countryOfOrigin": "CN"}, "org")
    svc.store.set_master_data("urn:epcglobal:epcis:vtype:Party", supplier, {"cbvmda:name": "Acme"}, "org")
    svc.store.set_master_data(LOCATION, shop, {"cbvmda:city": "Hangzhou"}, "org")
    base = {"eventTimeZoneOffset": "+00:00", "action": "OBSERVE"}
    quantity = {"epcClass": "urn:epc:class:lgtin:0037000.012345.LOT1", "quantity": 5, "uom": "KGM"}
    document = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
                "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-01-01T00:00:00Z",
                "epcisBody": {"eventList": [
                    {"type": "ObjectEvent", **base, "eventTime": "2024-01-01T01:00:00Z", "eventID": "urn:uuid:e1",
                     "epcList": ["urn:epc:id:sgtin:0037000.012345.1"]},
                    {"type": "ObjectEvent", **base, "eventTime": "2024-01-01T02:00:00Z", "eventID": "urn:uuid:e2",
                     "quantityList": [quantity]},
                    {"type": "TransformationEvent", "eventTimeZoneOffset": "+00:00", "eventID": "urn:uuid:e3",
                     "eventTime": "2024-01-01T03:00:00Z", "inputQuantityList": [quantity],
                     "outputEPCList": ["urn:epc:id:sgtin:0037000.054321.9"]},
                    {"type": "ObjectEvent", **base, "eventTime": "2024-01-01T04:00:00Z", "eventID": "urn:uuid:e4",
                     "epcList": ["urn:epc:id:sgtin:0037000.054321.8"],
                     "sourceList": [{"type": "owning_party", "source": supplier}],
                     "destinationList": [{"type": "location", "destination": shop}]},
                ]}}
    svc.store.add_events([e.indexed for e in prepare_document(document)], "org", "tx", 1)

    def found(**params: str) -> set[str]:
        return {row.event["eventID"][-2:] for row in svc.query({k: [v] for k, v in params.items()}, 100)[0]}

    assert found(HASATTR_epcList="cbvmda:descriptionShort") == {"e1"}  # the item through its GTIN
    assert found(**{"EQ_ATTR_epcList_cbvmda:descriptionShort": "Tea"}) == {"e1"}
    assert found(**{"EQATTR_epcList_cbvmda:descriptionShort": "Tea"}) == {"e1"}
    assert found(**{"EQ_ATTR_epcList_cbvmda:descriptionShort": "Coffee"}) == set()
    assert found(HASATTR_epcClass="cbvmda:countryOfOrigin") == {"e2", "e3"}  # the lot's own
    assert found(HASATTR_epcClass="cbvmda:descriptionShort") == {"e2", "e3"}  # the lot through its GTIN
    assert found(HASATTR_quantityList="cbvmda:countryOfOrigin") == {"e2"}
    assert found(HASATTR_inputQuantityList="cbvmda:countryOfOrigin") == {"e3"}
    assert found(HASATTR_outputQuantityList="cbvmda:countryOfOrigin") == set()
    assert found(HASATTR_outputEPCList="cbvmda:descriptionShort") == set()  # 054321 has no master data
    assert found(HASATTR_anyEPC="cbvmda:descriptionShort") == {"e1"}
    assert found(**{"EQ_ATTR_source_cbvmda:name": "Acme"}) == {"e4"}
    assert found(**{"EQ_ATTR_destination_cbvmda:city": "Hangzhou"}) == {"e4"}
    assert found(HASATTR_source="cbvmda:city") == set() and found(HASATTR_destination="cbvmda:name") == set()
    # an item's own description applies to that item only (…/21/9, not …/21/8 of the same GTIN)
    svc.store.set_master_data("urn:epcglobal:epcis:vtype:EPCInstance", normalise("urn:epc:id:sgtin:0037000.054321.9"),
                              {"cbvmda:descriptionShort": "Cup"}, "org")
    assert found(**{"EQ_ATTR_outputEPCList_cbvmda:descriptionShort": "Cup"}) == {"e3"}
    assert found(**{"EQ_ATTR_epcList_cbvmda:descriptionShort": "Cup"}) == set()
    for field in ("bizStep", "disposition", "colour", ""):
        with pytest.raises(CaptureError) as refused:
            found(**{f"HASATTR_{field}": "cbvmda:name"})
        assert refused.value.code == "INVALID_PARAMETER" and "epcClass" in refused.value.message \
            and "destination" in refused.value.message
