"""The standard's invalid-document rules: one capture document breaking each, each refused with its code.

Every row starts from one valid EPCIS 2.0 document (checked valid first) and breaks one rule of EPCIS
2.0 / CBV 2.0 / TDS 2.x; ``prepare_document`` (what ``POST /capture`` runs before anything touches
the chain) must refuse it with a 400, a stable code and the rule's id at the offending path. The
table is the one in docs/traceability.md ("Invalid-document rules").
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from baas.apps.traceability.service import CaptureError, prepare_document

GS1 = Path(__file__).resolve().parents[2] / "apps" / "gs1_examples"

BASE: dict[str, Any] = {
    "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                 {"ex": "https://ns.example.com/epcis/"}],
    "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-03-01T08:00:00+08:00",
    "epcisBody": {"eventList": [
        {"type": "ObjectEvent", "eventTime": "2024-03-01T08:00:00+08:00", "eventTimeZoneOffset": "+08:00",
         "action": "ADD", "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"], "bizStep": "commissioning",
         "disposition": "active", "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.0"},
         "ilmd": {"ex:lotNumber": "L1"},
         "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:1"}],
         "sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:0614141.00000"}],
         "sensorElementList": [{"sensorMetadata": {"time": "2024-03-01T08:00:00+08:00",
                                                   "bizRules": "https://example.org/rules/cold-chain"},
                                "sensorReport": [{"type": "Temperature", "value": 4.5, "uom": "CEL",
                                                  "exception": "ALARM_CONDITION",
                                                  "bizRules": "https://example.org/rules/cold-chain"}]}],
         "ex:note": "x"},
        {"type": "AggregationEvent", "eventTime": "2024-03-01T09:00:00Z", "eventTimeZoneOffset": "+00:00",
         "action": "ADD", "parentID": "urn:epc:id:sscc:0614141.1234567890",
         "childEPCs": ["urn:epc:id:sgtin:0614141.107346.2017"]},
        {"type": "TransactionEvent", "eventTime": "2024-03-01T10:00:00Z", "eventTimeZoneOffset": "+00:00",
         "action": "ADD", "epcList": ["urn:epc:id:sscc:0614141.1234567890"],
         "bizTransactionList": [{"type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:2"}]},
        {"type": "TransformationEvent", "eventTime": "2024-03-01T11:00:00Z", "eventTimeZoneOffset": "+00:00",
         "inputEPCList": ["urn:epc:id:sgtin:0614141.107346.2017"],
         "outputQuantityList": [{"epcClass": "urn:epc:class:lgtin:0614141.107346.L2", "quantity": 2, "uom": "KGM"}]},
        {"type": "AssociationEvent", "eventTime": "2024-03-01T12:00:00Z", "eventTimeZoneOffset": "+00:00",
         "action": "ADD", "parentID": "urn:epc:id:grai:4012345.55555.987", "childEPCs": ["urn:epc:id:giai:4000001.12345"],
         "errorDeclaration": {"declarationTime": "2024-03-02T00:00:00Z", "reason": "incorrect_data"}},
    ]},
}

Mutation = Callable[[dict[str, Any]], None]


def event(index: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda document: document["epcisBody"]["eventList"][index]


def set_field(index: int, path: list[Any], value: Any) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        target = event(index)(document)
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def delete_field(index: int, path: list[Any]) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        target = event(index)(document)
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


# (rule id in the docs table, what the standard says, mutation, expected code, expected rule)
RULES: list[tuple[str, str, Mutation, str, str]] = [
    ("R01", "an event has eventTime", delete_field(0, ["eventTime"]), "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R02", "an event has eventTimeZoneOffset in -14:00..+14:00", set_field(0, ["eventTimeZoneOffset"], "+15:00"),
     "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R03", "eventTime is a real date: no month 13", set_field(0, ["eventTime"], "2024-13-01T00:00:00Z"),
     "TIME_INVALID", "TIME-INVALID"),
    ("R04", "eventTime is a real date: no 30 February", set_field(0, ["eventTime"], "2024-02-30T00:00:00Z"),
     "TIME_INVALID", "TIME-INVALID"),
    ("R05", "eventTime is a real time: no hour 25", set_field(0, ["eventTime"], "2024-03-01T25:00:00Z"),
     "TIME_INVALID", "TIME-INVALID"),
    ("R06", "timestamps carry a time zone", set_field(0, ["eventTime"], "2024-03-01T08:00:00"),
     "TIME_INVALID", "TIME-INVALID"),
    ("R07", "sensor times are real times too",
     set_field(0, ["sensorElementList", 0, "sensorMetadata", "time"], "2024-02-30T00:00:00Z"),
     "TIME_INVALID", "TIME-INVALID"),
    ("R08", "action is ADD, OBSERVE or DELETE", set_field(0, ["action"], "MOVE"), "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R09", "an ObjectEvent has an epcList, a quantityList or sensor data at a readPoint",
     lambda d: [delete_field(0, ["epcList"])(d), delete_field(0, ["sensorElementList"])(d)],
     "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R10", "ILMD only on ObjectEvent ADD", set_field(0, ["action"], "OBSERVE"), "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R11", "an AggregationEvent ADD has children", delete_field(1, ["childEPCs"]), "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R12", "an AggregationEvent ADD/DELETE has a parentID", delete_field(1, ["parentID"]),
     "DOCUMENT_INVALID", "AGGREGATION-PARENT"),
    ("R13", "a TransactionEvent has a bizTransactionList", delete_field(2, ["bizTransactionList"]),
     "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R14", "a TransformationEvent has inputs and outputs (or a transformationID)",
     delete_field(3, ["outputQuantityList"]), "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R15", "an AssociationEvent has a parentID", delete_field(4, ["parentID"]), "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R16", "an errorDeclaration has a declarationTime", delete_field(4, ["errorDeclaration", "declarationTime"]),
     "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R17", "a quantity element has a quantity", delete_field(3, ["outputQuantityList", 0, "quantity"]),
     "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R18", "uom is a UN/CEFACT code", set_field(3, ["outputQuantityList", 0, "uom"], "kilogram"),
     "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R19", "a source has a type", delete_field(0, ["sourceList", 0, "type"]), "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R20", "a sensor report has a type", delete_field(0, ["sensorElementList", 0, "sensorReport", 0, "type"]),
     "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R21", "eventID is a URI", set_field(0, ["eventID"], "event 1"), "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R22", "a bare bizStep is a standard CBV term", set_field(0, ["bizStep"], "transforming"),
     "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R23", "a CBV URN names a standard term", set_field(0, ["bizStep"], "urn:epcglobal:cbv:bizstep:transforming"),
     "DOCUMENT_INVALID", "CBV-VOCABULARY"),
    ("R24", "a CBV Web URI names a standard term", set_field(0, ["disposition"], "https://ref.gs1.org/cbv/Disp-fresh"),
     "DOCUMENT_INVALID", "CBV-VOCABULARY"),
    ("R25", "a user vocabulary value is in a declared namespace", set_field(0, ["bizStep"], "acme:blending"),
     "DOCUMENT_INVALID", "CBV-VOCABULARY"),
    ("R26", "a bizTransaction type is a standard term or a URI",
     set_field(0, ["bizTransactionList", 0, "type"], "purchase_order"), "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R27", "a sensor alert type is a standard term or a URI",
     set_field(0, ["sensorElementList", 0, "sensorReport", 0, "exception"], "HOT"), "SCHEMA_INVALID",
     "EPCIS-SCHEMA"),
    ("R28", "an error reason is a standard term or a URI in a declared namespace",
     set_field(4, ["errorDeclaration", "reason"], "typo:wrong"), "DOCUMENT_INVALID", "CBV-VOCABULARY"),
    ("R29", "ILMD fields are namespaced", set_field(0, ["ilmd"], {"lotNumber": "L1"}), "SCHEMA_INVALID",
     "EPCIS-SCHEMA"),
    ("R30", "ILMD namespaces are declared", set_field(0, ["ilmd"], {"acme:lotNumber": "L1"}),
     "DOCUMENT_INVALID", "ILMD-NAMESPACE"),
    ("R31", "an un-prefixed unknown field is not an extension", set_field(0, ["note"], "x"),
     "SCHEMA_INVALID", "JADE-SCHEMA"),
    ("R32", "extension namespaces are declared", set_field(0, ["acme:note"], "x"),
     "DOCUMENT_INVALID", "EXTENSION-NAMESPACE"),
    ("R33", "EPCs are well-formed TDS URIs", set_field(0, ["epcList"], ["urn:epc:id:sgtin:0614141.1073460.2017"]),
     "EVENT_INVALID", "IDENTIFIER-INVALID"),
    ("R34", "GS1 keys have a right check digit",
     set_field(0, ["epcList"], ["https://id.gs1.org/01/10614141073465/21/2017"]), "EVENT_INVALID",
     "IDENTIFIER-INVALID"),
    ("R35", "a document has an @context", lambda d: d.pop("@context"), "SCHEMA_INVALID", "EPCIS-SCHEMA"),
    ("R36", "a document has a creationDate that is a real date",
     lambda d: d.__setitem__("creationDate", "2024-02-30T00:00:00Z"), "TIME_INVALID", "TIME-INVALID"),
]


def test_the_base_document_and_gs1_examples_are_valid() -> None:
    assert len(prepare_document(copy.deepcopy(BASE))) == 5
    for path in sorted(GS1.glob("**/*.jsonld")):
        assert prepare_document(json.loads(path.read_text())), path.name


@pytest.mark.parametrize("rule, says, mutate, code, rule_id", RULES, ids=[row[0] for row in RULES])
def test_each_invalid_document_rule_rejects(rule: str, says: str, mutate: Mutation, code: str, rule_id: str) -> None:
    document = copy.deepcopy(BASE)
    mutate(document)
    with pytest.raises(CaptureError) as refused:
        prepare_document(document)
    assert refused.value.status == 400, says
    assert refused.value.code == code, (says, refused.value.details)
    assert rule_id in {error["rule"] for error in refused.value.details}, (says, refused.value.details)


def test_valid_documents_the_issue_says_were_refused_are_accepted() -> None:
    document = copy.deepcopy(BASE)  # bizRules in a sensor report (BASE has it) and a user bizStep as a full URI
    document["epcisBody"]["eventList"][0]["bizStep"] = "https://ns.example.com/epcis/blending"
    document["epcisBody"]["eventList"][1]["bizStep"] = "ex:palletising"
    document["epcisBody"]["eventList"][2]["disposition"] = "urn:epcglobal:cbv:disp:in_transit"
    assert len(prepare_document(document)) == 5
