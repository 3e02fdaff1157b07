"""The CBV 2.0 event hash: GS1's published vector and the rules of the algorithm, one by one."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from baas.apps.traceability.eventhash import (
    EventHashError, event_hash, hash_hex, normalise_time, pre_hash_string, time_millis,
)

# GS1 reference implementation (epcis-event-hash-generator 1.9.3, the single-event example): the event as
# JSON-LD, its pre-hash string and hash ID as that version computes them (typed lists: type first, CBV 2.0).
GS1_EVENT: dict[str, Any] = {
    "type": "ObjectEvent",
    "action": "OBSERVE",
    "bizStep": "shipping",
    "disposition": "in_transit",
    "epcList": ["urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107346.2018"],
    "eventTime": "2022-02-16T20:33:31.116000-06:00",
    "eventTimeZoneOffset": "-06:00",
    "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"},
    "bizTransactionList": [{"type": "po", "bizTransaction": "http://transaction.acme.com/po/12345678"}],
}
GS1_PRE_HASH = (
    "eventType=ObjectEventeventTime=2022-02-17T02:33:31.116ZeventTimeZoneOffset=-06:00"
    "epcListepc=https://id.gs1.org/01/10614141073464/21/2017epc=https://id.gs1.org/01/10614141073464/21/2018"
    "action=OBSERVEbizStep=https://ref.gs1.org/cbv/BizStep-shippingdisposition=https://ref.gs1.org/cbv/Disp-in_transit"
    "readPointid=https://id.gs1.org/414/0614141073467/254/1234"
    "bizTransactionListtype=https://ref.gs1.org/cbv/BTT-pobizTransaction=http://transaction.acme.com/po/12345678"
)
GS1_HASH = "ni:///sha-256;ffa491b16867e34a7791a8d5389d826afc24e63a121026b6a4004ace38631b4b?ver=CBV2.0"

EXAMPLES = Path(__file__).resolve().parents[2] / "apps" / "epcis_examples"


def test_published_gs1_vector() -> None:
    assert pre_hash_string(GS1_EVENT) == GS1_PRE_HASH
    assert event_hash(GS1_EVENT) == GS1_HASH
    assert hash_hex(GS1_HASH) == hashlib.sha256(GS1_PRE_HASH.encode()).hexdigest()


def test_the_same_event_written_differently_has_the_same_hash() -> None:
    variant = {
        "readPoint": {"id": "https://example.com/414/0614141073467/254/1234?linkType=gs1:pip"},  # custom domain
        "bizTransactionList": [{"type": "urn:epcglobal:cbv:btt:po",
                                "bizTransaction": " http://transaction.acme.com/po/12345678 "}],
        "eventTimeZoneOffset": "-06:00",
        "epcList": ["https://id.gs1.org/01/10614141073464/21/2018", "urn:epc:id:sgtin:0614141.107346.2017"],
        "disposition": "https://ref.gs1.org/cbv/Disp-in_transit",
        "bizStep": "urn:epcglobal:cbv:bizstep:shipping",
        "eventTime": "2022-02-17T02:33:31.1155Z",  # rounds half up to .116
        "action": "OBSERVE",
        "type": "ObjectEvent",
        "eventID": "urn:uuid:7c1d8bfa-1b4c-4a0d-9f3f-8b6c1bd9d001",  # not hashed
        "recordTime": "2030-01-01T00:00:00Z",  # not hashed
    }
    assert event_hash(variant) == GS1_HASH


def test_error_declaration_keeps_the_hash_of_the_event_it_declares() -> None:
    declared = copy.deepcopy(GS1_EVENT)
    declared["errorDeclaration"] = {"declarationTime": "2022-02-18T00:00:00Z", "reason": "incorrect_data"}
    assert event_hash(declared) == GS1_HASH


@pytest.mark.parametrize("field, value", [
    ("eventTime", "2022-02-16T20:33:31.117-06:00"),
    ("action", "ADD"),
    ("bizStep", "receiving"),
    ("disposition", "in_progress"),
    ("epcList", ["urn:epc:id:sgtin:0614141.107346.2017"]),
    ("readPoint", {"id": "urn:epc:id:sgln:0614141.07346.0"}),
    ("bizLocation", {"id": "urn:epc:id:sgln:0614141.07346.0"}),
    ("example:note", "added"),
])
def test_any_relevant_change_changes_the_hash(field: str, value: Any) -> None:
    changed = copy.deepcopy(GS1_EVENT)
    changed[field] = value
    assert event_hash(changed) != GS1_HASH


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert normalise_time("2020-03-04T11:00:30+01:00") == "2020-03-04T10:00:30.000Z"
    assert normalise_time("2020-03-04T23:59:59.9996-01:30") == "2020-03-05T01:30:00.000Z"
    assert normalise_time("2020-03-04T10:00:30.1234Z") == "2020-03-04T10:00:30.123Z"
    assert time_millis("1970-01-01T00:00:01.5Z") == 1500
    with pytest.raises(EventHashError):
        normalise_time("2020-03-04 10:00")


def test_canonical_order_quantities_sensors_and_extensions() -> None:
    event = {
        "type": "ObjectEvent",
        "@context": [{"ex": "https://ns.example.com/epcis/"}],
        "eventTime": "2020-01-01T00:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "ex:zeta": "1",
        "ex:alpha": {"ex:b": 2.50, "ex:a": "x"},
        "action": "OBSERVE",
        "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 200.0, "uom": "KGM"},
                         {"epcClass": "urn:epc:idpat:sgtin:4012345.011111.*", "quantity": 1}],
        "persistentDisposition": {"unset": ["completeness_inferred"], "set": ["completeness_verified"]},
        "sensorElementList": [{"sensorMetadata": {"time": "2020-01-01T01:00:00+01:00"},
                               "sensorReport": [{"type": "Temperature", "value": 26.0, "uom": "CEL"},
                                                {"type": "Humidity", "value": 12.1, "uom": "A93"}]}],
        "ilmd": {"ex:lot": "L1", "ex:best": "2021"},
    }
    assert pre_hash_string(event) == (
        "eventType=ObjectEventeventTime=2020-01-01T00:00:00.000ZeventTimeZoneOffset=+00:00"
        "quantityList"
        "quantityElementepcClass=https://id.gs1.org/01/04012345111118quantity=1"
        "quantityElementepcClass=https://id.gs1.org/01/04012345123456/10/998877quantity=200uom=KGM"
        "action=OBSERVE"
        "persistentDispositionset=https://ref.gs1.org/cbv/Disp-completeness_verified"
        "unset=https://ref.gs1.org/cbv/Disp-completeness_inferred"
        "sensorElementListsensorElementsensorMetadatatime=2020-01-01T00:00:00.000Z"
        "sensorReporttype=https://gs1.org/voc/Humidityvalue=12.1uom=A93"
        "sensorReporttype=https://gs1.org/voc/Temperaturevalue=26uom=CEL"
        "ilmd{https://ns.example.com/epcis/}best=2021{https://ns.example.com/epcis/}lot=L1"
        "{https://ns.example.com/epcis/}alpha{https://ns.example.com/epcis/}a=x{https://ns.example.com/epcis/}b=2.5"
        "{https://ns.example.com/epcis/}zeta=1"
    )


def test_every_example_document_hashes_uniquely() -> None:
    hashes = []
    for path in sorted(EXAMPLES.glob("*.jsonld")):
        document = json.loads(path.read_text())
        hashes += [event_hash(e, document["@context"]) for e in document["epcisBody"]["eventList"]]
    assert len(hashes) == len(set(hashes)) >= 8
    assert all(h.startswith("ni:///sha-256;") and h.endswith("?ver=CBV2.0") for h in hashes)
