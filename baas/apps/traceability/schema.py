"""JSON Schema of the EPCIS 2.0 capture documents we accept (``jsonschema``, draft 2020-12).

GS1 publishes ``epcis-json-schema.json`` with EPCIS 2.0, but no PyPI package ships it and this
machine has no internet access, so this is our own faithful rendering of the parts we support: the
``EPCISDocument`` envelope and the five event types with their standard what/when/where/why
fields, the 2.0 JSON-LD field names and value shapes (bare CBV words or URIs, ``quantityList``
elements, ``readPoint``/``bizLocation`` objects, typed ``bizTransactionList``/``sourceList``/
``destinationList``, ``persistentDisposition``, ``sensorElementList``, ``ilmd``,
``certificationInfo``, ``errorDeclaration``). User extensions (``prefix:name`` keys) are allowed,
as the standard allows them; unknown un-prefixed keys are rejected, as GS1's schema does.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

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
    "percValue": {"type": "number"}, "uom": {"type": "string"}, "coordinateReferenceSystem": _URI,
}, "patternProperties": _EXTENSION_KEYS, "additionalProperties": False}
_SENSOR_ELEMENT = {"type": "object", "properties": {
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
    _FAST_VALID = None


def schema_errors(document: Any, limit: int = 20) -> list[dict[str, str]]:
    """Violations of the schema as ``{path, message}`` (empty when the document is valid)."""
    if _FAST_VALID is not None and _FAST_VALID(document):
        return []
    errors = []
    for error in sorted(_VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))[:limit]:
        path = "/".join(str(part) for part in error.absolute_path)
        errors.append({"path": "/" + path, "message": error.message})
    return errors
