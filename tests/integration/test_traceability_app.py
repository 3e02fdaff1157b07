"""The traceability app end to end against a real solo node: capture → chain → index → query → proof.

One node and one app server for the module (about 10 s on the shared 2-core machine).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import httpx
import pytest
from typer.testing import CliRunner

from baas.apps.traceability.app import create_app
from baas.apps.traceability.contract import CONTRACT_VERSION
from baas.apps.traceability.eventhash import event_hash, hash_hex
from baas.apps.traceability.server import AppServer
from baas.apps.traceability.service import TraceabilityService, TraceabilitySettings, canonical_json
from ledger.crypto import ED25519, address_from_public_key, generate_keypair
from ledger.proofs import validators_from_json, verify_bundle
from jadechain.devnet.solo import SoloNode, create_dev_solo

pytest.importorskip("contracts")

EXAMPLES = Path(__file__).resolve().parents[1] / "apps" / "epcis_examples"
ITEM_URN = "urn:epc:id:sgtin:9521234.012345.1001"
ITEM_DL = "https://id.gs1.org/01/09521234123453/21/1001"
CASE_URN = "urn:epc:id:sscc:9521234.0000000001"
LOT_URN = "urn:epc:class:lgtin:9521234.054321.LEAF-2026-01"


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((EXAMPLES / f"{name}.jsonld").read_text()))


class Env:
    def __init__(self, tmp: Path) -> None:
        self.dev = create_dev_solo(str(tmp / "chain"))
        self.node = SoloNode(self.dev.data_dir, self.dev.ledger_hash, [self.dev.key]).start()
        self.brand, self.partner, self.rogue = (generate_keypair(ED25519) for _ in range(3))
        self.settings = TraceabilitySettings(
            [self.node.url], self.dev.ledger_hash, self.dev.key, str(tmp / "index.sqlite3"),
            organisations={"brand-token": self.brand, "partner-token": self.partner, "rogue-token": self.rogue},
            admin_token="admin-token",
        )
        self.service = TraceabilityService(self.settings).start()
        self.server = AppServer(create_app(self.settings, self.service)).start()
        self.settings.public_url = self.server.url
        self.http = httpx.Client(base_url=self.server.url, timeout=60)

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        self.service.stop()
        self.node.stop()

    def capture(self, document: dict[str, Any], token: str) -> httpx.Response:
        return self.http.post("/traceability/capture", json=document, headers={"Authorization": f"Bearer {token}"})

    def events(self, **params: Any) -> list[dict[str, Any]]:
        response = self.http.get("/traceability/events", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["type"] == "EPCISQueryDocument"
        return list(body["epcisBody"]["queryResults"]["resultsBody"]["eventList"])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    environment = Env(tmp_path_factory.mktemp("trace"))
    try:
        admin = {"Authorization": "Bearer admin-token"}
        for key, name in ((environment.brand, "Jade Tea"), (environment.partner, "Fast Freight"),
                          (environment.rogue, "Rogue Traders")):
            response = environment.http.post("/traceability/admin/organisations", headers=admin,
                                             json={"publicKey": key.public.base58, "name": name})
            assert response.status_code == 201, response.text
        brand = address_from_public_key(environment.brand.public)
        response = environment.http.post("/traceability/admin/brands", headers=admin,
                                         json={"prefix": "9521234", "brand": brand, "name": "Jade Tea Co"})
        assert response.status_code == 201, response.text
        response = environment.http.post(
            "/traceability/partners", headers={"Authorization": "Bearer brand-token"},
            json={"prefix": "9521234", "partner": address_from_public_key(environment.partner.public)})
        assert response.status_code == 201, response.text
        for name, token in (("01_brand_production", "brand-token"), ("02_partner_logistics", "partner-token")):
            response = environment.capture(load(name), token)
            assert response.status_code == 201, response.text
        yield environment
    finally:
        environment.close()


def test_capture_returns_ids_and_every_event_type_round_trips_through_query(env: Env) -> None:
    captured = env.events(perPage=100)
    assert sorted({e["type"] for e in captured}) == [
        "AggregationEvent", "AssociationEvent", "ObjectEvent", "TransactionEvent", "TransformationEvent"]
    sent = load("01_brand_production")["epcisBody"]["eventList"] + load("02_partner_logistics")["epcisBody"]["eventList"]
    assert len(captured) == len(sent) == 7
    by_hash = {e["eventID"]: e for e in captured}
    context = load("01_brand_production")["@context"]
    for original in sent:
        stored = by_hash[event_hash(original, context if "ilmd" in original else None)]
        for field, value in original.items():
            assert stored[field] == value  # the event comes back as captured, plus its eventID


def test_query_parameters_match_urn_and_digital_link_forms(env: Env) -> None:
    by_urn = env.events(MATCH_epc=CASE_URN)
    by_dl = env.events(MATCH_epc="https://id.gs1.org/00/095212340000000013?linkType=all")
    assert [e["eventID"] for e in by_urn] == [e["eventID"] for e in by_dl]
    assert {e["type"] for e in by_urn} == {"ObjectEvent", "AssociationEvent"}
    assert [e["type"] for e in env.events(MATCH_parentID=CASE_URN)] == ["AggregationEvent", "TransactionEvent"]
    assert len(env.events(MATCH_anyEPC=ITEM_DL)) == 3  # transformation output, aggregation child, transaction
    assert [e["type"] for e in env.events(MATCH_epcClass=LOT_URN)] == ["ObjectEvent"]
    # a GTIN-level pattern matches every lot of that GTIN
    assert len(env.events(MATCH_epcClass="urn:epc:idpat:sgtin:9521234.054321.*")) == 1
    assert [e["bizStep"] for e in env.events(EQ_bizStep="https://ref.gs1.org/cbv/BizStep-shipping",
                                              eventType="ObjectEvent")] == ["shipping"]
    assert len(env.events(EQ_bizStep="urn:epcglobal:cbv:bizstep:shipping")) == 2
    assert [e["bizStep"] for e in env.events(EQ_disposition="in_transit")] == ["shipping"]
    assert len(env.events(EQ_readPoint="urn:epc:id:sgln:9521234.00002.0")) == 3
    assert [e["bizStep"] for e in env.events(EQ_bizLocation="https://id.gs1.org/414/9528888000024")] == ["receiving"]
    window = env.events(GE_eventTime="2026-03-02T00:00:00Z", LT_eventTime="2026-03-03T00:00:00Z")
    assert [e["type"] for e in window] == ["TransformationEvent", "AggregationEvent", "AssociationEvent"]


def test_bad_query_parameters_get_a_clear_400(env: Env) -> None:
    for params in ({"GE_eventTime": "yesterday"}, {"MATCH_epc": "https://id.gs1.org/01/09521234123450/21/1"},
                   {"EQ_colour": "red"}, {"perPage": "0"}, {"perPage": "many"}):
        response = env.http.get("/traceability/events", params=params)
        assert response.status_code == 400, params
        assert response.json()["code"] in ("INVALID_PARAMETER", "INVALID_IDENTIFIER")


def test_paging_with_next_page_token(env: Env) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"perPage": 3}
    while True:
        response = env.http.get("/traceability/events", params=params)
        body = response.json()
        seen.extend(e["eventID"] for e in body["epcisBody"]["queryResults"]["resultsBody"]["eventList"])
        token = body.get("nextPageToken")
        if token is None:
            assert "link" not in response.headers
            break
        assert 'rel="next"' in response.headers["link"]
        params = {"perPage": 3, "nextPageToken": token}
    assert len(seen) == len(set(seen)) == 7
    assert env.http.get("/traceability/events", params={"nextPageToken": "garbage"}).json()["code"] == \
        "INVALID_PARAMETER"


def test_duplicate_event_is_rejected_even_inside_a_larger_document(env: Env) -> None:
    document = load("02_partner_logistics")
    new_event = copy.deepcopy(document["epcisBody"]["eventList"][0])
    new_event["eventTime"] = "2026-03-04T08:00:00+08:00"
    document["epcisBody"]["eventList"].append(new_event)
    response = env.capture(document, "partner-token")
    assert response.status_code == 409 and response.json()["code"] == "DUPLICATE_EVENT"
    # all or nothing: the new event was not captured either
    assert env.events(GE_eventTime="2026-03-04T00:00:00+08:00", LT_eventTime="2026-03-04T23:00:00+08:00") == []


def test_duplicate_is_refused_by_the_contract_itself(env: Env) -> None:
    """Bypass the app's pre-checks: the ledger's versioning still refuses a second capture."""
    from baas.apps.traceability.service import prepare_event

    document = load("02_partner_logistics")
    prepared = prepare_event(document["epcisBody"]["eventList"][0], document["@context"])
    ledger = env.service.ledger
    tx = ledger.builder().invoke(env.service.contract_address, "capture", [prepared.chain_item()],
                                 gas_limit=500_000).sign(env.partner)
    result = ledger.submit(tx)
    assert result.committed and result.status != "SUCCESS"


def test_unauthorised_prefix_rejected_by_app_and_by_contract(env: Env) -> None:
    response = env.capture(load("03_unauthorised_capture"), "rogue-token")
    assert response.status_code == 403 and response.json()["code"] == "PREFIX_NOT_AUTHORISED"
    from baas.apps.traceability.service import prepare_event

    document = load("03_unauthorised_capture")
    prepared = prepare_event(document["epcisBody"]["eventList"][0], document["@context"])
    tx = env.service.ledger.builder().invoke(env.service.contract_address, "capture", [prepared.chain_item()],
                                             gas_limit=500_000).sign(env.rogue)
    result = env.service.ledger.submit(tx)
    assert result.committed and result.status != "SUCCESS"
    assert env.http.get(f"/traceability/events/{quote(prepared.hash_id, safe='')}/proof").status_code == 404
    # an unregistered prefix is refused too, and a request without a token never reaches the chain
    document["epcisBody"]["eventList"][0]["epcList"] = ["urn:epc:id:sgtin:4000001.012345.1"]
    assert env.capture(document, "brand-token").json()["code"] == "PREFIX_NOT_REGISTERED"
    assert env.capture(document, "nobody").status_code == 401


def test_schema_violations_are_reported_with_paths(env: Env) -> None:
    document = load("03_unauthorised_capture")
    del document["epcisBody"]["eventList"][0]["action"]
    document["epcisBody"]["eventList"][0]["bogusField"] = 1
    response = env.capture(document, "brand-token")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "SCHEMA_INVALID" and all(d["path"].startswith("/epcisBody/eventList/0") for d in body["details"])
    bad_check_digit = load("03_unauthorised_capture")
    bad_check_digit["epcisBody"]["eventList"][0]["epcList"] = ["https://id.gs1.org/01/09521234123450/21/1"]
    assert env.capture(bad_check_digit, "brand-token").json()["code"] == "EVENT_INVALID"


def test_genealogy_follows_aggregation_and_transformation(env: Env) -> None:
    response = env.http.get(f"/traceability/items/{quote(ITEM_URN, safe='')}/history")
    assert response.status_code == 200
    history = response.json()
    assert history["item"] == ITEM_DL and history["urn"] == ITEM_URN
    steps = [(e["via"].split(":")[0], e["event"].get("bizStep")) for e in history["events"]]
    assert steps == [
        ("input", "commissioning"),            # the tea leaves' harvest, via the transformation input lot
        ("item", "creating_class_instance"),   # the item was made
        ("item", "packing"),                   # packed into the case
        ("parent", "assembling"),              # the case got a sensor
        ("parent", "shipping"),                # the case was shipped …
        ("item", "shipping"),                  # … under a purchase order
        ("parent", "receiving"),               # and received at the store
    ]
    assert {link["type"] for link in history["links"]} == {"aggregation", "transformation", "lot"}
    same = env.http.get(f"/traceability/items/{quote(ITEM_DL, safe='')}/history").json()
    assert [e["eventHash"] for e in same["events"]] == [e["eventHash"] for e in history["events"]]


def test_proof_bundle_verifies_offline_and_with_the_cli(env: Env, tmp_path: Path) -> None:
    history = env.http.get(f"/traceability/items/{quote(ITEM_URN, safe='')}/history").json()
    event = history["events"][0]  # the harvest: ILMD user extensions with an inline @context
    assert "ilmd" in event["event"]
    response = env.http.get(f"/traceability/events/{quote(event['eventHash'], safe='')}/proof")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    bundle = response.json()
    validators = validators_from_json(env.service.validators_json())
    report = verify_bundle(bundle, trusted_validators=validators, require_certificate=True)
    assert report.certified and report.claim["key"] == "e:" + hash_hex(event["eventHash"])
    record = report.claim["value"]["value"]
    assert record["o"] == address_from_public_key(env.brand.public)
    # what a consumer checks: the event JSON served by the app is the one whose digest is on chain
    assert record["d"] == hashlib.sha256(canonical_json(event["event"]).encode()).hexdigest()
    assert event_hash(event["event"]) == event["eventHash"]
    from jadechain.cli.app import app as cli

    path = tmp_path / "bundle.json"
    path.write_text(response.text)
    validators_path = tmp_path / "validators.json"
    validators_path.write_text(json.dumps(env.service.validators_json()))
    result = CliRunner().invoke(cli, ["verify", str(path), "--validators", str(validators_path)])
    assert result.exit_code == 0, result.output
    tampered = json.loads(response.text)
    tampered["claim"]["value"]["value"]["d"] = "0" * 64
    path.write_text(json.dumps(tampered))
    assert CliRunner().invoke(cli, ["verify", str(path), "--validators", str(validators_path)]).exit_code != 0


def test_error_declaration_corrects_an_event_without_editing_it(env: Env) -> None:
    original = load("02_partner_logistics")["epcisBody"]["eventList"][2]
    declared = copy.deepcopy(original)
    corrective = copy.deepcopy(original)
    corrective["readPoint"] = corrective["bizLocation"] = {"id": "urn:epc:id:sgln:9528888.00003.0"}
    corrective_hash = event_hash(corrective)
    declared["errorDeclaration"] = {"declarationTime": "2026-03-06T09:00:00Z", "reason": "incorrect_data",
                                    "correctiveEventIDs": [corrective_hash]}
    document = load("02_partner_logistics")
    document["epcisBody"]["eventList"] = [declared, corrective]
    response = env.capture(document, "partner-token")
    assert response.status_code == 201, response.text
    assert response.json()["errorDeclarations"] == 1
    assert response.json()["eventHashes"][0] == event_hash(original)  # same event, same hash
    received = env.events(EQ_bizStep="receiving")
    by_id = {e["eventID"]: e for e in received}
    assert by_id[event_hash(original)]["errorDeclaration"]["reason"] == "incorrect_data"
    assert "errorDeclaration" not in by_id[corrective_hash]
    again = env.capture(document, "partner-token")  # a second declaration of the same event
    assert again.status_code == 409
    unknown = copy.deepcopy(declared)
    unknown["eventTime"] = "2026-03-07T10:00:00+01:00"
    document["epcisBody"]["eventList"] = [unknown]
    env.service.store.set_meta("contract_version", "3")  # contracts before version 4 refuse such a declaration
    try:
        assert env.capture(document, "partner-token").json()["code"] == "UNKNOWN_EVENT"
    finally:
        env.service.store.set_meta("contract_version", str(CONTRACT_VERSION))
    recorded_elsewhere = env.capture(document, "partner-token")  # version 4: recorded, flagged on chain
    assert recorded_elsewhere.status_code == 201, recorded_elsewhere.text
    [found] = [e for e in env.events(EXISTS_errorDeclaration="true") if e["eventTime"] == unknown["eventTime"]]
    assert found["errorDeclaration"] == unknown["errorDeclaration"]


def test_consumer_portal_qr_and_scan_count(env: Env) -> None:
    first = env.http.get("/t/01/09521234123453/21/1001")
    assert first.status_code == 200 and "Verified on chain" in first.text
    assert "Jade Tea Co" in first.text and "Fast Freight" in first.text and "Shipped" in first.text and "Received" in first.text
    assert 'data-testid="scan-count">1<' in first.text
    second = env.http.get("/t/01/9521234123453/21/1001?linkType=all")  # GTIN-13 spelling, query string
    assert 'data-testid="scan-count">2<' in second.text
    png = env.http.get(f"/traceability/items/{quote(ITEM_URN, safe='')}/qr.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    svg = env.http.get(f"/traceability/items/{quote(ITEM_DL, safe='')}/qr.svg")
    assert svg.status_code == 200 and b"<svg" in svg.content


def test_lot_level_events_reach_the_items_of_the_lot(env: Env) -> None:
    response = env.capture(load("04_lot_inspection"), "brand-token")
    assert response.status_code == 201, response.text
    history = env.http.get(f"/traceability/items/{quote(ITEM_URN, safe='')}/history").json()
    lot = "https://id.gs1.org/01/09521234123453/10/TEA-2603"
    assert [e["event"]["bizStep"] for e in history["events"] if e["via"] == f"lot:{lot}"] == ["inspecting"]
    assert {"type": "lot", "item": ITEM_DL, "lot": lot} in history["links"]
    page = env.http.get("/t/01/09521234123453/21/1001").text
    assert "Inspected" in page and "https://certs.example.org/lab/report-2026-0308" in page


def test_index_is_rebuilt_from_the_chain_by_the_stream_follower(env: Env, tmp_path: Path) -> None:
    settings = TraceabilitySettings([env.node.url], env.dev.ledger_hash, env.dev.key, str(tmp_path / "rebuilt.sqlite3"),
                                    contract_address=env.service.contract_address)
    rebuilt = TraceabilityService(settings).start()
    try:
        assert rebuilt.wait_indexed(env.node.runtime.ledger.height - 2, timeout=30)
        assert rebuilt.store.count_events() == env.service.store.count_events()
        assert rebuilt.store.brands() == env.service.store.brands()
        ours = [row.hash for row, _ in env.service.history(ITEM_URN)["events"]]
        theirs = [row.hash for row, _ in rebuilt.history(ITEM_URN)["events"]]
        assert ours == theirs
    finally:
        rebuilt.stop()


def test_app_mounted_under_a_prefix_links_within_the_prefix(env: Env) -> None:
    """The BaaS control plane mounts the app under a path; the portal's links must follow."""
    from fastapi import FastAPI

    outer = FastAPI()
    outer.mount("/apps/trace", create_app(env.settings, env.service))
    with AppServer(outer) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        page = http.get("/apps/trace/t/01/09521234123453/21/1001")
        assert page.status_code == 200 and "Verified on chain" in page.text
        assert "href='/apps/trace/traceability/events/" in page.text
        link = page.text.split("data-testid='proof-download' href='")[1].split("'")[0]
        bundle = http.get(link)
        assert bundle.status_code == 200 and bundle.json()["kind"] == "entry"
