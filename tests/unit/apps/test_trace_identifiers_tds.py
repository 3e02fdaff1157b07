"""Every GS1 key of the EPC Tag Data Standard 2.x, EPC URI ↔ GS1 Digital Link, round-tripped.

Independent oracle for the URN → Digital Link direction: the Digital Link converter inside GS1's
reference event-hash generator (``epcis_event_hash_generator.dl_normaliser``).
"""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baas.apps.traceability.identifiers import (
    CheckDigitError, IdentifierError, check_digit, normalise, to_urn, urn_to_dl,
)

dl_normaliser = pytest.importorskip("epcis_event_hash_generator.dl_normaliser")


def oracle_dl(urn: str) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dl_normaliser.normaliser(urn)


# (EPC URI, company prefix, its canonical Digital Link)
TABLE = [
    ("urn:epc:id:sgtin:0614141.107346.2017", "0614141", "https://id.gs1.org/01/10614141073464/21/2017"),
    ("urn:epc:id:sscc:0614141.1234567890", "0614141", "https://id.gs1.org/00/106141412345678908"),
    ("urn:epc:id:sgln:0614141.07346.1234", "0614141", "https://id.gs1.org/414/0614141073467/254/1234"),
    ("urn:epc:id:sgln:0614141.07346.0", "0614141", "https://id.gs1.org/414/0614141073467"),
    ("urn:epc:id:grai:4012345.55555.987", "4012345", "https://id.gs1.org/8003/04012345555554987"),
    ("urn:epc:id:giai:4000001.12345", "4000001", "https://id.gs1.org/8004/400000112345"),
    ("urn:epc:id:gsrn:95252084.000000001", "95252084", "https://id.gs1.org/8018/952520840000000010"),
    ("urn:epc:id:gsrnp:0614141.0123456789", "0614141", "https://id.gs1.org/8017/061414101234567892"),
    ("urn:epc:id:gdti:95252084.0001.0003555480001000", "95252084",
     "https://id.gs1.org/253/95252084000140003555480001000"),
    ("urn:epc:id:gdti:012345678901..ABC", "012345678901", "https://id.gs1.org/253/0123456789012ABC"),
    ("urn:epc:id:cpi:0614141.123ABC.123456789", "0614141", "https://id.gs1.org/8010/0614141123ABC/8011/123456789"),
    ("urn:epc:id:sgcn:4012345.67890.04711", "4012345", "https://id.gs1.org/255/401234567890104711"),
    ("urn:epc:id:ginc:0614141.xyz47%2F11", "0614141", "https://id.gs1.org/401/0614141xyz47%2F11"),
    ("urn:epc:id:gsin:0614141.012345678", "0614141", "https://id.gs1.org/402/06141410123456789"),
    ("urn:epc:id:itip:4012345.012345.01.02.987", "4012345", "https://id.gs1.org/8006/040123451234560102/21/987"),
    ("urn:epc:id:upui:1234567.098765.51qIgY)%3C%26Jp3*j7SDB", "1234567",
     "https://id.gs1.org/01/01234567987651/235/51qIgY%29%3C%26Jp3%2Aj7SDB"),
    ("urn:epc:id:pgln:123456789012.", "123456789012", "https://id.gs1.org/417/1234567890128"),
    ("urn:epc:id:pgln:1234567.89012", "1234567", "https://id.gs1.org/417/1234567890128"),
    ("urn:epc:id:sgln:012345678901..0", "012345678901", "https://id.gs1.org/414/0123456789012"),
    ("urn:epc:class:lgtin:4012345.012345.998877", "4012345", "https://id.gs1.org/01/04012345123456/10/998877"),
    ("urn:epc:idpat:sgtin:4012345.098765.*", "4012345", "https://id.gs1.org/01/04012345987652"),
    ("urn:epc:idpat:grai:4012345.55555.*", "4012345", "https://id.gs1.org/8003/04012345555554"),
    ("urn:epc:idpat:gdti:4012345.55555.*", "4012345", "https://id.gs1.org/253/4012345555554"),
    ("urn:epc:idpat:sgcn:4012345.55555.*", "4012345", "https://id.gs1.org/255/4012345555554"),
    ("urn:epc:idpat:cpi:0614141.123ABC.*", "0614141", "https://id.gs1.org/8010/0614141123ABC"),
    ("urn:epc:idpat:itip:4012345.012345.01.02.*", "4012345", "https://id.gs1.org/8006/040123451234560102"),
]


@pytest.mark.parametrize("urn, prefix, dl", TABLE, ids=[row[0] for row in TABLE])
def test_every_scheme_round_trips_uri_and_digital_link(urn: str, prefix: str, dl: str) -> None:
    assert urn_to_dl(urn) == dl
    assert oracle_dl(urn) == dl
    assert to_urn(dl, [prefix]) == urn
    assert normalise(dl) == dl and normalise(urn) == dl


def test_upui_pattern_is_the_gtin_class() -> None:
    # A UPUI class pattern names the same thing as the SGTIN pattern: its Digital Link is the GTIN.
    assert urn_to_dl("urn:epc:idpat:upui:1234567.098765.*") == urn_to_dl("urn:epc:idpat:sgtin:1234567.098765.*")


@pytest.mark.parametrize("spelling", [
    "https://example.com/8018/952520840000000010?linkType=all",
    "https://id.gs1.org/gsrn/952520840000000010".replace("/gsrn/", "/8018/"),
    "http://brand.example/some/prefix/8018/952520840000000010",
])
def test_digital_link_spellings_are_the_same_identifier(spelling: str) -> None:
    assert normalise(spelling) == "https://id.gs1.org/8018/952520840000000010"


@pytest.mark.parametrize("bad", [
    "https://id.gs1.org/8018/952520840000000011",  # GSRN check digit
    "https://id.gs1.org/402/06141410123456780",  # GSIN check digit
    "https://id.gs1.org/253/4012345555555ABC",  # GDTI check digit
    "https://id.gs1.org/8006/040123451234570102/21/1",  # ITIP's GTIN check digit
])
def test_a_wrong_check_digit_is_refused(bad: str) -> None:
    with pytest.raises(CheckDigitError):
        normalise(bad)


@pytest.mark.parametrize("bad", [
    "urn:epc:id:sgtin:0614141.1073460.2017",  # 14 digits before the serial
    "urn:epc:id:gsrn:95252084.00000001",  # 16 digits
    "urn:epc:id:unknown:1.2",
    "urn:epc:idpat:sgtin:0614141.*.*",
    "urn:epc:idpat:sscc:0614141.*",
])
def test_malformed_or_unknown_urns_get_a_clear_error(bad: str) -> None:
    with pytest.raises(IdentifierError):
        urn_to_dl(bad)


prefix_lengths = st.integers(6, 12)


@settings(max_examples=200, deadline=None)
@given(prefix_lengths, st.sampled_from(["sgtin", "sscc", "sgln", "grai", "gsrn", "gsrnp", "gdti", "pgln", "gsin",
                                        "itip", "lgtin"]),
       st.text("0123456789", min_size=20, max_size=20), st.text("ABCDEFGHJK0123456789", min_size=1, max_size=10))
def test_random_keys_round_trip_at_every_prefix_length(length: int, scheme: str, digits: str, serial: str) -> None:
    prefix = digits[:length]
    rest = digits[length:]
    numeric_serial = str(int(serial, 36) % 10**9) if not serial.isdigit() else serial.lstrip("0") or "0"
    urn = {
        "sgtin": f"urn:epc:id:sgtin:{prefix}.{rest[:13 - length]}.{serial}",
        "lgtin": f"urn:epc:class:lgtin:{prefix}.{rest[:13 - length]}.{serial}",
        "sscc": f"urn:epc:id:sscc:{prefix}.{rest[:17 - length]}",
        "sgln": f"urn:epc:id:sgln:{prefix}.{rest[:12 - length]}.{serial}",
        "grai": f"urn:epc:id:grai:{prefix}.{rest[:12 - length]}.{serial}",
        "gsrn": f"urn:epc:id:gsrn:{prefix}.{rest[:17 - length]}",
        "gsrnp": f"urn:epc:id:gsrnp:{prefix}.{rest[:17 - length]}",
        "gdti": f"urn:epc:id:gdti:{prefix}.{rest[:12 - length]}.{numeric_serial}",
        "pgln": f"urn:epc:id:pgln:{prefix}.{rest[:12 - length]}",
        "gsin": f"urn:epc:id:gsin:{prefix}.{rest[:16 - length]}",
        "itip": f"urn:epc:id:itip:{prefix}.{rest[:13 - length]}.01.02.{serial}",
    }[scheme]
    dl = urn_to_dl(urn)
    if not (scheme == "grai" and length == 12):  # the oracle's GRAI pattern wants '...' for a 12-digit prefix
        assert dl == oracle_dl(urn)
    assert to_urn(dl, [prefix]) == urn


def test_check_digit_of_a_known_gtin() -> None:
    assert check_digit("0952123454321") == "3"
