"""Query parameters over user extension fields (EPCIS 2.0 §8.2.7.1): ``EQ_/GT_/GE_/LT_/LE_/EXISTS_``
on top-level extension fields, ILMD, sensor elements, sensor metadata and reports, error
declarations, readPoint and bizLocation, each also in its ``INNER_`` form (a field nested at any
depth inside a top-level extension field of that place).

At indexing, :func:`field_rows` lists every extension field occurrence of an event as
``(name, text, number, millis)``: ``name`` is ``<scope>|<field>`` where ``<field>`` is the
expanded name ``{namespace}local`` (the event's inline ``@context`` declares the prefix) and, when
it differs, also the name as written (``ext1:int``). A query parameter names the field either as a
CURIE as written in the events or as ``<namespace URI>#<local name>`` (the standard's form), which
matches whatever prefix the capturer chose. ``number`` is set when the value is a JSON number or a
decimal string, ``millis`` when it is an xsd:dateTime with a zone: ``GT_`` and friends compare
numbers when the parameter is a number and times when it is a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from baas.apps.traceability.eventhash import EventHashError, context_namespaces, time_millis

TOP, ILMD, SENSOR_ELEMENT, SENSOR_METADATA, SENSOR_REPORT, ERROR_DECLARATION, READ_POINT, BIZ_LOCATION = (
    "", "ILMD", "SENSORELEMENT", "SENSORMETADATA", "SENSORREPORT", "ERROR_DECLARATION", "readPoint", "bizLocation")
SCOPES = (ILMD, SENSOR_ELEMENT, SENSOR_METADATA, SENSOR_REPORT, ERROR_DECLARATION, READ_POINT, BIZ_LOCATION)
OPERATORS = {"EQ": "=", "GT": ">", "GE": ">=", "LT": "<", "LE": "<=", "EXISTS": ""}
MAX_ROWS_PER_EVENT = 2000
"""An event with more extension values than this indexes the first ones only (documented)."""

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

Row = tuple[str, str, "float | None", "int | None"]


@dataclass(frozen=True, slots=True)
class FieldParameter:
    """A parsed extension-field query parameter."""

    operator: str
    """EQ, GT, GE, LT, LE or EXISTS."""
    scope: str
    """``""`` (top level), ILMD, SENSORELEMENT, ..., each optionally prefixed ``INNER_``."""
    names: tuple[str, ...]
    """The stored ``<scope>|<field>`` names that this parameter's field may have."""


def parse_parameter(name: str) -> FieldParameter | None:
    """The extension-field parameter ``name`` stands for, or None if it is not one (then it is
    either a standard parameter or unsupported). The field must be qualified: ``prefix:local`` or
    ``namespace#local``."""
    operator, _, rest = name.partition("_")
    if operator not in OPERATORS or not rest:
        return None
    inner = rest.startswith("INNER_")
    if inner:
        rest = rest[len("INNER_"):]
    scope = TOP
    for candidate in SCOPES:
        if rest.startswith(candidate + "_"):
            scope, rest = candidate, rest[len(candidate) + 1:]
            break
    fields: tuple[str, ...]
    if "#" in rest:
        namespace, _, local = rest.rpartition("#")
        if not namespace or not local:
            return None
        # the standard's "namespace#name", and a namespace that itself ends in '#' written once
        # ("http://ex.org/ns#name" for the namespace "http://ex.org/ns#"), as an IRI key or a declared prefix
        fields = tuple(dict.fromkeys(("{" + namespace + "}" + local, namespace + local,
                                      "{" + namespace + "#}" + local, rest)))
    elif ":" in rest and not rest.startswith(":") and not rest.endswith(":"):
        fields = (rest,)
    else:
        return None
    full_scope = ("INNER_" + scope) if inner else scope
    return FieldParameter(operator, full_scope, tuple(f"{full_scope}|{field}" for field in fields))


def typed_value(text: str) -> tuple[float | None, int | None]:
    """(number, millis) a parameter or field value stands for (None where it is not one)."""
    text = text.strip()
    number = float(text) if _NUMBER.match(text) else None
    millis = None
    if _TIME.match(text):
        try:
            millis = time_millis(text)
        except EventHashError:
            millis = None
    return number, millis


def _expanded(name: str, namespaces: Mapping[str, str]) -> str:
    if ":" in name and not name.startswith(("http://", "https://", "urn:")):
        prefix, local = name.split(":", 1)
        if prefix in namespaces:
            return "{" + namespaces[prefix] + "}" + local
    return name


def _leaf_rows(names: tuple[str, ...], value: Any) -> Iterator[Row]:
    if isinstance(value, bool):
        text, number, millis = ("true" if value else "false"), None, None
    elif isinstance(value, (int, float)):
        text, number, millis = repr(value) if isinstance(value, float) else str(value), float(value), None
    else:
        text = str(value)
        number, millis = typed_value(text)
    for name in names:
        yield name, text, number, millis


def _occurrences(scope: str, key: str, value: Any, namespaces: Mapping[str, str], inner_scope: str) -> Iterator[Row]:
    """Rows for the field ``key`` = ``value`` in ``scope`` and, below it, its nested fields in ``inner_scope``."""
    expanded = _expanded(key, namespaces)
    names = tuple(dict.fromkeys((f"{scope}|{expanded}", f"{scope}|{key}")))
    values = value if isinstance(value, list) else [value]
    for item in values:
        if isinstance(item, Mapping):
            for name in names:
                yield name, "", None, None  # present (EXISTS_) without a simple value
            if "#text" in item:
                yield from _leaf_rows(names, item["#text"])
            for child_key, child in item.items():
                if not child_key.startswith(("@", "#")):
                    yield from _occurrences(inner_scope, child_key, child, namespaces, inner_scope)
        elif isinstance(item, list):
            yield from _occurrences(scope, key, item, namespaces, inner_scope)
        elif item is not None:
            yield from _leaf_rows(names, item)


def _extension_rows(scope: str, element: Any, standard: frozenset[str], namespaces: Mapping[str, str]) -> Iterator[Row]:
    if not isinstance(element, Mapping):
        return
    for key, value in element.items():
        if key in standard or key.startswith(("@", "#")) or ":" not in key:
            continue
        yield from _occurrences(scope, key, value, namespaces, "INNER_" + scope)


_EVENT_STANDARD: frozenset[str] = frozenset()  # every key of an event without ':' is a standard one; extensions are qualified
_SENSOR_ELEMENT_STANDARD = frozenset({"type", "sensorMetadata", "sensorReport"})


def field_rows(event: Mapping[str, Any], declaration: Mapping[str, Any] | None = None) -> tuple[Row, ...]:
    """Every extension field occurrence of ``event`` (and of its error ``declaration``), as index rows."""
    namespaces = context_namespaces(event.get("@context"))

    def rows() -> Iterator[Row]:
        yield from _extension_rows(TOP, event, _EVENT_STANDARD, namespaces)
        yield from _extension_rows(ILMD, event.get("ilmd"), _EVENT_STANDARD, namespaces)
        yield from _extension_rows(READ_POINT, event.get("readPoint"), _EVENT_STANDARD, namespaces)
        yield from _extension_rows(BIZ_LOCATION, event.get("bizLocation"), _EVENT_STANDARD, namespaces)
        for element in event.get("sensorElementList") or []:
            yield from _extension_rows(SENSOR_ELEMENT, element, _SENSOR_ELEMENT_STANDARD, namespaces)
            if isinstance(element, Mapping):
                yield from _extension_rows(SENSOR_METADATA, element.get("sensorMetadata"), _EVENT_STANDARD,
                                           namespaces)
                for report in element.get("sensorReport") or []:
                    yield from _extension_rows(SENSOR_REPORT, report, _EVENT_STANDARD, namespaces)
        if declaration is not None:
            yield from declaration_rows(declaration, namespaces)

    found: list[Row] = []
    for row in rows():
        found.append(row)
        if len(found) >= MAX_ROWS_PER_EVENT:
            break
    return tuple(dict.fromkeys(found))


def declaration_rows(declaration: Mapping[str, Any], namespaces: Mapping[str, str]) -> Iterator[Row]:
    """Rows of an error declaration's extension fields (indexed when the declaration is captured)."""
    yield from _extension_rows(ERROR_DECLARATION, declaration, _EVENT_STANDARD, namespaces)


def sql_condition(parameter: FieldParameter, values: list[str]) -> tuple[str, list[Any]]:
    """The WHERE condition (over ``events e``) and its arguments for one parsed parameter.

    Raises ValueError with a message for the client when a comparison value is neither a number nor
    a time with a zone.
    """
    names = list(parameter.names)
    marks = ",".join("?" * len(names))
    base = f"e.seq IN (SELECT f.seq FROM fields f WHERE f.name IN ({marks})"
    if parameter.operator == "EXISTS":
        return base + ")", names
    if parameter.operator == "EQ":
        texts = [v.strip() for v in values]
        numbers = [n for n, _ in map(typed_value, texts) if n is not None]
        times = [t for _, t in map(typed_value, texts) if t is not None]
        clauses = [f"f.value IN ({','.join('?' * len(texts))})"]
        arguments: list[Any] = [*names, *texts]
        if numbers:
            clauses.append(f"f.number IN ({','.join('?' * len(numbers))})")
            arguments.extend(numbers)
        if times:
            clauses.append(f"f.millis IN ({','.join('?' * len(times))})")
            arguments.extend(times)
        return base + " AND (" + " OR ".join(clauses) + "))", arguments
    number, millis = typed_value(values[0])
    if number is not None:
        return base + f" AND f.number {OPERATORS[parameter.operator]} ?)", [*names, number]
    if millis is not None:
        return base + f" AND f.millis {OPERATORS[parameter.operator]} ?)", [*names, millis]
    raise ValueError(f"{parameter.operator}_ comparisons take a number or a date and time with a zone, "
                     f"not {values[0]!r}")
