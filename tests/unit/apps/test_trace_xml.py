"""The EPCIS 2.0 XML binding: GS1's XML example hashes as GS1's reference implementation reads it, every
JSON example survives JSON → XML → JSON with the same event hashes, and the parser refuses XXE."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from baas.apps.traceability.eventhash import event_hash, pre_hash_string
from baas.apps.traceability.service import prepare_document
from baas.apps.traceability.xml_binding import XmlBindingError, parse_document, render_document, render_query_document

APPS = Path(__file__).resolve().parents[2] / "apps"
XML_EXAMPLE = APPS / "gs1_examples_xml" / "Example-ObjectEvent_9.6.1.xml"
JSON_EXAMPLES = sorted((APPS / "gs1_examples").glob("**/*.jsonld")) + sorted((APPS / "epcis_examples").glob("*.jsonld"))

xml_oracle = pytest.importorskip("epcis_event_hash_generator.xml_to_py")
hash_oracle = pytest.importorskip("epcis_event_hash_generator.hash_generator")


def test_gs1_xml_example_hashes_like_the_reference_implementation_reads_xml() -> None:
    data = XML_EXAMPLE.read_bytes()
    document = parse_document(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = hash_oracle.derive_prehashes_from_events(xml_oracle.event_list_from_epcis_document_str(data.decode()))
    assert [pre_hash_string(e, document["@context"]) for e in document["epcisBody"]["eventList"]] == expected
    assert len(prepare_document(document)) == 2


def test_the_same_event_in_both_bindings_has_the_same_hash() -> None:
    xml = parse_document(XML_EXAMPLE.read_bytes())
    json_document = json.loads((APPS / "gs1_examples" / "Example_9.6.1-ObjectEvent.jsonld").read_text())
    xml_first, json_first = xml["epcisBody"]["eventList"][0], json_document["epcisBody"]["eventList"][0]
    assert event_hash(xml_first, xml["@context"]) == event_hash(json_first, json_document["@context"])
    # the second event's extension namespace is written 'http://ns.example.com/epcis' in XML and with a
    # trailing '/' in JSON-LD: two different extensions, two different events
    assert event_hash(xml["epcisBody"]["eventList"][1], xml["@context"]) != \
        event_hash(json_document["epcisBody"]["eventList"][1], json_document["@context"])


@pytest.mark.parametrize("path", JSON_EXAMPLES, ids=[p.name for p in JSON_EXAMPLES])
def test_json_to_xml_to_json_keeps_every_event(path: Path) -> None:
    document = json.loads(path.read_text())
    back = parse_document(render_document(document))
    before = [event_hash(e, document["@context"]) for e in document["epcisBody"]["eventList"]]
    after = [event_hash(e, back["@context"]) for e in back["epcisBody"]["eventList"]]
    assert after == before
    assert [p.hash_id for p in prepare_document(back)] == before


def test_query_documents_read_back() -> None:
    document = json.loads((APPS / "gs1_examples" / "SensorDataExample3.jsonld").read_text())
    events = document["epcisBody"]["eventList"]
    xml = render_query_document(events, "2024-01-01T00:00:00Z", "SimpleEventQuery", subscription_id="s1")
    assert b"<queryName>SimpleEventQuery</queryName>" in xml and b"<subscriptionID>s1</subscriptionID>" in xml
    back = parse_document(xml)
    assert [event_hash(e) for e in back["epcisBody"]["eventList"]] == [event_hash(e) for e in events]


@pytest.mark.parametrize("payload", [
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b'<EPCISDocument><EPCISBody><EventList><ObjectEvent><eventTime>&e;</eventTime></ObjectEvent></EventList>'
    b'</EPCISBody></EPCISDocument>',
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><EPCISDocument><EPCISBody><EventList><ObjectEvent>'
    b'<eventTime>&c;</eventTime></ObjectEvent></EventList></EPCISBody></EPCISDocument>',
])
def test_entities_are_never_expanded(payload: bytes) -> None:
    try:
        document = parse_document(payload)
    except XmlBindingError:
        return
    text = json.dumps(document)
    assert "root:" not in text and "aaaaaaaaaa" not in text


@pytest.mark.parametrize("payload, message", [
    (b"not xml", "not well-formed"), (b"<Other/>", "root element"), (b"<EPCISDocument/>", "no EventList"),
    (b"<EPCISDocument><EPCISBody><EventList><Bogus/></EventList></EPCISBody></EPCISDocument>", "not an EPCIS event"),
    (b"<EPCISDocument><EPCISBody><EventList><ObjectEvent><quantityList><quantityElement><quantity>many</quantity>"
     b"</quantityElement></quantityList></ObjectEvent></EventList></EPCISBody></EPCISDocument>", "not a number"),
])
def test_malformed_xml_gets_a_clear_error(payload: bytes, message: str) -> None:
    with pytest.raises(XmlBindingError, match=message):
        parse_document(payload)
