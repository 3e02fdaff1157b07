"""Units of measure for the ``…_<uom>`` query parameters: conversion among UN/CEFACT Rec. 20 codes.

EPCIS 2.0 filters sensor values and quantities per unit (``GE_value_KEL``, ``LT_quantity_KGM``) and
GS1's conformance tests expect a value captured in one unit to be found by a bound in another of the
same dimension (TCR-53 step 26: ``GE_value_KEL`` finds a temperature recorded in ``CEL``). A unit of
another dimension never matches; a code this table does not know matches only itself.

Conversion is exact (fractions), and so is the comparison at a boundary: a captured number is the
decimal its JSON text wrote (``4.1`` is 41/10, not the binary double nearest to it), so a bound is
turned, per stored unit, into the double where the decimals written in that unit cross it. SQLite
then compares doubles (``json_extract``) and the answer is the one exact decimal arithmetic gives.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import NamedTuple


class Unit(NamedTuple):
    """``si = value * factor + offset`` in the dimension's coherent SI unit."""

    dimension: str
    factor: Fraction
    offset: Fraction = Fraction(0)


def _f(text: str) -> Fraction:
    return Fraction(text)


_POUND = _f("0.45359237")
_INCH = _f("0.0254")
_US_GALLON = _f("0.003785411784")
_STANDARD_GRAVITY = _f("9.80665")

UNITS: dict[str, Unit] = {
    # thermodynamic temperature, kelvin
    "KEL": Unit("temperature", _f("1")),
    "CEL": Unit("temperature", _f("1"), _f("273.15")),
    "FAH": Unit("temperature", Fraction(5, 9), _f("459.67") * Fraction(5, 9)),
    # mass, kilogram
    "KGM": Unit("mass", _f("1")), "GRM": Unit("mass", _f("0.001")), "MGM": Unit("mass", _f("0.000001")),
    "MC": Unit("mass", _f("1e-9")), "DTN": Unit("mass", _f("100")), "TNE": Unit("mass", _f("1000")),
    "LBR": Unit("mass", _POUND), "ONZ": Unit("mass", _POUND / 16), "STN": Unit("mass", _POUND * 2000),
    "LTN": Unit("mass", _POUND * 2240),
    # length, metre
    "MTR": Unit("length", _f("1")), "KMT": Unit("length", _f("1000")), "DMT": Unit("length", _f("0.1")),
    "CMT": Unit("length", _f("0.01")), "MMT": Unit("length", _f("0.001")), "4H": Unit("length", _f("1e-6")),
    "INH": Unit("length", _INCH), "FOT": Unit("length", _INCH * 12), "YRD": Unit("length", _INCH * 36),
    "SMI": Unit("length", _INCH * 63360), "NMI": Unit("length", _f("1852")),
    # volume, cubic metre
    "MTQ": Unit("volume", _f("1")), "LTR": Unit("volume", _f("0.001")), "DMQ": Unit("volume", _f("0.001")),
    "HLT": Unit("volume", _f("0.1")), "DLT": Unit("volume", _f("0.0001")), "CLT": Unit("volume", _f("0.00001")),
    "MLT": Unit("volume", _f("0.000001")), "CMQ": Unit("volume", _f("0.000001")),
    "MMQ": Unit("volume", _f("1e-9")), "INQ": Unit("volume", _INCH ** 3), "FTQ": Unit("volume", (_INCH * 12) ** 3),
    "GLL": Unit("volume", _US_GALLON), "QT": Unit("volume", _US_GALLON / 4), "PT": Unit("volume", _US_GALLON / 8),
    "OZA": Unit("volume", _US_GALLON / 128), "GLI": Unit("volume", _f("0.00454609")),
    # pressure, pascal
    "PAL": Unit("pressure", _f("1")), "A97": Unit("pressure", _f("100")), "KPA": Unit("pressure", _f("1000")),
    "MPA": Unit("pressure", _f("1000000")), "MBR": Unit("pressure", _f("100")), "BAR": Unit("pressure", _f("100000")),
    "ATM": Unit("pressure", _f("101325")), "PS": Unit("pressure", _POUND * _STANDARD_GRAVITY / _INCH ** 2),
    # time, second
    "SEC": Unit("time", _f("1")), "C26": Unit("time", _f("0.001")), "MIN": Unit("time", _f("60")),
    "HUR": Unit("time", _f("3600")), "DAY": Unit("time", _f("86400")), "WEE": Unit("time", _f("604800")),
    # ratios (relative humidity in P1 in GS1's examples), one
    "C62": Unit("ratio", _f("1")), "P1": Unit("ratio", _f("0.01")), "59": Unit("ratio", _f("1e-6")),
    "61": Unit("ratio", _f("1e-9")),
    # mass concentration (absolute humidity in A93 in GS1's examples), kilogram per cubic metre
    "KMQ": Unit("mass concentration", _f("1")), "GL": Unit("mass concentration", _f("1")),
    "A93": Unit("mass concentration", _f("0.001")), "M1": Unit("mass concentration", _f("0.001")),
    "GP": Unit("mass concentration", _f("0.000001")),
}
"""UN/CEFACT Rec. 20 codes by dimension, with their exact definitions (the pound, inch and US gallon
as defined since 1959; standard gravity for the psi)."""

OPERATORS = {"EQ": "=", "GT": ">", "GE": ">=", "LT": "<", "LE": "<="}
MAX_EXPONENT = 400
"""A bound's decimal exponent beyond this is refused (a double cannot hold it; exact arithmetic on
``1e-999999`` would be a million-digit fraction)."""


class UnitError(ValueError):
    """A bound that is not a finite decimal number."""


def parse_decimal(text: str) -> Fraction:
    """A query bound as the exact decimal it writes; UnitError for anything else (NaN, infinities)."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation as exc:
        raise UnitError("not a number") from exc
    if not number.is_finite() or abs(number.adjusted()) > MAX_EXPONENT:
        raise UnitError("not a finite number of reasonable size")
    return Fraction(number)


def convert(value: Fraction, source: str, target: str, affine: bool = True) -> Fraction | None:
    """``value`` in unit ``source`` expressed in unit ``target`` (None: not the same dimension).

    ``affine=False`` converts a difference (a standard deviation): the scale only, no zero offset."""
    if source == target:
        return value
    a, b = UNITS.get(source), UNITS.get(target)
    if a is None or b is None or a.dimension != b.dimension:
        return None
    si = value * a.factor + (a.offset if affine else 0)
    return (si - (b.offset if affine else 0)) / b.factor


def same_dimension(uom: str) -> list[str]:
    """The codes a bound in ``uom`` is compared with: every code of its dimension (itself if unknown)."""
    unit = UNITS.get(uom)
    if unit is None:
        return [uom]
    return [code for code, other in UNITS.items() if other.dimension == unit.dimension]


def written(number: float) -> Fraction:
    """The decimal a stored double was written as (the shortest text that reads back as it)."""
    return Fraction(Decimal(repr(number)))


def double_bound(operator: str, bound: Fraction) -> tuple[str, float] | None:
    """(SQL operator, double) selecting exactly the doubles whose written decimal satisfies
    ``written OP bound``; None when none does (an ``EQ`` bound no double is written as).

    ``written`` is monotonic in the double, so each one-sided condition is one threshold; the double
    nearest the bound is at most a step or two from it."""
    if operator == "EQ":
        nearest = float(bound)
        return ("=", nearest) if math.isfinite(nearest) and written(nearest) == bound else None
    upward = operator in ("GT", "GE")

    def holds(x: float) -> bool:
        value = written(x)
        return {"GT": value > bound, "GE": value >= bound, "LT": value < bound, "LE": value <= bound}[operator]

    x = float(bound)
    if math.isinf(x):
        return None if (x > 0) == upward else (">=" if upward else "<=", -x)
    step = math.inf if upward else -math.inf
    back = -step
    if holds(x):  # move toward the bound while the condition still holds: the extreme double that does
        while math.isfinite(math.nextafter(x, back)) and holds(math.nextafter(x, back)):
            x = math.nextafter(x, back)
    else:
        while not holds(x):
            x = math.nextafter(x, step)
            if math.isinf(x):
                return None
    return (">=" if upward else "<=", x)


def unit_bounds(operator: str, text: str, uom: str, affine: bool = True) -> list[tuple[str, str, float]]:
    """(stored uom, SQL operator, double) per unit of ``uom``'s dimension: a stored number in that
    unit matches ``OP text uom`` exactly when it satisfies the SQL comparison. Empty: nothing can match."""
    bound = parse_decimal(text)
    bounds = []
    for code in same_dimension(uom):
        converted = convert(bound, uom, code, affine)
        if converted is None:
            continue
        comparison = double_bound(operator, converted)
        if comparison is not None:
            bounds.append((code, *comparison))
    return bounds


def matches(operator: str, value: float, value_uom: str, text: str, uom: str, affine: bool = True) -> bool:
    """Whether a stored number ``value`` (written in ``value_uom``) satisfies ``OP text uom``, in exact
    decimal arithmetic (what ``unit_bounds`` gives SQLite to compute; the tests compare the two)."""
    converted = convert(written(value), value_uom, uom, affine)
    if converted is None:
        return False
    bound = parse_decimal(text)
    return {"EQ": converted == bound, "GT": converted > bound, "GE": converted >= bound,
            "LT": converted < bound, "LE": converted <= bound}[operator]
