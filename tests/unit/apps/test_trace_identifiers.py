"""EPC URN ↔ GS1 Digital Link, CBV values, and the schema of accepted documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baas.apps.traceability import cbv
from baas.apps.traceability.identifiers import (
    CheckDigitError, IdentifierError, check_digit, company_digits, normalise, to_urn, urn_to_dl,
)
from baas.apps.traceability.schema import schema_errors

EXAMPLES = Path(__file__).resolve().parents[2] / "apps" / "epcis_examples"


@pytest.mark.parametrize("urn, dl", [
    ("urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"),
    ("urn:epc:class:lgtin:4012345.012345.998877", "https://id.gs1.org/01/04012345123456/10/998877"),
    ("urn:epc:idpat:sgtin:4012345.012345.*", "https://id.gs1.org/01/04012345123456"),
    ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908"),
    ("urn:epc:id:sgln:0614141.07346.1234", "https://id.gs1.org/414/0614141073467/254/1234"),
    ("urn:epc:id:sgln:0614141.07346.0", "https://id.gs1.org/414/0614141073467"),
    ("urn:epc:id:pgln:0614141.07346", "https://id.gs1.org/417/0614141073467"),
])
def test_urn_and_digital_link_convert_both_ways(urn: str, dl: str) -> None:
    assert urn_to_dl(urn) == dl
    assert normalise(urn) == normalise(dl) == dl
    assert to_urn(dl, ["0614141", "4012345"]) == urn


def test_digital_link_is_constrained_to_its_canonical_form() -> None:
    canonical = "https://id.gs1.org/01/09521234123453/21/1001"
    assert normalise("https://brand.example.com/01/9521234123453/21/1001?linkType=gs1:pip") == canonical
    assert normalise("https://id.gs1.org/01/09521234123453/22/V2/10/LOT/21/1001") == canonical
    assert normalise("https://id.gs1.org/01/09521234123453/10/LOT1/17/260101") == \
        "https://id.gs1.org/01/09521234123453/10/LOT1"
    assert normalise("geo:47.506694,11.104301") == "geo:47.506694,11.104301"
    with pytest.raises(CheckDigitError):
        normalise("https://id.gs1.org/01/09521234123450/21/1001")
    with pytest.raises(IdentifierError):
        urn_to_dl("urn:epc:id:sgtin:0614141.1073.2017")


def test_company_digits_and_prefix_lengths() -> None:
    assert check_digit("061414112345") == "2"
    assert company_digits("https://id.gs1.org/01/10614141073464/21/2017") == "0614141073464"
    assert company_digits("https://id.gs1.org/00/106141412345678908") == "06141412345678908"
    assert company_digits("geo:1,2") is None
    # the prefix length decides the URN split
    assert to_urn("https://id.gs1.org/01/10614141073464/21/2017", ["061414107"]) == \
        "urn:epc:id:sgtin:061414107.1346.2017"


def test_cbv_values_in_every_spelling() -> None:
    for spelling in ("shipping", "urn:epcglobal:cbv:bizstep:shipping", "https://ref.gs1.org/cbv/BizStep-shipping",
                     "cbv:BizStep-shipping"):
        assert cbv.full_uri("bizStep", spelling) == "https://ref.gs1.org/cbv/BizStep-shipping"
        assert cbv.short("bizStep", spelling) == "shipping"
    assert cbv.full_uri("disposition", "in_transit") == "https://ref.gs1.org/cbv/Disp-in_transit"
    assert cbv.short("bizStep", "https://brand.example.com/steps/roasting") == "https://brand.example.com/steps/roasting"
    assert cbv.step_label("receiving") == "Received"


def test_example_documents_are_valid_and_broken_ones_are_not() -> None:
    for path in EXAMPLES.glob("*.jsonld"):
        assert schema_errors(json.loads(path.read_text())) == [], path.name
    document = json.loads((EXAMPLES / "02_partner_logistics.jsonld").read_text())
    events = document["epcisBody"]["eventList"]
    events[0]["action"] = "MOVE"
    del events[1]["bizTransactionList"]
    events[2]["eventTime"] = "yesterday"
    paths = {error["path"] for error in schema_errors(document)}
    assert {"/epcisBody/eventList/0/action", "/epcisBody/eventList/1", "/epcisBody/eventList/2/eventTime"} <= paths
    assert schema_errors({"type": "EPCISDocument"})
