"""XML Schema validation of EPCIS XML capture documents against GS1's official EPCIS 2.0 XSD.

``schemas/EPCglobal-epcis-2_0.xsd`` is GS1's file, vendored unchanged (see ``schemas/NOTICE.md``). Two
adaptations are made in memory when it is compiled, never in the file:

* libxml2 (under ``lxml``) implements XML Schema 1.0, and GS1's schema uses the 1.1 type
  ``xsd:dateTimeStamp`` (a ``dateTime`` whose time zone is required). Each use is pointed at a 1.0
  equivalent declared beside it: ``xsd:dateTime`` restricted to lexical forms ending in ``Z`` or ``±hh:mm``.
* The two schemas it imports (``EPCglobal.xsd``, ``StandardBusinessDocumentHeader.xsd``) are not published
  in GS1's EPCIS repository; the imports are pointed at our own stand-ins in the same folder
  (``jadechain-epcglobal-base.xsd``: the abstract ``Document`` and ``EPC`` types;
  ``jadechain-sbdh-any.xsd``: the SBDH header element, its content not checked).
* The vendored version requires the sensor report's ``exception`` attribute; the EPCIS 2.0 standard, GS1's
  JSON schema and GS1's later XSD fix (gs1/EPCIS pull request 408) make it optional, and so do we.
* ``certificationInfo`` (EPCIS 2.0 §7.3.6, on every event) postdates the vendored version: unqualified
  ``certificationInfo`` children of an event are set aside before validation (the JSON-side rules check them).

Documents in the EPCIS 1.x namespace ``urn:epcglobal:epcis:xsd:1`` (GS1's hash-generator examples use it
with ``schemaVersion="2.0"``; 1.2's ``<extension>`` wrappers fit the 2.0 schema's lax extension points) are
validated as if they were in the 2.0 namespace. Schema loading never touches the network and reads only the
files of this folder; the document itself was parsed without DTDs or entity expansion
(:func:`.xml_binding._parser`).
"""

from __future__ import annotations

import copy
import functools
import threading
from pathlib import Path
from typing import Any

from lxml import etree

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
EPCIS_XSD = SCHEMA_DIR / "EPCglobal-epcis-2_0.xsd"
EPCIS_NS_1 = "urn:epcglobal:epcis:xsd:1"
EPCIS_NS_2 = "urn:epcglobal:epcis:xsd:2"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
STAND_INS = {"./EPCglobal.xsd": "jadechain-epcglobal-base.xsd",
             "./StandardBusinessDocumentHeader.xsd": "jadechain-sbdh-any.xsd"}
DATE_TIME_STAMP = "JadechainDateTimeStamp"
_VALIDATION_LOCK = threading.Lock()
EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")


def _schema_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True)


@functools.lru_cache(maxsize=1)
def _schema_tree() -> Any:
    tree = etree.parse(str(EPCIS_XSD), _schema_parser())
    root = tree.getroot()
    xsd = f"{{{XSD_NS}}}"
    for imported in root.iter(f"{xsd}import"):
        location = imported.get("schemaLocation")
        if location not in STAND_INS:
            raise RuntimeError(f"unexpected import {location!r} in the EPCIS XSD")
        imported.set("schemaLocation", (SCHEMA_DIR / STAND_INS[location]).as_uri())
    for node in root.iter(f"{xsd}element", f"{xsd}attribute"):
        if node.get("type") == "xsd:dateTimeStamp":
            node.set("type", f"epcis:{DATE_TIME_STAMP}")
    for node in root.iter(f"{xsd}attribute"):
        if node.get("name") == "exception":  # GS1 erratum (gs1/EPCIS PR #408): the attribute is optional
            node.set("use", "optional")
    simple = etree.SubElement(root, f"{xsd}simpleType", name=DATE_TIME_STAMP)
    restriction = etree.SubElement(simple, f"{xsd}restriction", base="xsd:dateTime")
    etree.SubElement(restriction, f"{xsd}pattern", value=r".*(Z|[+\-]\d{2}:\d{2})")
    return tree


@functools.lru_cache(maxsize=1)
def epcis_schema() -> etree.XMLSchema:
    """GS1's EPCIS 2.0 XML Schema, compiled once."""
    return etree.XMLSchema(_schema_tree())


@functools.lru_cache(maxsize=1)
def event_field_order() -> dict[str, tuple[str, ...]]:
    """Per event type, its child elements in the order GS1's XSD requires (base type's first)."""
    root = _schema_tree().getroot()
    xsd = f"{{{XSD_NS}}}"
    types = {node.get("name"): node for node in root.iter(f"{xsd}complexType")}

    def fields(type_name: str) -> list[str]:
        node = types[type_name]
        extension = node.find(f"{xsd}complexContent/{xsd}extension")
        own = extension if extension is not None else node
        base = [] if extension is None else fields(str(extension.get("base")).split(":")[-1])
        sequence = own.find(f"{xsd}sequence")
        names = [str(e.get("name")) for e in sequence.iter(f"{xsd}element")] if sequence is not None else []
        return base + [n for n in names if n not in ("extension", "baseExtension")]

    return {kind: tuple(fields(f"{kind}Type")) for kind in EVENT_TYPES}


def schema_errors(root: Any, limit: int = 5) -> list[str]:
    """The XSD violations of an ``EPCISDocument`` element (empty when valid), as "line N: message"."""
    document = copy.deepcopy(root)
    for element in document.iter():
        if isinstance(element.tag, str) and etree.QName(element).namespace == EPCIS_NS_1:
            element.tag = f"{{{EPCIS_NS_2}}}{etree.QName(element).localname}"
    for kind in EVENT_TYPES:
        for event in document.iter(kind):
            for info in event.findall("certificationInfo"):
                event.remove(info)
    schema = epcis_schema()
    with _VALIDATION_LOCK:  # one compiled schema, one error log: validations take turns
        if schema.validate(document):
            return []
        return [f"line {error.line}: {error.message}" for error in list(schema.error_log)[:limit]]
