"""Stateful schemathesis over the traceability app with an organisation's token as bearer, chained
through the links schemathesis infers from the app's OpenAPI document (a capture, then read; a named
query created, then read, subscribed, deleted, ...).

Before the run the organisation is registered, owns a brand prefix and has captured the brand's
production example, so reads can succeed: every other call addresses that capture, its first event and
its item and a named query; the other calls keep schemathesis' generated values. Every response: no 5xx, errors as
``{code, message}`` without a traceback, success bodies matching the documented schema, and every
timestamp in a JSON success body with its time zone.

Bounded by ``JADECHAIN_FUZZ_EXAMPLES`` (default 5 scenarios of at most 6 steps); one solo node; about 20 s.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import httpx
import pytest

from ledger.crypto import ED25519, address_from_public_key, generate_keypair
from jadechain.devnet.solo import SoloNode, create_dev_solo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stateful_kit import ResponseChecks, run_checked  # noqa: E402

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("contracts")

EXAMPLES = int(os.environ.get("JADECHAIN_FUZZ_EXAMPLES", "5"))
TOKEN = "stateful-organisation-token"
ADMIN = "stateful-admin-token"
DOCUMENTS = Path(__file__).resolve().parents[1] / "apps" / "epcis_examples"
ITEM_URN = "urn:epc:id:sgtin:9521234.012345.1001"
QUERY = "stateful"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from baas.apps.traceability.app import create_app
    from baas.apps.traceability.server import AppServer
    from baas.apps.traceability.service import TraceabilityService, TraceabilitySettings

    root = tmp_path_factory.mktemp("trace-stateful")
    dev = create_dev_solo(str(root / "net"))
    organisation = generate_keypair(ED25519)
    with SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], idle_block_ms=10) as node:
        settings_ = TraceabilitySettings([node.url], dev.ledger_hash, dev.key, str(root / "index.sqlite3"),
                                         organisations={TOKEN: organisation}, admin_token=ADMIN)
        service = TraceabilityService(settings_).start()
        server = AppServer(create_app(settings_, service)).start()
        settings_.public_url = server.url
        try:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                admin = {"Authorization": f"Bearer {ADMIN}"}
                response = http.post("/traceability/admin/organisations", headers=admin,
                                     json={"publicKey": organisation.public.base58, "name": "Jade Tea"})
                assert response.status_code == 201, response.text
                response = http.post("/traceability/admin/brands", headers=admin, json={
                    "prefix": "9521234", "brand": address_from_public_key(organisation.public), "name": "Jade Tea Co"})
                assert response.status_code == 201, response.text
                document = json.loads((DOCUMENTS / "01_brand_production.jsonld").read_text())
                response = http.post("/traceability/capture", json=document, headers={"Authorization": f"Bearer {TOKEN}"})
                assert response.status_code == 201, response.text
                capture = response.json()
                response = http.post("/epcis/queries", headers={"Authorization": f"Bearer {TOKEN}"},
                                     json={"name": QUERY, "query": {"EQ_bizStep": "commissioning"}})
                assert response.status_code == 201, response.text
                history = http.get(f"/traceability/items/{quote(ITEM_URN, safe='')}/history")
                assert history.status_code == 200, history.text
                event = history.json()["events"][0]
                assert event["eventHash"] and event["event"]["eventID"], event
            yield {"url": server.url, "capture": capture, "event_id": event["event"]["eventID"],
                   "event_hash": event["eventHash"]}
        finally:
            server.stop()
            service.stop()


@pytest.mark.timeout(900)
def test_traceability_stateful_with_an_organisation_token(app: dict[str, Any]) -> None:
    url = app["url"]
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    base = schema.as_state_machine()
    checks = ResponseChecks()
    calls = {"seen": 0}
    capture_id = app["capture"].get("captureID") or app["capture"].get("captureId") or app["capture"].get("id")
    real_values = {"event_id": app["event_id"], "item_id": ITEM_URN, "epc": ITEM_URN, "name": QUERY}
    if isinstance(capture_id, str):
        real_values["capture_id"] = capture_id

    class Traceability(base):  # type: ignore[misc, valid-type]
        def before_call(self, case: Any) -> None:
            calls["seen"] += 1
            if calls["seen"] % 2 or case.method.upper() == "DELETE":
                return  # schemathesis' own values (and the ids its links carried); the fixtures stay
            parameters = dict(case.path_parameters or {})
            for name, value in real_values.items():
                if name in parameters:
                    if name == "event_id" and case.path.endswith("/proof"):
                        value = app["event_hash"]  # proofs are addressed by the event's hash
                    parameters[name] = quote(value, safe="")  # schemathesis sends set values as they are
            case.path_parameters = parameters

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": url, "headers": {"Authorization": f"Bearer {TOKEN}"}, "timeout": 60}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            checks(response, case)

    run_checked(Traceability, checks, EXAMPLES)
