"""An item's history through aggregation: its container's events count only while it was inside."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from baas.apps.traceability.eventhash import time_millis
from baas.apps.traceability.identifiers import normalise
from baas.apps.traceability.service import TraceabilityService, TraceabilitySettings, prepare_document
from ledger.crypto import ED25519, generate_keypair

ITEM, OTHER = "urn:epc:id:sgtin:9521234.012345.1", "urn:epc:id:sgtin:9521234.012345.2"
PALLET = "urn:epc:id:sscc:9521234.0000000001"


@pytest.fixture()
def svc(tmp_path: Path) -> Iterator[TraceabilityService]:
    settings = TraceabilitySettings(["http://127.0.0.1:9"], "unused", generate_keypair(ED25519),
                                    str(tmp_path / "index.sqlite3"), follow=False)
    service = TraceabilityService(settings)
    yield service
    service.store.close()


def event(kind: str, hour: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "eventTime": f"2024-01-01T{hour:02d}:00:00Z", "eventTimeZoneOffset": "+00:00", **fields}


def test_a_container_counts_only_while_the_item_was_inside(svc: TraceabilityService) -> None:
    events = [
        event("ObjectEvent", 1, action="ADD", epcList=[ITEM, OTHER], bizStep="commissioning"),
        event("AggregationEvent", 2, action="ADD", parentID=PALLET, childEPCs=[ITEM, OTHER], bizStep="packing"),
        event("ObjectEvent", 3, action="OBSERVE", epcList=[PALLET], bizStep="shipping"),
        event("AggregationEvent", 4, action="DELETE", parentID=PALLET, childEPCs=[ITEM], bizStep="unpacking"),
        event("ObjectEvent", 5, action="OBSERVE", epcList=[PALLET], bizStep="receiving"),
    ]
    document = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
                "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-01-01T00:00:00Z",
                "epcisBody": {"eventList": events}}
    svc.store.add_events([e.indexed for e in prepare_document(document)], "org", "tx", 1)

    def steps(item: str) -> list[str]:
        return [row.event.get("bizStep", "") for row, _ in svc.history(item)["events"]]

    assert steps(ITEM) == ["commissioning", "packing", "shipping", "unpacking"]  # not the pallet's later receiving
    assert steps(OTHER) == ["commissioning", "packing", "shipping", "unpacking", "receiving"]  # still inside
    [link] = [link for link in svc.history(ITEM)["links"] if link["type"] == "aggregation"]
    assert link == {"type": "aggregation", "child": normalise(ITEM), "parent": normalise(PALLET),
                    "from": time_millis("2024-01-01T02:00:00Z"), "until": time_millis("2024-01-01T04:00:00Z")}
    assert svc.history(ITEM)["urn"] == ITEM
