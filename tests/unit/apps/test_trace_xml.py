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
JSON_EXAMPLES = (sorted((APPS / "gs1_examples").glob("**/*.jsonld")) + sorted((APPS / "epcis_examples").glob("*.jsonld"))
                 + sorted((APPS / "gs1_examples_errors").glob("*.jsonld")))

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
    (b"<EPCISDocument><EPCISBody><EventList/></EPCISBody></EPCISDocument>", "No matching global declaration"),
    (b'<e:EPCISDocument xmlns:e="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" creationDate="2024-01-01T00:00:00Z">'
     b"<EPCISBody><EventList><Bogus/></EventList></EPCISBody></e:EPCISDocument>", "'Bogus': This element is not expected"),
    (b'<e:EPCISDocument xmlns:e="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" creationDate="2024-01-01T00:00:00Z">'
     b"<EPCISBody><EventList><ObjectEvent><eventTime>2024-01-01T00:00:00Z</eventTime>"
     b"<eventTimeZoneOffset>+00:00</eventTimeZoneOffset><epcList/><action>ADD</action><quantityList><quantityElement>"
     b"<epcClass>urn:epc:class:lgtin:4012345.012345.998877</epcClass><quantity>many</quantity>"
     b"</quantityElement></quantityList></ObjectEvent></EventList></EPCISBody></e:EPCISDocument>", "'many' is not a valid"),
])
def test_malformed_xml_gets_a_clear_error(payload: bytes, message: str) -> None:
    with pytest.raises(XmlBindingError, match=message):
        parse_document(payload)


# --- GS1's EPCIS 2.0 XSD (xml_schema.py) -----------------------------------------------------------------

from lxml import etree  # noqa: E402

from baas.apps.traceability import xml_schema  # noqa: E402
from baas.apps.traceability.xml_binding import XmlSchemaError  # noqa: E402

_HEAD = (b'<?xml version="1.0" encoding="UTF-8"?><epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" '
         b'xmlns:ex="https://ns.example.com/epcis/" schemaVersion="2.0" creationDate="2024-03-01T10:00:00Z">'
         b"<EPCISBody><EventList>")
_TAIL = b"</EventList></EPCISBody></epcis:EPCISDocument>"
_EVENT = (b"<ObjectEvent><eventTime>2024-03-01T09:00:00.000+01:00</eventTime>"
          b"<eventTimeZoneOffset>+01:00</eventTimeZoneOffset><epcList><epc>urn:epc:id:sgtin:4012345.011111.1</epc>"
          b"</epcList><action>OBSERVE</action><bizStep>urn:epcglobal:cbv:bizstep:receiving</bizStep>"
          b"<readPoint><id>urn:epc:id:sgln:4012345.00001.0</id></readPoint></ObjectEvent>")


def test_a_valid_epcis_2_0_document_passes_the_xsd_and_parses() -> None:
    document = parse_document(_HEAD + _EVENT + _TAIL)
    assert document["epcisBody"]["eventList"][0]["epcList"] == ["urn:epc:id:sgtin:4012345.011111.1"]


def test_gs1_xml_example_conforms_to_gs1_xsd() -> None:
    root = etree.fromstring(XML_EXAMPLE.read_bytes())
    assert xml_schema.schema_errors(root) == []


@pytest.mark.parametrize("path", JSON_EXAMPLES, ids=lambda p: p.name)
def test_every_json_example_rendered_to_xml_conforms_to_gs1_xsd(path: Path) -> None:
    xml = render_document(json.loads(path.read_text()))
    assert xml_schema.schema_errors(etree.fromstring(xml)) == []


# Each document is well-formed and the JSON-side conversion would accept it; GS1's XSD refuses it.
@pytest.mark.parametrize("event, message", [
    (_EVENT.replace(b"<action>OBSERVE</action>", b"<action>observe</action>"), "'observe' is not an element of"),
    (_EVENT.replace(b"<eventTimeZoneOffset>+01:00</eventTimeZoneOffset>", b""), "eventTimeZoneOffset"),
    (_EVENT.replace(b"09:00:00.000+01:00", b"09:00:00.000"), "is not accepted by the pattern"),  # no time zone
    (_EVENT.replace(b"<bizStep>urn:epcglobal:cbv:bizstep:receiving</bizStep>", b"")
     .replace(b"</readPoint>", b"</readPoint><bizStep>urn:epcglobal:cbv:bizstep:receiving</bizStep>"),
     "'bizStep': This element is not expected"),  # out of the XSD's order
    (_EVENT.replace(b"<readPoint><id>", b"<readPoint><ex:x>1</ex:x><id>"), "'ex:x'|not expected"),
    (_EVENT.replace(b"<epcList>", b"<epcList><unknown/>"), "'unknown': This element is not expected"),
    (_EVENT.replace(b"</readPoint>", b"</readPoint><sensorElementList><sensorElement><sensorReport "
                    b'type="gs1:Temperature" value="warm"/></sensorElement></sensorElementList>'),
     "'warm' is not a valid value"),
])
def test_xsd_invalid_documents_are_refused_with_a_stable_code(event: bytes, message: str) -> None:
    with pytest.raises(XmlSchemaError, match=message) as caught:
        parse_document(_HEAD + event + _TAIL)
    assert caught.value.code == "XML_SCHEMA_INVALID"


def test_the_xsd_loads_only_local_files_and_gs1s_file_is_vendored_unchanged() -> None:
    tree = xml_schema._schema_tree()
    imports = [node.get("schemaLocation") for node in tree.getroot().iter("{http://www.w3.org/2001/XMLSchema}import")]
    assert imports and all(str(loc).startswith(xml_schema.SCHEMA_DIR.as_uri()) for loc in imports)
    original = xml_schema.EPCIS_XSD.read_text(encoding="utf-8")
    assert 'targetNamespace="urn:epcglobal:epcis:xsd:2"' in original and "xsd:dateTimeStamp" in original
    assert "Copyright (C) 2006-2021 GS1 AISBL" in original


def test_xsi_schema_location_hints_are_never_fetched() -> None:
    import http.server
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        hint = (f' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:epcglobal:epcis:xsd:2 '
                f'{url}/epcis.xsd https://ns.example.com/epcis/ file:///etc/passwd"').encode()
        document = parse_document(_HEAD.replace(b' schemaVersion=', hint + b' schemaVersion=', 1) + _EVENT + _TAIL)
        assert document["epcisBody"]["eventList"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert hits == []


def test_gs1s_all_fields_example_survives_json_to_xml_to_json() -> None:
    """Nested extensions at every place, and a sensor component given as a CURIE of a declared prefix:
    the XML carries the component as its full URI (an XML attribute has no JSON-LD context), the XSD
    accepts the XML, and the event read back hashes as the original."""
    document = json.loads((APPS / "gs1_examples_full" / "object_event_all_possible_fields.jsonld").read_text())
    document["@context"].append({"example": "http://ns.example.com/epcis/"})  # GS1 forgot to declare it
    xml = render_document(document)
    assert b'component="http://ns.example.com/epcis/x"' in xml
    assert xml_schema.schema_errors(etree.fromstring(xml)) == []
    before = [event_hash(e, document["@context"]) for e in document["epcisBody"]["eventList"]]
    back = parse_document(xml)
    assert [p.hash_id for p in prepare_document(back)] == before
    # the capturer's prefixes survive: ``EQ_INNER_ext3:string`` finds the event in either binding
    assert b"<ext1:string>string</ext1:string>" in xml and back["@context"][1]["ext3"] == "http://example.com/ext3/"


def test_master_data_travels_in_both_bindings() -> None:
    """GS1's example 9.8.1 vocabularies in a document's header: written as XML they conform to GS1's XSD
    and read back as the same elements; a master data query answered in XML lists them too."""
    from baas.apps.traceability.service import _master_data_elements
    from baas.apps.traceability.xml_binding import render_vocabulary_query_document

    vocabularies = json.loads((APPS / "gs1_examples_full" / "Example_9.8.1-MasterData-complying-with-schema-fixed"
                               ".jsonld").read_text())["epcisHeader"]["epcisMasterData"]["vocabularyList"]
    document = json.loads((APPS / "gs1_examples" / "Example_9.6.1-ObjectEvent.jsonld").read_text())
    document["epcisHeader"] = {"epcisMasterData": {"vocabularyList": vocabularies}}
    xml = render_document(document)
    assert xml_schema.schema_errors(etree.fromstring(xml)) == []
    back = parse_document(xml)
    assert list(_master_data_elements(back["epcisHeader"]["epcisMasterData"]["vocabularyList"])) == \
        list(_master_data_elements(vocabularies))
    answer = etree.fromstring(render_vocabulary_query_document(vocabularies, "2024-01-01T00:00:00Z"))
    listed = [(v.get("type"), e.get("id")) for v in answer.iter("Vocabulary") for e in v.iter("VocabularyElement")]
    assert listed == [(v["type"], e["id"]) for v in vocabularies for e in v["vocabularyElementList"]]
    assert [i.text for c in answer.iter("children") for i in c] == [
        c for v in vocabularies for e in v["vocabularyElementList"] for c in e.get("children", [])]
