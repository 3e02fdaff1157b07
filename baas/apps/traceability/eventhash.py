"""The CBV 2.0 "EPCIS event hash ID": a canonical pre-hash string and its ``ni:`` URI.

Our own implementation of the algorithm of CBV 2.0 §8.9 (as described and reference-implemented in
GS1's ``epcis-event-hash-generator``):

* properties in the canonical order (:data:`PROPERTY_ORDER`), concatenated without separators;
  a value is ``key=value``, a parent element is its bare name followed by its children;
* absent properties are omitted; ``eventID``, ``recordTime`` and ``errorDeclaration`` are not part
  of the hash (an error declaration keeps the hash of the event it declares erroneous);
* timestamps in UTC with millisecond precision (``…T02:33:31.116Z``), numbers without trailing zeros;
* EPC URNs (``urn:epc:id|class|idpat:``) become canonical GS1 Digital Link URIs and Digital Link URIs
  are constrained (id.gs1.org, no query string, finest key); CBV values – bare JSON-LD words, URNs or
  CURIEs – become GS1 Web URIs (``https://ref.gs1.org/cbv/BizStep-shipping``);
* the elements of every list are rendered, then sorted by code point; a typed element renders its
  value before its ``type`` (``bizTransaction=…type=…``);
* ILMD and user extensions are ``{namespace}localName[=value]`` strings, sorted; extensions inside
  ``readPoint``/``bizLocation``/sensor elements follow their parent's standard fields;
* the result: ``ni:///sha-256;{hex digest of the UTF-8 pre-hash string}?ver=CBV2.0``.

Deviations, documented honestly: ``certificationInfo`` is placed right after
``eventTimeZoneOffset`` (as the reference implementation does; the CBV 2.0 table predates it);
JSON-LD contexts are resolved only from inline prefix maps in the document/event ``@context``
(no network fetch), so an extension whose namespace is defined only in a remote context is keyed by
its CURIE prefix as written.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Mapping

from baas.apps.traceability import cbv
from baas.apps.traceability.identifiers import IdentifierError, is_digital_link, is_epc_urn, normalise

HASH_VERSION = "CBV2.0"
HASH_PATTERN = re.compile(r"^ni:///sha-256;([0-9a-f]{64})\?ver=CBV2\.0$")

QUANTITY_ELEMENT = ("epcClass", "quantity", "uom")
SENSOR_METADATA = ("time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData",
                   "dataProcessingMethod", "bizRules")
SENSOR_REPORT = ("type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "time",
                 "microorganism", "chemicalSubstance", "value", "component", "stringValue", "booleanValue",
                 "hexBinaryValue", "uriValue", "minValue", "maxValue", "meanValue", "sDev", "percRank",
                 "percValue", "uom", "coordinateReferenceSystem")
EPC_LISTS = ("epcList", "inputEPCList", "childEPCs", "outputEPCList")
QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")

PROPERTY_ORDER = (
    "eventTime", "eventTimeZoneOffset", "certificationInfo", "epcList", "parentID", "inputEPCList", "childEPCs",
    "quantityList", "childQuantityList", "inputQuantityList", "outputEPCList", "outputQuantityList", "action",
    "transformationID", "bizStep", "disposition", "persistentDisposition", "readPoint", "bizLocation",
    "bizTransactionList", "sourceList", "destinationList", "sensorElementList", "ilmd",
)
"""The canonical property order after ``eventType`` (CBV 2.0 §8.9.2)."""

NOT_HASHED = frozenset({"type", "isA", "@context", "eventID", "recordTime", "errorDeclaration"})
STANDARD_FIELDS = frozenset(PROPERTY_ORDER) | NOT_HASHED

_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_DATE_FIELDS = frozenset({"time", "startTime", "endTime"})


class EventHashError(ValueError):
    """The event cannot be hashed (a malformed timestamp or identifier)."""


# --- value normalisation ---------------------------------------------------------------------

def normalise_time(value: str) -> str:
    """UTC with millisecond precision and 'Z' (the fourth decimal rounds half up)."""
    match = _TIMESTAMP.match(value.strip())
    if not match:
        raise EventHashError(f"not an ISO 8601 timestamp with a zone: {value!r}")
    base, fraction, zone = match.groups()
    moment = datetime.fromisoformat(base).replace(tzinfo=timezone.utc)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    millis = int((Decimal(fraction or ".0") * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    moment += timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def time_millis(value: str) -> int:
    """Milliseconds since the epoch of an EPCIS timestamp (what the indexes sort by)."""
    normal = normalise_time(value)
    moment = datetime.strptime(normal, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def format_number(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return str(value).strip()
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def normalise_value(value: Any) -> str:
    """A leaf value of the pre-hash string."""
    if isinstance(value, (int, float, bool)):
        return format_number(value)
    text = str(value).strip()
    try:
        if is_epc_urn(text) or is_digital_link(text):
            return normalise(text)
    except IdentifierError as exc:
        raise EventHashError(str(exc)) from exc
    if text.startswith("urn:epcglobal:cbv:"):
        for field, (type_prefix, segment) in cbv.VOCABULARIES.items():
            if text.startswith(f"urn:epcglobal:cbv:{segment}:"):
                return cbv.full_uri(field, text)
    return cbv.expand_curie(text)


# --- extensions ------------------------------------------------------------------------------

def context_namespaces(*contexts: Any) -> dict[str, str]:
    """Prefix → namespace from inline JSON-LD context maps (remote contexts are not fetched)."""
    namespaces: dict[str, str] = {}
    for context in contexts:
        items = context if isinstance(context, list) else [context]
        for item in items:
            if isinstance(item, Mapping):
                for prefix, namespace in item.items():
                    if isinstance(namespace, str) and not prefix.startswith("@"):
                        namespaces[prefix] = namespace
    return namespaces


def _expanded_name(name: str, namespaces: Mapping[str, str]) -> str:
    if ":" in name and not name.startswith(("http://", "https://")):
        prefix, local = name.split(":", 1)
        if prefix in namespaces:
            return "{" + namespaces[prefix] + "}" + local
        return "{" + prefix + "}" + local
    return name


def _extension_strings(name: str, value: Any, namespaces: Mapping[str, str]) -> list[str]:
    """One substring per occurrence of an extension element (lists repeat the element)."""
    if name.startswith("@"):
        return []
    key = _expanded_name(name, namespaces)
    if isinstance(value, list):
        return [text for item in value for text in _extension_strings(name, item, namespaces)]
    if isinstance(value, Mapping):
        if "#text" in value:
            return [f"{key}={normalise_value(value['#text'])}"]
        children = sorted(text for child, child_value in value.items()
                          for text in _extension_strings(child, child_value, namespaces))
        return [key + "".join(children)]
    if value is None:
        return [key]
    return [f"{key}={normalise_value(value)}"]


def _extensions(element: Mapping[str, Any], standard: frozenset[str] | tuple[str, ...],
                namespaces: Mapping[str, str]) -> str:
    parts: list[str] = []
    for name, value in element.items():
        if name in standard or name.startswith("@"):
            continue
        parts.extend(_extension_strings(name, value, namespaces))
    return "".join(sorted(parts))


# --- the pre-hash string ---------------------------------------------------------------------------

def _fields(element: Mapping[str, Any], order: tuple[str, ...], namespaces: Mapping[str, str]) -> str:
    parts = []
    for name in order:
        if name not in element or element[name] is None:
            continue
        value = element[name]
        if name in _DATE_FIELDS:
            parts.append(f"{name}={normalise_time(str(value))}")
        elif name == "type":
            text = str(value).strip()
            parts.append(f"type={normalise_value(text if ':' in text else 'gs1:' + text)}")
        else:
            parts.append(f"{name}={normalise_value(value)}")
    return "".join(parts) + _extensions(element, order, namespaces)


def _typed_list(items: list[Any], element: str, vocabulary: str) -> str:
    rendered = []
    for item in items:
        text = f"{element}={normalise_value(item[element])}"
        if item.get("type"):
            text += f"type={cbv.full_uri(vocabulary, str(item['type']))}"
        rendered.append(text)
    return "".join(sorted(rendered))


def pre_hash_string(event: Mapping[str, Any], document_context: Any = None) -> str:
    """The canonical pre-hash string of one EPCIS 2.0 event (JSON-LD form)."""
    namespaces = context_namespaces(document_context, event.get("@context"))
    event_type = event.get("type") or event.get("isA")
    parts = [f"eventType={event_type}"]
    for name in PROPERTY_ORDER:
        value = event.get(name)
        if value is None or value == [] or value == {}:
            continue
        if name == "eventTime":
            parts.append(f"eventTime={normalise_time(value)}")
        elif name == "eventTimeZoneOffset":
            parts.append(f"eventTimeZoneOffset={value.strip()}")
        elif name == "certificationInfo":
            values = value if isinstance(value, list) else [value]
            parts.append("".join(sorted(f"certificationInfo={normalise_value(v)}" for v in values)))
        elif name in EPC_LISTS:
            parts.append(name + "".join(sorted(f"epc={normalise_value(epc)}" for epc in value)))
        elif name in QUANTITY_LISTS:
            elements = sorted("quantityElement" + _fields(q, QUANTITY_ELEMENT, namespaces) for q in value)
            parts.append(name + "".join(elements))
        elif name == "bizStep":
            parts.append(f"bizStep={cbv.full_uri('bizStep', value)}")
        elif name == "disposition":
            parts.append(f"disposition={cbv.full_uri('disposition', value)}")
        elif name == "persistentDisposition":
            text = "persistentDisposition"
            for key in ("set", "unset"):
                text += "".join(sorted(f"{key}={cbv.full_uri('disposition', v)}" for v in value.get(key, [])))
            parts.append(text)
        elif name in ("readPoint", "bizLocation"):
            parts.append(name + _fields(value, ("id",), namespaces))
        elif name == "bizTransactionList":
            parts.append(name + _typed_list(value, "bizTransaction", "bizTransactionType"))
        elif name == "sourceList":
            parts.append(name + _typed_list(value, "source", "sourceDestType"))
        elif name == "destinationList":
            parts.append(name + _typed_list(value, "destination", "sourceDestType"))
        elif name == "sensorElementList":
            elements = []
            for element in value:
                text = "sensorElement"
                if element.get("sensorMetadata"):
                    text += "sensorMetadata" + _fields(element["sensorMetadata"], SENSOR_METADATA, namespaces)
                reports = sorted("sensorReport" + _fields(report, SENSOR_REPORT, namespaces)
                                 for report in element.get("sensorReport", []))
                text += "".join(reports)
                text += _extensions(element, ("sensorMetadata", "sensorReport"), namespaces)
                elements.append(text)
            parts.append(name + "".join(sorted(elements)))
        elif name == "ilmd":
            parts.append("ilmd" + _extensions(value, (), namespaces))
        else:
            parts.append(f"{name}={normalise_value(value)}")
    parts.append(_extensions(event, STANDARD_FIELDS, namespaces))
    return "".join(parts)


def event_hash(event: Mapping[str, Any], document_context: Any = None) -> str:
    """``ni:///sha-256;<hex>?ver=CBV2.0`` of an EPCIS 2.0 event."""
    digest = hashlib.sha256(pre_hash_string(event, document_context).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={HASH_VERSION}"


def hash_hex(event_hash_id: str) -> str:
    """The hex digest inside an event hash ID (what the chain keys records by)."""
    match = HASH_PATTERN.match(event_hash_id)
    if not match:
        raise EventHashError(f"not a CBV 2.0 sha-256 event hash ID: {event_hash_id!r}")
    return match.group(1)
