"""The EPCIS 2.0 XML binding (``lxml``): XML capture documents to our JSON-LD form, query results to XML.

Capture: :func:`parse_document` turns an ``EPCISDocument`` (EPCIS 2.0 XML, or 1.2 with its
``<extension>`` wrappers) into the JSON-LD document the rest of the app validates, hashes and stores,
so one event hashes the same whichever binding brought it. Extension elements keep their namespace
(``{ns}local`` → ``prefix:local`` with the prefix declared in the document's ``@context``); sensor
attributes become numbers / booleans as the JSON schema types them; master data
(``EPCISHeader/extension/EPCISMasterData``) becomes ``epcisHeader.epcisMasterData``.

Query: :func:`render_query_document` writes an ``EPCISQueryDocument`` in XML; standard CBV values
come out as URNs, bare sensor types and alert types as their GS1 Web URIs (what they mean).

The parser never resolves entities, loads DTDs or touches the network (XXE and "billion laughs" are
refused), and documents are capped at :data:`MAX_XML_BYTES`.
"""

from __future__ import annotations

import json
import re

from typing import Any, Iterable, Mapping

from lxml import etree

from baas.apps.traceability import cbv, xml_schema

MAX_XML_BYTES = 16 << 20
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EPCIS_NS = "urn:epcglobal:epcis:xsd:2"
EPCIS_QUERY_NS = "urn:epcglobal:epcis-query:xsd:2"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")
EPC_LISTS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
REQUIRED_EPC_LISTS = {"ObjectEvent": "epcList", "TransactionEvent": "epcList", "AggregationEvent": "childEPCs"}
QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
TYPED_LISTS = {"bizTransactionList": "bizTransaction", "sourceList": "source", "destinationList": "destination"}
TEXT_FIELDS = ("eventTime", "recordTime", "eventTimeZoneOffset", "eventID", "parentID", "action", "bizStep",
               "disposition", "transformationID")
NUMERIC_SENSOR = frozenset({"value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue"})
WRAPPERS = frozenset({"extension", "baseExtension"})
STANDARD_PREFIXES = {"gs1": "https://gs1.org/voc/", "cbv": cbv.CBV_ROOT, "cbvmda": "urn:epcglobal:cbv:mda:"}


class XmlBindingError(ValueError):
    """An XML document that is not a well-formed EPCIS 2.0 document (a clear 400 at capture)."""

    code = "XML_INVALID"


class XmlSchemaError(XmlBindingError):
    """A well-formed EPCIS XML document that GS1's EPCIS 2.0 XSD refuses (400 ``XML_SCHEMA_INVALID``)."""

    code = "XML_SCHEMA_INVALID"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True, remove_pis=True)


# --- XML → JSON-LD ----------------------------------------------------------------------------------

def _local(element: Any) -> str:
    return str(etree.QName(element).localname)


def _namespace(element_or_name: Any) -> str | None:
    return etree.QName(element_or_name).namespace


def _children(element: Any) -> Iterable[Any]:
    """Child elements, with EPCIS 1.x ``<extension>`` wrappers flattened away."""
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if _namespace(child) is None and _local(child) in WRAPPERS:
            yield from _children(child)
        else:
            yield child


def _text(element: Any) -> str:
    return (element.text or "").strip()


def _number(text: str) -> int | float:
    try:
        number = float(text)
    except ValueError as exc:
        raise XmlBindingError(f"not a number: {text!r}") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise XmlBindingError(f"not a finite number: {text!r}")
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


class _Namespaces:
    """Extension namespaces met while reading: namespace URI → the prefix used for it in JSON-LD."""

    def __init__(self) -> None:
        self.prefixes: dict[str, str] = {}

    def key(self, element_or_name: Any, prefix_hint: str | None) -> str:
        qname = etree.QName(element_or_name)
        namespace = qname.namespace or ""
        if namespace not in self.prefixes:
            prefix = prefix_hint or f"ns{len(self.prefixes) + 1}"
            while prefix in self.prefixes.values() or prefix in ("epcis", "type", "id"):
                prefix = f"{prefix}{len(self.prefixes) + 1}"
            self.prefixes[namespace] = prefix
        return f"{self.prefixes[namespace]}:{qname.localname}"

    def context(self) -> dict[str, str]:
        return {prefix: namespace for namespace, prefix in self.prefixes.items()}


def _extension_value(element: Any, names: _Namespaces) -> Any:
    kids = [child for child in _children(element)]
    if not kids:
        return _text(element)
    value: dict[str, Any] = {}
    for child in kids:
        key = names.key(child, child.prefix) if _namespace(child) else _local(child)
        item = _extension_value(child, names)
        if key in value:
            value[key] = (value[key] if isinstance(value[key], list) else [value[key]]) + [item]
        else:
            value[key] = item
    if _text(element):
        value["#text"] = _text(element)
    return value


def _add_extension(target: dict[str, Any], element: Any, names: _Namespaces) -> None:
    key = names.key(element, element.prefix)
    item = _extension_value(element, names)
    if key in target:
        target[key] = (target[key] if isinstance(target[key], list) else [target[key]]) + [item]
    else:
        target[key] = item


def _attributes(element: Any, names: _Namespaces, numeric: frozenset[str] = frozenset()) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, text in element.attrib.items():
        namespace = _namespace(name)
        if namespace == XSI_NS:
            continue
        if namespace:
            prefix = next((p for p, ns in (element.nsmap or {}).items() if ns == namespace), None)
            values[names.key(name, prefix)] = text
        elif name in numeric:
            values[name] = _number(text)
        elif name == "booleanValue":
            if text.strip() not in ("true", "false", "1", "0"):
                raise XmlBindingError(f"booleanValue must be true or false, not {text!r}")
            values[name] = text.strip() in ("true", "1")
        else:
            values[name] = text.strip()
    return values


def _event(element: Any, names: _Namespaces) -> dict[str, Any]:
    event: dict[str, Any] = {"type": _local(element)}
    for child in _children(element):
        name = _local(child)
        if _namespace(child):
            _add_extension(event, child, names)
        elif name in TEXT_FIELDS:
            event[name] = _text(child)
        elif name == "certificationInfo":
            previous = event.get(name)
            event[name] = _text(child) if previous is None else \
                (previous if isinstance(previous, list) else [previous]) + [_text(child)]
        elif name in EPC_LISTS:
            epcs = [_text(epc) for epc in _children(child)]
            if epcs:  # an empty list (the XSD requires one in some events) is the same as none
                event[name] = epcs
        elif name in QUANTITY_LISTS:
            elements = []
            for quantity in _children(child):
                item: dict[str, Any] = {}
                for part in _children(quantity):
                    part_name = _local(part)
                    item[part_name] = _number(_text(part)) if part_name == "quantity" else _text(part)
                elements.append(item)
            event[name] = elements
        elif name in ("readPoint", "bizLocation"):
            where: dict[str, Any] = {}
            for part in _children(child):
                if _namespace(part):
                    _add_extension(where, part, names)
                else:
                    where[_local(part)] = _text(part)
            event[name] = where
        elif name in TYPED_LISTS:
            items = []
            for entry in _children(child):
                item = {"type": entry.get("type").strip()} if entry.get("type") else {}
                item[TYPED_LISTS[name]] = _text(entry)
                items.append(item)
            event[name] = items
        elif name == "persistentDisposition":
            disposition: dict[str, list[str]] = {}
            for part in _children(child):
                disposition.setdefault(_local(part), []).append(_text(part))
            event[name] = disposition
        elif name == "sensorElementList":
            sensors = []
            for sensor in _children(child):
                entry: dict[str, Any] = {}
                for part in _children(sensor):
                    part_name = _local(part)
                    if _namespace(part):
                        _add_extension(entry, part, names)
                    elif part_name == "sensorMetadata":
                        entry["sensorMetadata"] = _attributes(part, names)
                    elif part_name == "sensorReport":
                        entry.setdefault("sensorReport", []).append(_attributes(part, names, NUMERIC_SENSOR))
                sensors.append(entry)
            event[name] = sensors
        elif name == "ilmd":
            ilmd: dict[str, Any] = {}
            for part in _children(child):
                _add_extension(ilmd, part, names)
            event[name] = ilmd
        elif name == "errorDeclaration":
            declaration: dict[str, Any] = {}
            for part in _children(child):
                part_name = _local(part)
                if _namespace(part):
                    _add_extension(declaration, part, names)
                elif part_name == "correctiveEventIDs":
                    declaration[part_name] = [_text(item) for item in _children(part)]
                else:
                    declaration[part_name] = _text(part)
            event[name] = declaration
        else:
            raise XmlBindingError(f"unknown element <{name}> in {event['type']}")
    return event


def _master_data(header: Any) -> list[dict[str, Any]]:
    vocabularies = []
    for vocabulary in header.iter():
        if not isinstance(vocabulary.tag, str) or _local(vocabulary) != "Vocabulary":
            continue
        elements = []
        for element in vocabulary.iter():
            if isinstance(element.tag, str) and _local(element) == "VocabularyElement":
                attributes = [{"id": attribute.get("id", ""), "attribute": _text(attribute)}
                              for attribute in element if isinstance(attribute.tag, str)
                              and _local(attribute) == "attribute"]
                entry: dict[str, Any] = {"id": element.get("id", ""), "attributes": attributes}
                children = [_text(child) for holder in element if isinstance(holder.tag, str)
                            and _local(holder) == "children" for child in _children(holder)]
                if children:
                    entry["children"] = children
                elements.append(entry)
        vocabularies.append({"type": vocabulary.get("type", ""), "vocabularyElementList": elements})
    return vocabularies


def parse_document(data: bytes) -> dict[str, Any]:
    """An EPCIS XML document (``EPCISDocument`` or ``EPCISQueryDocument``) in our JSON-LD form."""
    if len(data) > MAX_XML_BYTES:
        raise XmlBindingError(f"the XML document is larger than {MAX_XML_BYTES} bytes")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlBindingError(f"not well-formed XML: {exc}") from exc
    kind = _local(root)
    if kind not in ("EPCISDocument", "EPCISQueryDocument"):
        raise XmlBindingError(f"the root element is <{kind}>, not <EPCISDocument>")
    event_list = next((e for e in root.iter() if isinstance(e.tag, str) and _local(e) == "EventList"), None)
    if event_list is None:
        raise XmlBindingError("no EventList in the document")
    if kind == "EPCISDocument":
        errors = xml_schema.schema_errors(root)
        if errors:
            raise XmlSchemaError("the document does not conform to GS1's EPCIS 2.0 XML Schema: " + "; ".join(errors))
    names = _Namespaces()
    for prefix, namespace in STANDARD_PREFIXES.items():
        names.prefixes.setdefault(namespace, prefix)
    events = []
    for child in _children(event_list):
        if _local(child) not in EVENT_TYPES:
            raise XmlBindingError(f"<{_local(child)}> is not an EPCIS event type")
        events.append(_event(child, names))
    context = {prefix: ns for prefix, ns in names.context().items() if STANDARD_PREFIXES.get(prefix) != ns}
    document: dict[str, Any] = {
        "@context": [EPCIS_CONTEXT, context] if context else [EPCIS_CONTEXT],
        "type": kind, "schemaVersion": root.get("schemaVersion", "2.0"),
        "creationDate": root.get("creationDate", ""), "epcisBody": {"eventList": events},
    }
    header = next((e for e in root if isinstance(e.tag, str) and _local(e) == "EPCISHeader"), None)
    if header is not None:
        vocabularies = _master_data(header)
        if vocabularies:
            document["epcisHeader"] = {"epcisMasterData": {"vocabularyList": vocabularies}}
    return document


# --- JSON-LD → XML --------------------------------------------------------------------------------------

XML_ORDER = ("eventTime", "recordTime", "eventTimeZoneOffset", "eventID", "errorDeclaration", "certificationInfo",
             "parentID", "epcList", "childEPCs", "inputEPCList", "inputQuantityList", "outputEPCList",
             "outputQuantityList", "quantityList", "childQuantityList", "action", "transformationID", "bizStep",
             "disposition", "persistentDisposition", "readPoint", "bizLocation", "bizTransactionList", "sourceList",
             "destinationList", "sensorElementList", "ilmd")
_URN_SEGMENTS = {field: f"urn:epcglobal:cbv:{segment}:" for field, (_, segment) in cbv.VOCABULARIES.items()}


def _cbv_urn(field: str, value: str) -> str:
    """A standard CBV value as its URN (``shipping`` → ``urn:epcglobal:cbv:bizstep:shipping``); others as given."""
    short = cbv.short(field, value)
    if short is not None and ":" not in short and short in cbv.STANDARD_TERMS.get(field, frozenset()):
        return _URN_SEGMENTS[field] + short
    return value


def _voc(value: Any, root: str = "https://gs1.org/voc/") -> str:
    text = str(value)
    return root + text if ":" not in text else text


_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class _Writer:
    def __init__(self, namespaces: Mapping[str, str]) -> None:
        self.namespaces = {**STANDARD_PREFIXES, **namespaces}
        self.declared = dict(namespaces)

    def expand(self, text: str) -> str:
        """A CURIE value in a prefix the document's inline @context declares → its full URI (an XML
        attribute value has no JSON-LD context: ``example:x`` would lose its meaning)."""
        prefix, colon, local = text.partition(":")
        if colon and prefix in self.declared and not local.startswith("//"):
            return self.declared[prefix] + local
        return text

    def name(self, key: str) -> str:
        """``prefix:local`` → Clark notation ``{ns}local`` (an undeclared prefix is kept in a urn: namespace)."""
        prefix, _, local = key.partition(":")
        namespace = self.namespaces.get(prefix, f"urn:jadechain:undeclared:{prefix}")
        return f"{{{namespace}}}{local}"

    def extension(self, parent: Any, key: str, value: Any) -> None:
        for item in value if isinstance(value, list) else [value]:
            element = etree.SubElement(parent, self.name(key))
            if isinstance(item, Mapping):
                if "#text" in item:
                    element.text = str(item["#text"])
                for child_key, child_value in item.items():
                    if child_key != "#text" and not child_key.startswith("@"):
                        self.extension(element, child_key, child_value)
            elif isinstance(item, bool):
                element.text = "true" if item else "false"
            elif item is not None:
                element.text = str(item)


def _text_child(parent: Any, name: str, text: Any) -> Any:
    element = etree.SubElement(parent, name)
    element.text = "true" if text is True else "false" if text is False else str(text)
    return element


def render_event(parent: Any, event: Mapping[str, Any], namespaces: Mapping[str, str]) -> None:
    """Append ``event`` (our JSON-LD form) to ``parent`` as an EPCIS 2.0 XML event element."""
    inline: dict[str, str] = dict(namespaces)
    for context in event.get("@context") or []:
        if isinstance(context, Mapping):
            inline.update({k: v for k, v in context.items() if isinstance(v, str)})
    writer = _Writer(inline)
    # the capturer's own prefixes, declared on the event: extensions read ``ext1:int``, not ``ns0:int``
    prefixes = {prefix: namespace for prefix, namespace in inline.items()
                if _NCNAME.match(prefix) and not prefix.lower().startswith("xml") and namespace}
    element = etree.SubElement(parent, str(event.get("type")), nsmap=prefixes)
    schema_order = xml_schema.event_field_order().get(str(event.get("type")), ())
    for name in schema_order + tuple(n for n in XML_ORDER if n not in schema_order):
        value = event.get(name)
        if value is None and REQUIRED_EPC_LISTS.get(str(event.get("type"))) == name:
            value = []  # GS1's XSD requires the element, even empty
        if value is None:
            continue
        if name in ("bizStep", "disposition"):
            _text_child(element, name, _cbv_urn(name, str(value)))
        elif name == "certificationInfo":
            for item in value if isinstance(value, list) else [value]:
                _text_child(element, name, item)
        elif name in EPC_LISTS:
            holder = etree.SubElement(element, name)
            for epc in value:
                _text_child(holder, "epc", epc)
        elif name in QUANTITY_LISTS:
            holder = etree.SubElement(element, name)
            for quantity in value:
                entry = etree.SubElement(holder, "quantityElement")
                for part in ("epcClass", "quantity", "uom"):
                    if part in quantity:
                        _text_child(entry, part, quantity[part])
        elif name in ("readPoint", "bizLocation"):
            holder = etree.SubElement(element, name)
            for key, part in value.items():
                if key == "id":
                    _text_child(holder, "id", part)
                else:
                    writer.extension(holder, key, part)
        elif name in TYPED_LISTS:
            holder = etree.SubElement(element, name)
            vocabulary = "bizTransactionType" if name == "bizTransactionList" else "sourceDestType"
            for item in value:
                entry = _text_child(holder, TYPED_LISTS[name], item[TYPED_LISTS[name]])
                if item.get("type"):
                    entry.set("type", _cbv_urn(vocabulary, str(item["type"])))
        elif name == "persistentDisposition":
            holder = etree.SubElement(element, name)
            for key in ("unset", "set"):
                for item in value.get(key) or []:
                    _text_child(holder, key, _cbv_urn("disposition", str(item)))
        elif name == "sensorElementList":
            holder = etree.SubElement(element, name)
            for sensor in value:
                entry = etree.SubElement(holder, "sensorElement")
                if sensor.get("sensorMetadata"):
                    metadata = etree.SubElement(entry, "sensorMetadata")
                    _set_attributes(metadata, sensor["sensorMetadata"], writer)
                for report in sensor.get("sensorReport") or []:
                    _set_attributes(etree.SubElement(entry, "sensorReport"), report, writer)
                for key, part in sensor.items():
                    if key not in ("type", "sensorMetadata", "sensorReport"):  # type: the JSON-LD @type
                        writer.extension(entry, key, part)
        elif name == "ilmd":
            holder = etree.SubElement(element, name)
            for key, part in value.items():
                writer.extension(holder, key, part)
        elif name == "errorDeclaration":
            holder = etree.SubElement(element, name)
            for key, part in value.items():
                if key == "correctiveEventIDs":
                    ids = etree.SubElement(holder, key)
                    for item in part:
                        _text_child(ids, "correctiveEventID", item)
                elif key == "reason":
                    _text_child(holder, key, _cbv_urn("errorReason", str(part)))
                elif ":" in key:
                    writer.extension(holder, key, part)
                else:
                    _text_child(holder, key, part)
        else:
            _text_child(element, name, value)
    for key, value in event.items():
        if ":" in key and not key.startswith("@") and key not in XML_ORDER:
            writer.extension(element, key, value)


def _set_attributes(element: Any, values: Mapping[str, Any], writer: _Writer) -> None:
    for key, value in values.items():
        if key in ("type", "exception"):
            text = writer.expand(_voc(value))
        elif key == "component":
            text = writer.expand(_voc(value, cbv.CBV_ROOT + "Comp-"))
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        element.set(writer.name(key) if ":" in key else key, text)


def render_query_document(events: Iterable[Mapping[str, Any]], creation_date: str, query_name: str,
                          namespaces: Mapping[str, str] | None = None, subscription_id: str | None = None) -> bytes:
    """An EPCIS 2.0 ``EPCISQueryDocument`` in XML."""
    root = etree.Element(f"{{{EPCIS_QUERY_NS}}}EPCISQueryDocument",
                         nsmap={"epcisq": EPCIS_QUERY_NS, "epcis": EPCIS_NS, "gs1": STANDARD_PREFIXES["gs1"]})
    root.set("schemaVersion", "2.0")
    root.set("creationDate", creation_date)
    body = etree.SubElement(root, "EPCISBody")
    results = etree.SubElement(body, f"{{{EPCIS_QUERY_NS}}}QueryResults")
    _text_child(results, "queryName", query_name)
    if subscription_id:
        _text_child(results, "subscriptionID", subscription_id)
    event_list = etree.SubElement(etree.SubElement(results, "resultsBody"), "EventList")
    for event in events:
        render_event(event_list, event, namespaces or {})
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _render_vocabularies(parent: Any, vocabularies: Iterable[Mapping[str, Any]]) -> None:
    """``<VocabularyList>`` of EPCIS master data (a JSON ``vocabularyList``), in the XSD's element order."""
    vocabulary_list = etree.SubElement(parent, "VocabularyList")
    for vocabulary in vocabularies:
        holder = etree.SubElement(vocabulary_list, "Vocabulary")
        holder.set("type", str(vocabulary.get("type", "")))
        elements = vocabulary.get("vocabularyElementList") or []
        if not elements:
            continue  # the XSD wants at least one VocabularyElement in a VocabularyElementList
        element_list = etree.SubElement(holder, "VocabularyElementList")
        for element in elements:
            entry = etree.SubElement(element_list, "VocabularyElement")
            entry.set("id", str(element.get("id", "")))
            for attribute in element.get("attributes") or []:
                value = attribute.get("attribute")
                node = etree.SubElement(entry, "attribute")
                node.set("id", str(attribute.get("id", "")))
                node.text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            if element.get("children"):
                children = etree.SubElement(entry, "children")
                for child in element["children"]:
                    _text_child(children, "id", str(child))


def render_vocabulary_query_document(vocabularies: Iterable[Mapping[str, Any]], creation_date: str) -> bytes:
    """The answer to a SimpleMasterDataQuery as an XML ``EPCISQueryDocument`` (``resultsBody/VocabularyList``)."""
    root = etree.Element(f"{{{EPCIS_QUERY_NS}}}EPCISQueryDocument", nsmap={"epcisq": EPCIS_QUERY_NS, "epcis": EPCIS_NS})
    root.set("schemaVersion", "2.0")
    root.set("creationDate", creation_date)
    results = etree.SubElement(etree.SubElement(root, "EPCISBody"), f"{{{EPCIS_QUERY_NS}}}QueryResults")
    _text_child(results, "queryName", "SimpleMasterDataQuery")
    _render_vocabularies(etree.SubElement(results, "resultsBody"), vocabularies)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def render_document(document: Mapping[str, Any]) -> bytes:
    """An ``EPCISDocument`` (our JSON-LD form) in XML: the same events and master data, the other binding."""
    namespaces: dict[str, str] = {}
    for context in document.get("@context") or []:
        if isinstance(context, Mapping):
            namespaces.update({k: v for k, v in context.items() if isinstance(v, str)})
    root = etree.Element(f"{{{EPCIS_NS}}}EPCISDocument", nsmap={"epcis": EPCIS_NS})
    root.set("schemaVersion", "2.0")
    root.set("creationDate", str(document.get("creationDate", "")))
    header = document.get("epcisHeader")
    master = header.get("epcisMasterData") if isinstance(header, Mapping) else None
    if isinstance(master, Mapping) and master.get("vocabularyList"):
        extension = etree.SubElement(etree.SubElement(root, "EPCISHeader"), "extension")
        _render_vocabularies(etree.SubElement(extension, "EPCISMasterData"), master["vocabularyList"])
    event_list = etree.SubElement(etree.SubElement(root, "EPCISBody"), "EventList")
    for event in document["epcisBody"]["eventList"]:
        render_event(event_list, event, namespaces)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
