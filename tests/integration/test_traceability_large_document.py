"""A realistic EPCIS capture document of 1,000 events goes through the app in one transaction.

Documents of about 240 events used to fail with CONTRACT_LIMIT_EXCEEDED (the invocation's
arguments reached the contract in one host reply of at most 128 KiB, and MicroPython's heap was
1 MiB). The engine now hands the arguments over in pieces to a 4 MiB heap, and the capture's
gas limit follows what a capture really costs (``capture_gas``), so a 1,000-event document is
one all-or-nothing transaction under the ledger's default gas ceiling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from ledger.crypto import address_from_public_key
from tests.integration.test_traceability_app import Env

pytest.importorskip("contracts")

EVENTS = 1_000


def shipping_event(i: int) -> dict[str, Any]:
    """A partner's shipping ObjectEvent for one serialised item (GS1 Digital Link), a few hundred bytes."""
    minute, second = divmod(i, 60)
    return {
        "type": "ObjectEvent",
        "eventTime": f"2026-05-02T{8 + minute // 60:02d}:{minute % 60:02d}:{second:02d}+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [f"https://id.gs1.org/01/09521234123453/21/LOT5-{i:05d}"],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {"id": "urn:epc:id:sgln:9521234.00002.0"},
        "bizLocation": {"id": "urn:epc:id:sgln:9521234.00002.0"},
        "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:9521234000017:PO-2026-0502"}],
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    environment = Env(Path(tmp_path_factory.mktemp("trace-large")))
    try:
        admin = {"Authorization": "Bearer admin-token"}
        for key, name in ((environment.brand, "Jade Tea"), (environment.partner, "Fast Freight")):
            response = environment.http.post("/traceability/admin/organisations", headers=admin,
                                             json={"publicKey": key.public.base58, "name": name})
            assert response.status_code == 201, response.text
        brand = address_from_public_key(environment.brand.public)
        response = environment.http.post("/traceability/admin/brands", headers=admin,
                                         json={"prefix": "9521234", "brand": brand, "name": "Jade Tea Co"})
        assert response.status_code == 201, response.text
        yield environment
    finally:
        environment.close()


def test_a_1000_event_document_is_captured_in_one_transaction(env: Env) -> None:
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-05-02T18:00:00+08:00",
        "epcisBody": {"eventList": [shipping_event(i) for i in range(EVENTS)]},
    }
    response = env.capture(document, "brand-token")
    assert response.status_code == 201, response.text[:2000]
    body = response.json()
    assert body["eventCount"] == EVENTS and len(body["txHashes"]) == 1
    assert len(set(body["eventHashes"])) == EVENTS
    last = env.events(MATCH_epc=f"https://id.gs1.org/01/09521234123453/21/LOT5-{EVENTS - 1:05d}")
    assert len(last) == 1 and last[0]["bizStep"] == "shipping"
    # all or nothing, and once only: the same document again is refused as a whole
    again = env.capture(document, "brand-token")
    assert again.status_code == 409 and again.json()["code"] == "DUPLICATE_EVENT"


def test_a_document_past_the_contract_heap_is_refused_before_the_chain(env: Env) -> None:
    """1,250 events fill the contract's heap (it would end on chain as CONTRACT_LIMIT_EXCEEDED, a failed
    transaction the organisation pays for); the app refuses it first, and nothing of it is recorded."""
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-05-02T18:00:00+08:00",
        "epcisBody": {"eventList": [shipping_event(10_000 + i) for i in range(1_250)]},
    }
    response = env.capture(document, "brand-token")
    assert response.status_code == 413, response.text[:500]
    assert response.json()["code"] == "DOCUMENT_TOO_LARGE"
    assert "split the document" in response.json()["message"]
    assert env.events(MATCH_epc="https://id.gs1.org/01/09521234123453/21/LOT5-10000") == []
