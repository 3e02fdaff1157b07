"""The EPCIS 2.0 query parameters over extension fields and sensor data, on GS1's own example.

GS1's "all possible fields" ObjectEvent (tests/apps/gs1_examples_full/, unmodified) nests user
extensions three levels deep at the top level, in ILMD, in a sensor element, its metadata and its
report. It is indexed as the app indexes a committed capture, then queried: each parameter keeps
the event at its boundary and drops it one step beyond, nested fields match only through the
``INNER_`` forms, and a namespace URI (``ns#local``) finds what a CURIE finds. A Hypothesis test
compares ``EQ_INNER_`` / ``EXISTS_INNER_`` with a direct search of random nested extensions.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baas.apps.traceability.service import CaptureError, TraceabilityService, TraceabilitySettings, prepare_document
from ledger.crypto import ED25519, generate_keypair

FULL = Path(__file__).resolve().parents[2] / "apps" / "gs1_examples_full" / "object_event_all_possible_fields.jsonld"
EXT3 = "http://example.com/ext3/"


def gs1_document() -> dict[str, Any]:
    document = dict(json.loads(FULL.read_text()))
    # GS1's example uses the prefix "example" (component "example:x") without declaring it; our
    # validation refuses undeclared prefixes (rule R25), so the test declares it.
    document["@context"].append({"example": "http://ns.example.com/epcis/"})
    return document


def service(tmp_path: Path) -> TraceabilityService:
    """The query engine over a fresh index (no chain: nothing here talks to a gateway)."""
    settings = TraceabilitySettings(["http://127.0.0.1:9"], "unused", generate_keypair(ED25519),
                                    str(tmp_path / "index.sqlite3"), follow=False)
    return TraceabilityService(settings)


@pytest.fixture()
def indexed(tmp_path: Path) -> Iterator[TraceabilityService]:
    svc = service(tmp_path)
    other = gs1_document()
    event = other["epcisBody"]["eventList"][0]
    event["epcList"] = ["urn:epc:id:sgtin:0614141.107346.2019"]  # a second event without any extension
    event["quantityList"][0]["quantity"] = 150
    for key in [k for k in event if ":" in k]:
        del event[key]
    del event["ilmd"], event["sensorElementList"]
    for document in (gs1_document(), other):
        svc.store.add_events([e.indexed for e in prepare_document(document)], "org", "tx", 1)
    yield svc
    svc.store.close()


def count(svc: TraceabilityService, **params: str) -> int:
    rows, _ = svc.query({name: [value] for name, value in params.items()}, 100)
    return len(rows)


CASES = [
    # top-level extension fields: equality, numbers and times compared as such, presence
    ({"EQ_ext1:string": "string"}, 1), ({"EQ_ext1:string": "strin"}, 0),
    ({"EQ_ext1:float": "20.0"}, 1), ({"GE_ext1:int": "10"}, 1), ({"GT_ext1:int": "10"}, 0),
    ({"LE_ext1:int": "10"}, 1), ({"LT_ext1:int": "10"}, 0),
    ({"GE_ext1:time": "2013-06-08T16:58:56.591+02:00"}, 1), ({"GT_ext1:time": "2013-06-08T14:58:56.591Z"}, 0),
    ({"EXISTS_ext1:object": ""}, 1), ({"EXISTS_ext2:string": ""}, 0),
    # nested fields only through INNER_, at any depth, inside arrays too
    ({"EQ_ext3:string": "stringInObjectInObject"}, 0), ({"EQ_INNER_ext3:string": "stringInObjectInObject"}, 1),
    ({"EQ_INNER_ext3:string": "stringInObjectInObjectInArray"}, 1), ({"EQ_INNER_ext1:string": "string"}, 0),
    ({"EXISTS_INNER_ext2:object": ""}, 1), ({"GT_INNER_ext2:int": "12"}, 1), ({"GT_INNER_ext2:int": "13"}, 0),
    ({"EQ_INNER_ext2:array": "23"}, 1), ({"EQ_INNER_ext2:array": "24"}, 0),
    # the standard's "namespace#name" form finds what the CURIE finds
    ({f"EQ_INNER_{EXT3}#string": "stringInObjectInObject"}, 1),
    ({"EQ_INNER_http://example.com/other/#string": "stringInObjectInObject"}, 0),
    # ILMD, sensor element, sensor metadata and sensor report extensions
    ({"EQ_ILMD_cbvmda:lotNumber": "ABC123"}, 1), ({"GE_ILMD_cbvmda:netWeight": "3.5"}, 1),
    ({"GT_ILMD_cbvmda:netWeight": "3.5"}, 0), ({"EQ_ILMD_ext3:string": "stringInObjectInObject"}, 0),
    ({"EQ_INNER_ILMD_ext3:string": "stringInObjectInObject"}, 1), ({"EXISTS_INNER_ILMD_ext2:int": ""}, 1),
    ({"EXISTS_ILMD_ext2:int": ""}, 0),
    ({"EQ_SENSORELEMENT_ext1:default": "stringAsDefaultValue"}, 1),
    ({"EQ_INNER_SENSORELEMENT_ext2:string": "stringInObject"}, 1),
    ({"EQ_SENSORELEMENT_ext2:string": "stringInObject"}, 0),
    ({"EQ_SENSORMETADATA_ext1:someFurtherMetadata": "someText"}, 1),
    ({"EQ_SENSORREPORT_ext1:someFurtherReportData": "someText"}, 1),
    ({"EQ_SENSORREPORT_ext1:someFurtherMetadata": "someText"}, 0),
    # standard sensor fields
    ({"EQ_deviceID": "urn:epc:id:giai:4000001.111"}, 1), ({"EQ_deviceID": "urn:epc:id:giai:4000001.112"}, 0),
    ({"EQ_dataProcessingMethod": "https://example.com/gdti/4012345000054987"}, 1),
    ({"EQ_microorganism": "https://www.ncbi.nlm.nih.gov/taxonomy/1126011"}, 1),
    ({"EQ_stringValue": "SomeString"}, 1), ({"EQ_booleanValue": "true"}, 1), ({"EQ_booleanValue": "false"}, 0),
    ({"EQ_hexBinaryValue": "f0f0f0"}, 1), ({"EQ_uriValue": "https://id.gs1.org/giai/4000001111"}, 1),
    ({"GE_maxValue_CEL": "26.2"}, 1), ({"GT_maxValue_CEL": "26.2"}, 0), ({"LE_minValue_CEL": "26"}, 1),
    ({"LT_minValue_CEL": "26"}, 0), ({"GE_meanValue_CEL": "13.2"}, 1),
    # units converted exactly (13.2 CEL = 55.76 FAH = 286.35 KEL); a standard deviation by scale only
    ({"GE_meanValue_FAH": "55.76"}, 1), ({"GT_meanValue_FAH": "55.76"}, 0), ({"EQ_meanValue_KEL": "286.35"}, 1),
    ({"LE_meanValue_KEL": "286.35"}, 1), ({"LT_meanValue_KEL": "286.35"}, 0), ({"GE_meanValue_FAH": "13.2"}, 1),
    ({"EQ_sDev_FAH": "0.18"}, 1), ({"EQ_sDev_KEL": "0.1"}, 1), ({"GE_meanValue_KGM": "0"}, 0),
    ({"LE_sDev_CEL": "0.1"}, 1), ({"GT_percValue_CEL": "12.7"}, 0), ({"GE_percRank": "50"}, 1),
    ({"GT_percRank": "50"}, 0),
    ({"GE_time": "2019-07-19T15:00:00+02:00"}, 1), ({"GE_time": "2019-07-19T13:00:00.001Z"}, 0),
    ({"GE_startTime": "2019-04-02T12:55:01Z"}, 1), ({"LT_startTime": "2019-04-02T12:55:01Z"}, 0),
    ({"LT_endTime": "2019-04-02T13:55:00.001Z"}, 1), ({"LT_endTime": "2019-04-02T13:55:00Z"}, 0),
]


@pytest.mark.parametrize(("params", "expected"), CASES, ids=[next(iter(p)) + "=" + next(iter(p.values()))
                                                             for p, _ in CASES])
def test_parameter_on_gs1s_full_example(indexed: TraceabilityService, params: dict[str, str], expected: int) -> None:
    assert count(indexed, **params) == expected


@pytest.mark.parametrize("params", [{"GT_ext1:int": "ten"}, {"LT_INNER_ext2:int": "2013-13-01T00:00:00Z"},
                                    {"GE_time": "yesterday"}, {"EQ_booleanValue": "yes"}, {"GE_maxValue_CEL": "nan"},
                                    {"GE_errorDeclarationTime": "2020-02-30T00:00:00Z"}])
def test_bad_values_are_400_invalid_parameter(indexed: TraceabilityService, params: dict[str, str]) -> None:
    with pytest.raises(CaptureError) as refused:
        count(indexed, **params)
    assert refused.value.code == "INVALID_PARAMETER" and refused.value.status == 400


def test_error_declaration_extensions_and_time(tmp_path: Path) -> None:
    svc = service(tmp_path)
    document = gs1_document()
    svc.store.add_events([e.indexed for e in prepare_document(document)], "org", "tx", 1)
    assert count(svc, EXISTS_errorDeclaration="") == 0
    declared = copy.deepcopy(document)
    declared["epcisBody"]["eventList"][0]["errorDeclaration"] = {
        "declarationTime": "2020-01-15T00:00:00+01:00", "reason": "incorrect_data",
        "ext1:ticket": "T-17", "ext1:detail": {"ext2:code": "42"}}
    svc.store.add_events([e.indexed for e in prepare_document(declared)], "org", "tx2", 2)
    assert count(svc, EXISTS_errorDeclaration="") == 1
    assert count(svc, **{"EQ_ERROR_DECLARATION_ext1:ticket": "T-17"}) == 1
    assert count(svc, **{"EQ_ERROR_DECLARATION_ext2:code": "42"}) == 0
    assert count(svc, **{"GE_INNER_ERROR_DECLARATION_ext2:code": "42"}) == 1
    assert count(svc, GE_errorDeclarationTime="2020-01-14T23:00:00Z") == 1
    assert count(svc, GE_errorDeclarationTime="2020-01-14T23:00:00.001Z") == 0
    assert count(svc, LT_errorDeclarationTime="2020-01-14T23:00:00.001Z") == 1
    svc.store.close()


def test_an_index_from_before_the_fields_table_is_backfilled(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.store.add_events([e.indexed for e in prepare_document(gs1_document())], "org", "tx", 1)
    connection = svc.store._connection()
    connection.execute("DELETE FROM fields")
    connection.execute("DELETE FROM meta WHERE k = 'fields_indexed'")
    svc.store.close()
    reopened = service(tmp_path)
    assert count(reopened, **{"EQ_INNER_ext3:string": "stringInObjectInObject"}) == 1
    reopened.store.close()


# --- property: EQ_INNER_ / EXISTS_INNER_ against a direct search of the nested structure -----------------

NAMES = st.sampled_from(["ext1:a", "ext1:b", "ext2:a", "ext2:c"])
LEAVES = st.sampled_from(["x", "y", "7", "8.5"])
NESTED: Any = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=3), st.dictionaries(NAMES, inner, min_size=1, max_size=3)), max_leaves=8)


def nested_values(value: Any, name: str) -> Iterator[str]:
    """Leaf values of every field ``name`` strictly inside ``value`` (what EQ_INNER_ means)."""
    if isinstance(value, list):
        for item in value:
            yield from nested_values(item, name)
    elif isinstance(value, dict):
        for key, child in value.items():
            if key == name:
                yield from leaves(child)
                yield ""  # present
            yield from nested_values(child, name)


def leaves(value: Any) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from leaves(item)
    elif not isinstance(value, dict):
        yield value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extensions=st.dictionaries(NAMES, NESTED, min_size=1, max_size=3), name=NAMES, value=LEAVES)
def test_inner_parameters_match_a_direct_search(tmp_path: Path, extensions: dict[str, Any], name: str,
                                                value: str) -> None:
    document = gs1_document()
    event = {k: v for k, v in document["epcisBody"]["eventList"][0].items() if ":" not in k}
    event.update(extensions)
    document["epcisBody"]["eventList"] = [event]
    document["@context"] = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                            {"ext1": "http://example.com/ext1/", "ext2": "http://example.com/ext2/",
                             "ext3": EXT3, "example": "http://ns.example.com/epcis/"}]
    directory = tmp_path / f"h{abs(hash(json.dumps(extensions, sort_keys=True)))}_{name}_{value}"
    directory.mkdir(exist_ok=True)
    svc = service(directory)
    try:
        svc.store.add_events([e.indexed for e in prepare_document(document)], "org", "tx", 1)
        found = [v for top in extensions.values() for v in nested_values(top, name)]
        assert count(svc, **{f"EXISTS_INNER_{name}": ""}) == (1 if found else 0)
        assert count(svc, **{f"EQ_INNER_{name}": value}) == (1 if value in found else 0)
        namespace, local = {"ext1": "http://example.com/ext1/", "ext2": "http://example.com/ext2/"}[
            name.split(":")[0]], name.split(":")[1]
        assert count(svc, **{f"EQ_INNER_{namespace}#{local}": value}) == (1 if value in found else 0)
        top_level = [v for key, top in extensions.items() if key == name for v in leaves(top)]
        assert count(svc, **{f"EQ_{name}": value}) == (1 if value in top_level else 0)
    finally:
        svc.store.close()


@pytest.mark.parametrize(("params", "expected"), [
    ({"GE_quantity_KGM": "200"}, 1), ({"GT_quantity_KGM": "200"}, 0), ({"EQ_quantity_KGM": "200.0"}, 1),
    ({"LE_quantity_KGM": "150"}, 1), ({"LT_quantity_KGM": "150"}, 0), ({"GE_quantity_LTR": "1"}, 0),
    ({"GE_quantity_KGM": "150"}, 2)])
def test_quantity_in_a_unit(indexed: TraceabilityService, params: dict[str, str], expected: int) -> None:
    """200 KGM and 150 KGM of a lot: the unit must match exactly (no conversion)."""
    assert count(indexed, **params) == expected


# --- property: any parameter of these families is answered or refused with a stable code, never a crash -----

FAMILIES = st.sampled_from(["EQ_", "GT_", "GE_", "LT_", "LE_", "EXISTS_", "EQ_INNER_", "GT_INNER_", "EXISTS_INNER_",
                            "EQ_ILMD_", "LT_INNER_SENSORREPORT_", "EQ_ERROR_DECLARATION_", "GE_readPoint_",
                            "HASATTR_", "EQ_ATTR_", "EQ_ATTR_readPoint_", "GE_maxValue_", "EQ_quantity_", "GE_",
                            "LT_time", "EQ_booleanValue", "EQ_deviceID", "GE_errorDeclarationTime"])
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(family=FAMILIES, suffix=st.one_of(TEXT, st.sampled_from(["ext1:int", "ext1:time", "http://x/#y", "CEL",
                                                                "readPoint", "bizLocation_a:b", ""])),
       values=st.lists(st.one_of(TEXT, st.sampled_from(["10", "2013-06-08T14:58:56.591Z", "true", "nan", "1e999"])),
                       max_size=3))
def test_query_parameters_never_crash(indexed: TraceabilityService, family: str, suffix: str,
                                      values: list[str]) -> None:
    from baas.apps.traceability.identifiers import IdentifierError

    try:
        rows, _ = indexed.query({family + suffix: values}, 10)
    except CaptureError as refused:
        assert refused.status == 400 and refused.code == "INVALID_PARAMETER"
    except IdentifierError:
        pass  # the app answers 400 IDENTIFIER_INVALID
    else:
        assert len(rows) <= 2


def test_a_namespace_ending_in_a_hash_is_found_with_one_or_two_hashes(tmp_path: Path) -> None:
    svc = service(tmp_path)
    document = gs1_document()
    event = {k: v for k, v in document["epcisBody"]["eventList"][0].items() if ":" not in k}
    event.update({"hx:grade": "A"})
    document["epcisBody"]["eventList"] = [event]
    document["@context"].append({"hx": "http://hash.example.org/ns#"})
    svc.store.add_events([e.indexed for e in prepare_document(document)], "org", "tx", 1)
    for name in ("EQ_hx:grade", "EQ_http://hash.example.org/ns##grade", "EQ_http://hash.example.org/ns#grade"):
        assert count(svc, **{name: "A"}) == 1, name
    assert count(svc, **{"EQ_http://hash.example.org/other#grade": "A"}) == 0
    svc.store.close()
