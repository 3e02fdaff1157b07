"""Validation of EPCIS 2.0 capture documents: GS1's official JSON Schema, then our stricter rules.

Three layers, every violation reported as ``{path, message, rule}``:

1. **GS1's official EPCIS 2.0 JSON Schema** (``schemas/epcis-json-schema.json``, vendored from the
   gs1/EPCIS repository) with the ``date-time`` and ``uri`` formats enforced (a calendar check: month
   13, 30 February or hour 25 are refused, not only the shape). Rule ``EPCIS-SCHEMA``.
2. **Our schema** (:data:`DOCUMENT_SCHEMA`, draft 2020-12): the same event types with closed property
   sets – an un-prefixed unknown key, a misspelt field or a wrong value shape is refused, where the
   official schema lets unknown keys through. Rule ``JADE-SCHEMA``.
3. **Rules no JSON Schema can say** (:func:`rule_errors`): CBV 2.0 vocabularies (standard values
   bare, as URN or as GS1 Web URI; anything else only as a full URI or a CURIE of a declared
   namespace), extension and ILMD names in a declared namespace, calendar-valid timestamps with a
   zone everywhere, an AggregationEvent's parentID for ADD/DELETE, well-formed GS1 identifiers.

docs/traceability.md lists every rule with the test that rejects a document breaking it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker

from baas.apps.traceability import cbv
from baas.apps.traceability.eventhash import EventHashError, parse_time
from baas.apps.traceability.identifiers import IdentifierError, is_digital_link, is_epc_urn, normalise

_TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"}
_OFFSET = {"type": "string", "pattern": r"^[+-]((0\d|1[0-3]):[0-5]\d|14:00)$"}
_URI = {"type": "string", "minLength": 1, "pattern": r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$"}
_TERM_OR_URI = {"type": "string", "minLength": 1, "pattern": r"^\S+$"}
_EPC_LIST = {"type": "array", "items": _URI}
_QUANTITY = {
    "type": "object",
    "properties": {"epcClass": _URI, "quantity": {"type": "number", "minimum": 0}, "uom": {"type": "string"}},
    "required": ["epcClass"],
    "additionalProperties": False,
}
_QUANTITY_LIST = {"type": "array", "items": _QUANTITY}
_EXTENSION_KEYS: dict[str, Any] = {"^[A-Za-z_][\\w.\\-]*:[\\w.\\-]+$": {}}
_LOCATION = {
    "type": "object", "properties": {"id": _URI}, "required": ["id"],
    "patternProperties": _EXTENSION_KEYS, "additionalProperties": False,
}
_BIZ_TRANSACTION = {
    "type": "object", "properties": {"type": _TERM_OR_URI, "bizTransaction": _URI},
    "required": ["bizTransaction"], "additionalProperties": False,
}
_SOURCE = {"type": "object", "properties": {"type": _TERM_OR_URI, "source": _URI},
           "required": ["type", "source"], "additionalProperties": False}
_DESTINATION = {"type": "object", "properties": {"type": _TERM_OR_URI, "destination": _URI},
                "required": ["type", "destination"], "additionalProperties": False}
_SENSOR_REPORT = {"type": "object", "properties": {
    "type": _TERM_OR_URI, "exception": {"type": "string"}, "deviceID": _URI, "deviceMetadata": _URI,
    "rawData": _URI, "dataProcessingMethod": _URI, "time": _TIME, "microorganism": _URI,
    "chemicalSubstance": _URI, "value": {"type": "number"}, "component": {"type": "string"},
    "stringValue": {"type": "string"}, "booleanValue": {"type": "boolean"}, "hexBinaryValue": {"type": "string"},
    "uriValue": _URI, "minValue": {"type": "number"}, "maxValue": {"type": "number"},
    "meanValue": {"type": "number"}, "sDev": {"type": "number"}, "percRank": {"type": "number"},
    "percValue": {"type": "number"}, "uom": {"type": "string"}, "coordinateReferenceSystem": _URI, "bizRules": _URI,
}, "patternProperties": _EXTENSION_KEYS, "additionalProperties": False}
_SENSOR_ELEMENT = {"type": "object", "properties": {
    "type": {"enum": ["epcis:SensorElement", "SensorElement"]},  # JSON-LD @type, as in GS1's examples
    "sensorMetadata": {"type": "object", "properties": {
        "time": _TIME, "startTime": _TIME, "endTime": _TIME, "deviceID": _URI, "deviceMetadata": _URI,
        "rawData": _URI, "dataProcessingMethod": _URI, "bizRules": _URI,
    }, "patternProperties": _EXTENSION_KEYS, "additionalProperties": False},
    "sensorReport": {"type": "array", "minItems": 1, "items": _SENSOR_REPORT},
}, "required": ["sensorReport"], "patternProperties": _EXTENSION_KEYS, "additionalProperties": False}
_ERROR_DECLARATION = {"type": "object", "properties": {
    "declarationTime": _TIME, "reason": _TERM_OR_URI,
    "correctiveEventIDs": {"type": "array", "items": _URI},
}, "required": ["declarationTime"], "patternProperties": _EXTENSION_KEYS, "additionalProperties": False}

_COMMON = {
    "@context": {}, "type": {"type": "string"}, "eventID": _URI, "eventTime": _TIME, "recordTime": _TIME,
    "eventTimeZoneOffset": _OFFSET, "certificationInfo": {"oneOf": [_URI, {"type": "array", "items": _URI}]},
    "errorDeclaration": _ERROR_DECLARATION, "bizStep": _TERM_OR_URI, "disposition": _TERM_OR_URI,
    "persistentDisposition": {"type": "object", "properties": {
        "set": {"type": "array", "items": _TERM_OR_URI}, "unset": {"type": "array", "items": _TERM_OR_URI}},
        "additionalProperties": False},
    "readPoint": _LOCATION, "bizLocation": _LOCATION,
    "bizTransactionList": {"type": "array", "items": _BIZ_TRANSACTION},
    "sourceList": {"type": "array", "items": _SOURCE},
    "destinationList": {"type": "array", "items": _DESTINATION},
    "sensorElementList": {"type": "array", "items": _SENSOR_ELEMENT},
}
_ACTION = {"enum": ["ADD", "OBSERVE", "DELETE"]}


def _event(type_name: str, fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**_COMMON, "type": {"const": type_name}, **fields},
        "required": ["type", "eventTime", "eventTimeZoneOffset", *required],
        "patternProperties": _EXTENSION_KEYS,
        "additionalProperties": False,
    }


EVENT_SCHEMAS = {
    "ObjectEvent": _event("ObjectEvent", {
        "epcList": _EPC_LIST, "quantityList": _QUANTITY_LIST, "action": _ACTION, "ilmd": {"type": "object"},
    }, ["action"]),
    "AggregationEvent": _event("AggregationEvent", {
        "parentID": _URI, "childEPCs": _EPC_LIST, "childQuantityList": _QUANTITY_LIST, "action": _ACTION,
    }, ["action"]),
    "TransactionEvent": _event("TransactionEvent", {
        "parentID": _URI, "epcList": _EPC_LIST, "quantityList": _QUANTITY_LIST, "action": _ACTION,
    }, ["action", "bizTransactionList"]),
    "TransformationEvent": _event("TransformationEvent", {
        "inputEPCList": _EPC_LIST, "inputQuantityList": _QUANTITY_LIST, "outputEPCList": _EPC_LIST,
        "outputQuantityList": _QUANTITY_LIST, "transformationID": _URI, "ilmd": {"type": "object"},
    }, []),
    "AssociationEvent": _event("AssociationEvent", {
        "parentID": _URI, "childEPCs": _EPC_LIST, "childQuantityList": _QUANTITY_LIST, "action": _ACTION,
    }, ["action", "parentID"]),
}

DOCUMENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "EPCISDocument (EPCIS 2.0 JSON-LD), as accepted by the Jadechain traceability app",
    "type": "object",
    "properties": {
        "@context": {},
        "type": {"const": "EPCISDocument"},
        "schemaVersion": {"type": ["string", "number"]},
        "creationDate": _TIME,
        "id": _URI,
        "sender": {"type": "string"}, "receiver": {"type": "string"}, "instanceIdentifier": {"type": "string"},
        "epcisHeader": {"type": "object"},
        "epcisBody": {
            "type": "object",
            "properties": {"eventList": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["type"],
                "properties": {"type": {"enum": sorted(EVENT_SCHEMAS)}},
                "allOf": [{"if": {"properties": {"type": {"const": name}}}, "then": schema}
                          for name, schema in EVENT_SCHEMAS.items()],
            }}},
            "required": ["eventList"],
            "additionalProperties": False,
        },
    },
    "required": ["@context", "type", "schemaVersion", "creationDate", "epcisBody"],
    "patternProperties": _EXTENSION_KEYS,
    "additionalProperties": False,
}

_VALIDATOR = Draft202012Validator(DOCUMENT_SCHEMA)
try:  # the Rust validator (if installed) checks valid documents ~20x faster; errors still come from jsonschema
    import jsonschema_rs

    _FAST_VALID: Any = jsonschema_rs.validator_for(DOCUMENT_SCHEMA).is_valid
except Exception:  # pragma: no cover - optional accelerator
    jsonschema_rs = None
    _FAST_VALID = None

OFFICIAL_SCHEMA_PATH = Path(__file__).with_name("schemas") / "epcis-json-schema.json"
OFFICIAL_SCHEMA: dict[str, Any] = json.loads(OFFICIAL_SCHEMA_PATH.read_text())
"""GS1's EPCIS 2.0 JSON Schema, as published (draft-07)."""

_URI_SYNTAX = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$")
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=EventHashError)
def _is_date_time(value: object) -> bool:
    if isinstance(value, str):
        parse_time(value)
    return True


@_FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI_SYNTAX.match(value))


_OFFICIAL = Draft7Validator(OFFICIAL_SCHEMA, format_checker=_FORMATS)
try:
    _OFFICIAL_FAST: Any = jsonschema_rs.validator_for(OFFICIAL_SCHEMA, validate_formats=True).is_valid
except Exception:  # pragma: no cover - optional accelerator
    _OFFICIAL_FAST = None


def _schema_violations(validator: Any, document: Any, rule: str, limit: int) -> list[dict[str, str]]:
    errors = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))[:limit]:
        path = "/".join(str(part) for part in error.absolute_path)
        message = error.message
        if error.validator in ("anyOf", "allOf", "oneOf") and error.context:
            message += " (" + "; ".join(sorted({sub.message for sub in error.context}))[:400] + ")"
        is_time = error.validator == "format" and error.validator_value == "date-time"
        errors.append({"path": "/" + path, "message": message, "rule": "TIME-INVALID" if is_time else rule})
    return errors


# --- rules beyond JSON Schema -----------------------------------------------------------------------

STANDARD_PREFIXES = {"gs1": "https://gs1.org/voc/", "cbv": cbv.CBV_ROOT, "cbvmda": "urn:epcglobal:cbv:mda:",
                     "epcis": "https://ref.gs1.org/epcis/", "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
                     "owl": "http://www.w3.org/2002/07/owl#", "xsd": "http://www.w3.org/2001/XMLSchema#",
                     "dcterms": "http://purl.org/dc/terms/"}
"""Prefixes the EPCIS 2.0 JSON-LD context declares: usable without an inline declaration."""

_STANDARD_EVENT_KEYS = frozenset("""@context type eventID eventTime recordTime eventTimeZoneOffset errorDeclaration
certificationInfo epcList quantityList action bizStep disposition persistentDisposition readPoint bizLocation
bizTransactionList sourceList destinationList sensorElementList ilmd parentID childEPCs childQuantityList
inputEPCList inputQuantityList outputEPCList outputQuantityList transformationID""".split())
_SENSOR_VOCABULARIES = {"type": cbv.MEASUREMENT_TYPES | {"Activity"}, "exception": cbv.SENSOR_ALERT_TYPES,
                        "component": cbv.COMPONENTS | {"geocoordinate"}}


def declared_namespaces(*contexts: Any) -> dict[str, str]:
    """Prefix → namespace: the standard context's prefixes plus inline ``@context`` maps."""
    namespaces = dict(STANDARD_PREFIXES)
    for context in contexts:
        for item in context if isinstance(context, list) else [context]:
            if isinstance(item, Mapping):
                namespaces.update({k: v for k, v in item.items() if isinstance(v, str) and not k.startswith("@")})
    return namespaces


def _is_full_uri(text: str) -> bool:
    return text.startswith(("http://", "https://", "urn:")) and bool(_URI_SYNTAX.match(text))


def vocabulary_error(field: str, value: Any, namespaces: Mapping[str, str],
                     terms: frozenset[str] | set[str] | None = None, web_root: str | None = None) -> str | None:
    """Why ``value`` is not a valid value of the CBV vocabulary ``field`` (None if it is)."""
    if not isinstance(value, str) or not value.strip():
        return f"{field} must be a non-empty string"
    text = value.strip()
    if terms is None:
        terms = cbv.STANDARD_TERMS[field]
        type_prefix, segment = cbv.VOCABULARIES[field]
        web_root = cbv.CBV_ROOT + type_prefix
        urn_root: str | None = f"urn:epcglobal:cbv:{segment}:"
    else:
        urn_root = None
    if ":" not in text:
        if text in terms:
            return None
        return (f"{text!r} is not a standard CBV 2.0 {field}; a user-defined value must be a full URI "
                "(https://… or urn:…) or a CURIE in a declared namespace")
    if ":" in text and not text.startswith(("http://", "https://", "urn:")):
        prefix, local = text.split(":", 1)
        if prefix not in namespaces:
            return f"{text!r} uses the prefix {prefix!r}, which no @context declares"
        text = namespaces[prefix] + local
    for root in (urn_root, web_root):
        if root and text.startswith(root):
            term = text[len(root):]
            if term not in terms:
                return f"{value!r} is not a term of the standard CBV 2.0 {field} vocabulary"
            return None
    if not _is_full_uri(text):
        return f"{value!r} is not a URI"
    return None


def _extension_key_error(key: str, namespaces: Mapping[str, str]) -> str | None:
    if key.startswith("@") or key.startswith(("http://", "https://")):
        return None
    if ":" not in key:
        return f"extension field {key!r} has no namespace prefix"
    prefix = key.split(":", 1)[0]
    if prefix not in namespaces:
        return f"extension field {key!r} uses the prefix {prefix!r}, which no @context declares"
    return None


def _walk_extensions(value: Any, path: str, namespaces: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """Every key inside an extension element must be namespaced too (except '#text')."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_extensions(item, f"{path}/{index}", namespaces)
    elif isinstance(value, Mapping):
        for key, child in value.items():
            if key == "#text":
                continue
            error = _extension_key_error(key, namespaces)
            if error:
                yield f"{path}/{key}", error
            yield from _walk_extensions(child, f"{path}/{key}", namespaces)


def _time_fields(event: Mapping[str, Any], path: str) -> Iterator[tuple[str, Any]]:
    for name in ("eventTime", "recordTime"):
        if name in event:
            yield f"{path}/{name}", event[name]
    declaration = event.get("errorDeclaration")
    if isinstance(declaration, Mapping) and "declarationTime" in declaration:
        yield f"{path}/errorDeclaration/declarationTime", declaration["declarationTime"]
    for index, element in enumerate(event.get("sensorElementList") or []):
        if not isinstance(element, Mapping):
            continue
        metadata = element.get("sensorMetadata") or {}
        for name in ("time", "startTime", "endTime"):
            if isinstance(metadata, Mapping) and name in metadata:
                yield f"{path}/sensorElementList/{index}/sensorMetadata/{name}", metadata[name]
        for report_index, report in enumerate(element.get("sensorReport") or []):
            if isinstance(report, Mapping) and "time" in report:
                yield f"{path}/sensorElementList/{index}/sensorReport/{report_index}/time", report["time"]


def _identifiers(event: Mapping[str, Any], path: str) -> Iterator[tuple[str, Any]]:
    for name in ("epcList", "childEPCs", "inputEPCList", "outputEPCList"):
        for index, epc in enumerate(event.get(name) or []):
            yield f"{path}/{name}/{index}", epc
    if "parentID" in event:
        yield f"{path}/parentID", event["parentID"]
    for name in ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"):
        for index, quantity in enumerate(event.get(name) or []):
            if isinstance(quantity, Mapping) and "epcClass" in quantity:
                yield f"{path}/{name}/{index}/epcClass", quantity["epcClass"]
    for name in ("readPoint", "bizLocation"):
        where = event.get(name)
        if isinstance(where, Mapping) and "id" in where:
            yield f"{path}/{name}/id", where["id"]


def event_rule_errors(event: Mapping[str, Any], path: str, namespaces: Mapping[str, str]) -> list[dict[str, str]]:
    """Violations of the rules beyond JSON Schema in one event."""
    errors: list[dict[str, str]] = []

    def add(where: str, message: str, rule: str) -> None:
        errors.append({"path": where, "message": message, "rule": rule})

    namespaces = declared_namespaces(namespaces, event.get("@context"))
    for where, value in _time_fields(event, path):
        try:
            parse_time(str(value))
        except EventHashError as exc:
            add(where, str(exc), "TIME-INVALID")
    for field in ("bizStep", "disposition"):
        if field in event:
            message = vocabulary_error(field, event[field], namespaces)
            if message:
                add(f"{path}/{field}", message, "CBV-VOCABULARY")
    persistent = event.get("persistentDisposition")
    if isinstance(persistent, Mapping):
        for key in ("set", "unset"):
            for index, value in enumerate(persistent.get(key) or []):
                message = vocabulary_error("disposition", value, namespaces)
                if message:
                    add(f"{path}/persistentDisposition/{key}/{index}", message, "CBV-VOCABULARY")
    for name, field in (("bizTransactionList", "bizTransactionType"), ("sourceList", "sourceDestType"),
                        ("destinationList", "sourceDestType")):
        for index, item in enumerate(event.get(name) or []):
            if isinstance(item, Mapping) and "type" in item:
                message = vocabulary_error(field, item["type"], namespaces)
                if message:
                    add(f"{path}/{name}/{index}/type", message, "CBV-VOCABULARY")
    declaration = event.get("errorDeclaration")
    if isinstance(declaration, Mapping) and "reason" in declaration:
        message = vocabulary_error("errorReason", declaration["reason"], namespaces)
        if message:
            add(f"{path}/errorDeclaration/reason", message, "CBV-VOCABULARY")
    for index, element in enumerate(event.get("sensorElementList") or []):
        if not isinstance(element, Mapping):
            continue
        for report_index, report in enumerate(element.get("sensorReport") or []):
            if not isinstance(report, Mapping):
                continue
            for field, terms in _SENSOR_VOCABULARIES.items():
                if field in report:
                    root = cbv.CBV_ROOT + "Comp-" if field == "component" else "https://gs1.org/voc/"
                    message = vocabulary_error(field, report[field], namespaces, terms, root)
                    if message:
                        add(f"{path}/sensorElementList/{index}/sensorReport/{report_index}/{field}", message,
                            "CBV-VOCABULARY")
    if event.get("type") == "AggregationEvent" and event.get("action") in ("ADD", "DELETE") \
            and not event.get("parentID"):
        add(f"{path}/parentID", "an AggregationEvent with action ADD or DELETE needs a parentID", "AGGREGATION-PARENT")
    for key, value in event.items():
        if key in _STANDARD_EVENT_KEYS:
            continue
        message = _extension_key_error(key, namespaces)
        if message:
            add(f"{path}/{key}", message, "EXTENSION-NAMESPACE")
        for where, nested in _walk_extensions(value, f"{path}/{key}", namespaces):
            add(where, nested, "EXTENSION-NAMESPACE")
    for name in ("readPoint", "bizLocation"):
        where_value = event.get(name)
        if isinstance(where_value, Mapping):
            for key, value in where_value.items():
                if key != "id":
                    message = _extension_key_error(key, namespaces)
                    if message:
                        add(f"{path}/{name}/{key}", message, "EXTENSION-NAMESPACE")
    ilmd = event.get("ilmd")
    if isinstance(ilmd, Mapping):
        for key, value in ilmd.items():
            message = _extension_key_error(key, namespaces)
            if message:
                add(f"{path}/ilmd/{key}", message.replace("extension field", "ILMD field"), "ILMD-NAMESPACE")
            for where, nested in _walk_extensions(value, f"{path}/ilmd/{key}", namespaces):
                add(where, nested, "ILMD-NAMESPACE")
    for where, value in _identifiers(event, path):
        if isinstance(value, str) and (is_epc_urn(value.strip()) or is_digital_link(value.strip())):
            try:
                normalise(value)
            except IdentifierError as exc:
                add(where, str(exc), "IDENTIFIER-INVALID")
    return errors


def rule_errors(document: Any) -> list[dict[str, str]]:
    """Violations of the rules beyond JSON Schema, for every event of an EPCISDocument."""
    if not isinstance(document, Mapping):
        return []
    body = document.get("epcisBody")
    events = body.get("eventList") if isinstance(body, Mapping) else None
    if not isinstance(events, list):
        return []
    namespaces = declared_namespaces(document.get("@context"))
    errors: list[dict[str, str]] = []
    for index, event in enumerate(events):
        if isinstance(event, Mapping):
            errors.extend(event_rule_errors(event, f"/epcisBody/eventList/{index}", namespaces))
    return errors


def _official_view(document: Any) -> Any:
    """The document as the official schema sees it: without ``certificationInfo``.

    EPCIS 2.0 (§7.3.6) defines ``certificationInfo`` for every event type, but the published JSON
    Schema forgot it in its lists of allowed property names; our own schema checks its shape.
    """
    body = document.get("epcisBody") if isinstance(document, Mapping) else None
    events = body.get("eventList") if isinstance(body, Mapping) else None
    if not isinstance(events, list) or not any(isinstance(e, Mapping) and "certificationInfo" in e for e in events):
        return document
    stripped = [{k: v for k, v in e.items() if k != "certificationInfo"} if isinstance(e, Mapping) else e
                for e in events]
    return {**document, "epcisBody": {**body, "eventList": stripped}}


def schema_errors(document: Any, limit: int = 20) -> list[dict[str, str]]:
    """Every violation (official schema, our schema, our rules) as ``{path, message, rule}``; [] if valid."""
    errors: list[dict[str, str]] = []
    official = _official_view(document)
    if _OFFICIAL_FAST is None or not _OFFICIAL_FAST(official):
        errors.extend(_schema_violations(_OFFICIAL, official, "EPCIS-SCHEMA", limit))
    if _FAST_VALID is None or not _FAST_VALID(document):
        errors.extend(_schema_violations(_VALIDATOR, document, "JADE-SCHEMA", limit))
    if not errors:
        errors.extend(rule_errors(document))
    return errors[:limit]
