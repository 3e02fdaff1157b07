"""Unit conversion for the ``…_<uom>`` query parameters: SQLite's answer is exact decimal arithmetic.

A number captured in one unit and the same quantity written in another unit of its dimension (up to
15 significant digits and below 10^15, what a JSON number read as a double keeps) match the same bounds, in any unit of that dimension; a unit of another dimension never matches. The SQL
the service builds is run by SQLite over JSON, as the index stores events, and compared with exact
fractions (the decimals as written), so a boundary (``GE_value_KEL=278.15`` for ``5 CEL``) is exact.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from baas.apps.traceability import units
from baas.apps.traceability.service import CaptureError, _unit_condition

CODES = sorted(units.UNITS)
OPERATOR = st.sampled_from(sorted(units.OPERATORS))
DECIMAL = st.decimals(min_value=-10**6, max_value=10**6, places=3, allow_nan=False, allow_infinity=False)


def sql_matches(operator: str, value: str, value_uom: str, bound: str, uom: str, field: str = "value") -> bool:
    """Run the service's condition in SQLite over ``{"value": <value as written>, "uom": ...}``."""
    connection = sqlite3.connect(":memory:")
    try:
        condition, arguments = _unit_condition("p", operator, bound, uom, "r.value", field)
        row = json.dumps({field: json.loads(value), "uom": value_uom})
        query = f"SELECT count(*) FROM (SELECT ? AS value) r WHERE {condition}"
        return bool(connection.execute(query, [row, *arguments]).fetchone()[0])
    finally:
        connection.close()


def exact(operator: str, value: Fraction, value_uom: str, bound: Fraction, uom: str, affine: bool = True) -> bool:
    converted = units.convert(value, value_uom, uom, affine)
    if converted is None:
        return False
    return {"EQ": converted == bound, "GT": converted > bound, "GE": converted >= bound,
            "LT": converted < bound, "LE": converted <= bound}[operator]


def text(number: Decimal) -> str:
    return format(number.normalize(), "f") if number == number.to_integral() else str(number)


@given(operator=OPERATOR, value=DECIMAL, value_uom=st.sampled_from(CODES), bound=DECIMAL, uom=st.sampled_from(CODES))
def test_sqlite_answers_what_exact_decimal_arithmetic_answers(operator: str, value: Decimal, value_uom: str,
                                                               bound: Decimal, uom: str) -> None:
    written = text(value)
    assert sql_matches(operator, written, value_uom, text(bound), uom) == \
        exact(operator, Fraction(value), value_uom, Fraction(bound), uom)


@given(operator=OPERATOR, value=DECIMAL, units_=st.sampled_from(CODES).flatmap(
    lambda code: st.tuples(st.just(code), st.sampled_from(units.same_dimension(code)),
                           st.sampled_from(units.same_dimension(code)))), offset=st.sampled_from([0, 1, -1]))
def test_a_value_and_its_converted_form_match_the_same_bounds(operator: str, value: Decimal,
                                                              units_: tuple[str, str, str], offset: int) -> None:
    """``value`` in unit A, the same quantity in unit B, a bound in unit C at (or one ulp of C's
    decimals around) the value itself: both match or neither does."""
    a, b, c = units_
    converted = units.convert(Fraction(value), a, b)
    assert converted is not None
    as_decimal = Decimal(converted.numerator) / Decimal(converted.denominator)
    assume(Fraction(as_decimal) == converted)  # B writes it exactly (no repeating decimal)
    assume(len(as_decimal.normalize().as_tuple().digits) <= 15 and abs(converted) < 10**15)  # a double keeps it
    at = units.convert(Fraction(value), a, c)
    assert at is not None
    bound_decimal = Decimal(at.numerator) / Decimal(at.denominator)
    assume(Fraction(bound_decimal) == at and len(bound_decimal.normalize().as_tuple().digits) <= 15
           and abs(at) < 10**15)
    bound = text(bound_decimal + offset * Decimal("0.001"))
    original = sql_matches(operator, text(value), a, bound, c)
    assert original == sql_matches(operator, text(as_decimal), b, bound, c)
    assert original == exact(operator, Fraction(value), a, Fraction(Decimal(bound)), c)


def test_the_standards_examples_at_their_boundaries() -> None:
    # GS1 conformance TCR-53 step 26: GE_value_KEL finds a temperature recorded in CEL
    assert sql_matches("GE", "5", "CEL", "278.15", "KEL") and not sql_matches("GT", "5", "CEL", "278.15", "KEL")
    assert sql_matches("EQ", "41", "FAH", "5", "CEL") and sql_matches("LE", "-40", "CEL", "-40", "FAH")
    assert sql_matches("GE", "4.1", "CEL", "4.1", "CEL")  # the decimal as written, not the double below it
    assert sql_matches("GE", "4.5", "CEL", "40.1", "FAH") and not sql_matches("GT", "4.5", "CEL", "40.1", "FAH")
    assert sql_matches("EQ", "1", "LBR", "453.59237", "GRM") and sql_matches("EQ", "500", "GRM", "0.5", "KGM")
    assert sql_matches("LT", "41", "P1", "0.42", "C62") and not sql_matches("LT", "41", "P1", "0.41", "C62")
    assert sql_matches("EQ", "1", "PS", "6894.757293168", "PAL") is False  # psi is not a short decimal of Pa
    assert sql_matches("GT", "1", "PS", "6894.757293168", "PAL") and sql_matches("LT", "1", "PS", "6894.757293169", "PAL")
    assert sql_matches("EQ", "1", "HUR", "3600", "SEC") and sql_matches("EQ", "2", "LTR", "2000", "MLT")
    # another dimension never matches, whatever the number
    assert not any(sql_matches(op, "5", "CEL", "5", "KGM") for op in units.OPERATORS)
    assert not any(sql_matches(op, "5", "KGM", "5", "A93") for op in units.OPERATORS)
    # an unknown code matches itself only
    assert sql_matches("EQ", "3", "XYZ", "3", "XYZ") and not sql_matches("EQ", "3", "XYZ", "3", "KGM")
    # a standard deviation converts by scale only
    assert sql_matches("EQ", "0.1", "CEL", "0.18", "FAH", field="sDev")
    assert sql_matches("EQ", "0.1", "CEL", "0.1", "KEL", field="sDev")


@pytest.mark.parametrize("bound", ["nan", "inf", "-Infinity", "1e999999", "ten", ""])
def test_a_bound_that_is_no_finite_number_is_refused(bound: str) -> None:
    with pytest.raises(CaptureError) as refused:
        _unit_condition("GE_value_CEL", "GE", bound, "CEL", "r.value", "value")
    assert refused.value.code == "INVALID_PARAMETER"
