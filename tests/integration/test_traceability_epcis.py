"""EPCIS 2.0 conformance end to end: GS1's own example documents, the REST binding, the query language.

A real solo node and the app on loopback. GS1's example documents (all five event types) are
captured through the asynchronous ``POST /epcis/capture`` and queried back by their own eventIDs:
the events come back identical, with our CBV 2.0 hash ID beside them. Webhook subscriptions push
to a receiver on 127.0.0.1 only (the allow-list names exactly its origin).
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import httpx
import pytest

from baas.apps.traceability.app import create_app
from baas.apps.traceability.contract import CONTRACT_VERSION
from baas.apps.traceability.eventhash import event_hash, time_millis
from baas.apps.traceability.identifiers import urn_to_dl
from baas.apps.traceability.server import AppServer
from baas.apps.traceability.service import TraceabilityService, TraceabilitySettings
from ledger.crypto import ED25519, address_from_public_key, generate_keypair
from jadechain.devnet.solo import SoloNode, create_dev_solo
from tests.support.waiting import wait_until

pytest.importorskip("contracts")

GS1 = Path(__file__).resolve().parents[1] / "apps" / "gs1_examples"
GS1_PREFIXES = ("0614141", "0012345", "4012345", "4000001", "9524567", "95252084", "952005385", "735005385",
                "0037000")
GS1_FULL = Path(__file__).resolve().parents[1] / "apps" / "gs1_examples_full"
DOCUMENTS = sorted(GS1.glob("**/*.jsonld"))


class Receiver:
    """A webhook receiver on 127.0.0.1: keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("content-length", "0"))
                received.append({"body": json.loads(self.rfile.read(length)), "headers": dict(self.headers)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class Env:
    def __init__(self, tmp: Path) -> None:
        self.receiver = Receiver()
        self.dev = create_dev_solo(str(tmp / "chain"))
        self.node = SoloNode(self.dev.data_dir, self.dev.ledger_hash, [self.dev.key]).start()
        self.brand, self.other = generate_keypair(ED25519), generate_keypair(ED25519)
        self.settings = TraceabilitySettings(
            [self.node.url], self.dev.ledger_hash, self.dev.key, str(tmp / "index.sqlite3"),
            organisations={"brand-token": self.brand, "other-token": self.other}, admin_token="admin-token",
            webhook_allow=[self.receiver.url], subscription_poll=0.2,
        )
        self.service = TraceabilityService(self.settings).start()
        self.server = AppServer(create_app(self.settings, self.service)).start()
        self.http = httpx.Client(base_url=self.server.url, timeout=60)

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        self.service.stop()
        self.node.stop()
        self.receiver.close()

    def capture(self, document: dict[str, Any], token: str = "brand-token") -> dict[str, Any]:
        """POST /epcis/capture (202) and wait for the job to finish; returns the job."""
        response = self.http.post("/epcis/capture", json=document, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 202, response.text
        location = response.headers["Location"]
        assert location.endswith(response.json()["captureID"])

        def finished() -> dict[str, Any] | None:
            job = self.http.get(location).json()
            return None if job["running"] else dict(job)
        return dict(wait_until(finished, 60, "the capture job to finish", interval=0.05))

    def query(self, path: str = "/epcis/events", **params: Any) -> dict[str, Any]:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        assert response.headers["GS1-EPCIS-Version"] == "2.0.0"
        assert response.headers["GS1-CBV-Version"] == "2.0.0"
        return dict(response.json())

    def events(self, path: str = "/epcis/events", **params: Any) -> list[dict[str, Any]]:
        return list(self.query(path, **params)["epcisBody"]["queryResults"]["resultsBody"]["eventList"])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    environment = Env(tmp_path_factory.mktemp("epcis"))
    try:
        admin = {"Authorization": "Bearer admin-token"}
        for key, name in ((environment.brand, "GS1 Example Brand"), (environment.other, "Someone Else")):
            response = environment.http.post("/traceability/admin/organisations", headers=admin,
                                             json={"publicKey": key.public.base58, "name": name})
            assert response.status_code == 201, response.text
        brand = address_from_public_key(environment.brand.public)
        for prefix in GS1_PREFIXES:
            response = environment.http.post("/traceability/admin/brands", headers=admin,
                                             json={"prefix": prefix, "brand": brand, "name": "GS1 Example Brand"})
            assert response.status_code == 201, response.text
        for path in DOCUMENTS:
            job = environment.capture(json.loads(path.read_text()))
            assert job["success"], (path.name, job)
        yield environment
    finally:
        environment.close()


def _as_captured(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("recordTime", "@context")}


@pytest.mark.parametrize("path", DOCUMENTS, ids=[p.name for p in DOCUMENTS])
def test_gs1_examples_come_back_identical_by_their_own_event_ids(env: Env, path: Path) -> None:
    document = json.loads(path.read_text())
    for event in document["epcisBody"]["eventList"]:
        our_hash = event_hash(event, document["@context"])
        event_id = event.get("eventID", our_hash)
        result = env.query(EQ_eventID=event_id)
        found = result["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        assert len(found) == 1
        assert _as_captured(found[0]) == {**event, "eventID": event_id}
        assert result["jade:eventHashes"] == [our_hash]
        assert env.events(EQ_eventID=our_hash) == found  # the hash ID finds it too
        single = env.http.get(f"/epcis/events/{quote(event_id, safe='')}")
        assert single.status_code == 200
        assert _as_captured(single.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"][0]) == \
            _as_captured(found[0])


def test_every_event_type_was_captured(env: Env) -> None:
    assert env.http.get("/epcis/eventTypes").json() == ["ObjectEvent", "AggregationEvent", "TransactionEvent",
                                                        "TransformationEvent", "AssociationEvent"]
    for event_type in ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent",
                       "AssociationEvent"):
        events = env.events(f"/epcis/eventTypes/{event_type}/events")
        assert events and all(e["type"] == event_type for e in events)


def test_typed_list_parameters(env: Env) -> None:
    po = env.events(EQ_bizTransaction_po="http://transaction.acme.com/po/12345678")
    assert len(po) == 2
    desadv = env.events(**{"EQ_bizTransaction_urn:epcglobal:cbv:btt:desadv": "urn:epcglobal:cbv:bt:0614141073467:1152"})
    assert [e["bizStep"] for e in desadv] == ["receiving"]
    assert env.events(EQ_bizTransaction_desadv="http://transaction.acme.com/po/12345678") == []
    sources = env.events(EQ_source_location="urn:epc:id:sgln:952005385.481.0")
    destinations = env.events(EQ_destination_location=urn_to_dl("urn:epc:id:sgln:952005385.011.0"))
    assert len(sources) == 1 and sources == destinations
    assert env.events(EQ_source_owning_party="urn:epc:id:sgln:952005385.481.0") == []


def test_order_by_event_time_both_ways_and_keyset_paging(env: Env) -> None:
    ascending = env.events(orderBy="eventTime", orderDirection="ASC", perPage=100)
    times = [e["eventTime"] for e in ascending]
    assert [time_millis(t) for t in times] == sorted(time_millis(t) for t in times)
    descending = env.events(orderBy="eventTime", perPage=100)  # DESC is the default with orderBy
    assert [e["eventID"] for e in descending] == [e["eventID"] for e in reversed(ascending)]
    paged: list[dict[str, Any]] = []
    params: dict[str, Any] = {"orderBy": "eventTime", "orderDirection": "ASC", "perPage": 2}
    while True:
        body = env.query(**params)
        paged += body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        if "nextPageToken" not in body:
            break
        params["nextPageToken"] = body["nextPageToken"]
    assert [e["eventID"] for e in paged] == [e["eventID"] for e in ascending]


def test_record_time_window(env: Env) -> None:
    everything = env.events(perPage=100)
    assert all("recordTime" in e for e in everything)
    assert len(env.events(GE_recordTime="2000-01-01T00:00:00Z", perPage=100)) == len(everything)
    assert env.events(LT_recordTime="2000-01-01T00:00:00Z") == []
    assert len(env.events(eventCountLimit=2, perPage=100)) == 2
    too_many = env.http.get("/epcis/events", params={"maxEventCount": 1})
    assert too_many.status_code == 413 and too_many.json()["code"] == "QUERY_TOO_LARGE"


@pytest.mark.parametrize("params", [
    {"GE_eventTime": "2024-13-01T00:00:00Z"}, {"LT_eventTime": "2024-02-30T00:00:00Z"},
    {"GE_recordTime": "2024-03-01T25:00:00Z"}, {"orderBy": "colour"}, {"orderDirection": "UP"},
    {"EQ_action": "MOVE"}, {"eventCountLimit": "0"}, {"EQ_colour": "red"}, {"nextPageToken": "forged"},
])
def test_bad_query_parameters_are_400_never_500(env: Env, params: dict[str, str]) -> None:
    response = env.http.get("/epcis/events", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_PARAMETER"


def test_error_declaration_links_are_followable(env: Env) -> None:
    document = json.loads((GS1 / "Example_9.6.1-ObjectEvent.jsonld").read_text())
    declared = copy.deepcopy(document["epcisBody"]["eventList"][1])
    corrective_id = "urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8"
    declared["errorDeclaration"] = {"declarationTime": "2005-04-05T10:00:00Z", "reason": "incorrect_data",
                                    "correctiveEventIDs": [corrective_id]}
    corrective = copy.deepcopy(document["epcisBody"]["eventList"][1])
    corrective.pop("example:myField")
    corrective.update({"eventID": corrective_id, "bizStep": "accepting"})
    document["epcisBody"]["eventList"] = [declared, corrective]
    job = env.capture(document)
    assert job["success"], job
    [erroneous] = env.events(EXISTS_errorDeclaration="true")
    assert erroneous["eventID"] == declared["eventID"]
    assert env.events(EQ_errorReason="incorrect_data") == [erroneous]
    assert env.events(EQ_errorReason="https://ref.gs1.org/cbv/ER-incorrect_data") == [erroneous]
    assert env.events(EQ_errorReason="did_not_occur") == []
    [followed] = env.events(EQ_eventID=erroneous["errorDeclaration"]["correctiveEventIDs"][0])
    assert followed["bizStep"] == "accepting"
    assert env.events(EQ_correctiveEventID=corrective_id) == [erroneous]


def test_resources_named_by_events(env: Env) -> None:
    steps = env.http.get("/epcis/bizSteps").json()
    assert "https://ref.gs1.org/cbv/BizStep-shipping" in steps and steps == sorted(steps)
    shipped = env.events(f"/epcis/bizSteps/{quote('shipping')}/events")
    assert shipped and all(e["bizStep"] == "shipping" for e in shipped)
    assert "https://id.gs1.org/414/0012345111112" in env.http.get("/epcis/bizLocations").json()
    read_points = env.http.get("/epcis/readPoints", params={"perPage": 2})
    assert len(read_points.json()) == 2 and 'rel="next"' in read_points.headers["Link"]
    item = "urn:epc:id:sgtin:0614141.107346.2018"
    assert len(env.events(f"/epcis/epcs/{quote(item, safe='')}/events")) >= 3
    assert len(env.events(f"/epcis/epcs/{quote('https://id.gs1.org/01/10614141073464/21/2018', safe='')}/events")) \
        == len(env.events(f"/epcis/epcs/{quote(item, safe='')}/events"))


def test_version_negotiation(env: Env) -> None:
    response = env.http.get("/epcis/events", headers={"GS1-EPCIS-Version": "1.2"})
    assert response.status_code == 406 and response.json()["code"] == "VERSION_NOT_SUPPORTED"
    assert env.http.get("/epcis/events", headers={"GS1-EPCIS-Version": "2.0.0"}).status_code == 200


def test_capture_is_validated_before_the_job_and_needs_a_token(env: Env) -> None:
    document = json.loads((GS1 / "AssociationEvent-a.jsonld").read_text())
    document["epcisBody"]["eventList"][0]["eventTime"] = "2019-02-30T14:00:00.000+01:00"
    refused = env.http.post("/epcis/capture", json=document, headers={"Authorization": "Bearer brand-token"})
    assert refused.status_code == 400 and refused.json()["code"] == "TIME_INVALID"
    assert env.http.post("/epcis/capture", json=document).status_code == 401
    foreign = json.loads((GS1 / "AssociationEvent-a.jsonld").read_text())
    foreign["epcisBody"]["eventList"][0]["bizStep"] = "installing"
    denied = env.http.post("/epcis/capture", json=foreign, headers={"Authorization": "Bearer other-token"})
    assert denied.status_code == 403 and denied.json()["code"] == "PREFIX_NOT_AUTHORISED"
    assert env.http.get("/epcis/capture/unknown").status_code == 404
    duplicate = env.capture(json.loads((GS1 / "AssociationEvent-a.jsonld").read_text()))
    assert duplicate["success"] is False and duplicate["errors"][0]["code"] == "DUPLICATE_EVENT"


def test_named_query_and_webhook_subscription(env: Env) -> None:
    brand = {"Authorization": "Bearer brand-token"}
    created = env.http.post("/epcis/queries", headers=brand,
                            json={"name": "assembling", "query": {"EQ_bizStep": "assembling"}})
    assert created.status_code == 201, created.text
    assert env.http.post("/epcis/queries", headers=brand,
                         json={"name": "assembling", "query": {}}).status_code == 409
    assert env.http.post("/epcis/queries", headers=brand,
                         json={"name": "bad", "query": {"EQ_colour": "red"}}).status_code == 400
    assert len(env.events("/epcis/queries/assembling/events")) == 1
    for dest in ("http://127.0.0.2:9/", env.receiver.url.replace("127.0.0.1", "127.0.0.1.example.org"),
                 "file:///etc/passwd", env.receiver.url.replace("http://", "http://user@")):
        refused = env.http.post("/epcis/queries/assembling/subscriptions", headers=brand, json={"dest": dest})
        assert refused.status_code == 403 and refused.json()["code"] == "DESTINATION_NOT_ALLOWED", dest
    subscribed = env.http.post("/epcis/queries/assembling/subscriptions", headers=brand,
                               json={"dest": env.receiver.url + "/hook"})
    assert subscribed.status_code == 201, subscribed.text
    new_event = json.loads((GS1 / "AssociationEvent-a.jsonld").read_text())
    event = new_event["epcisBody"]["eventList"][0]
    event.update({"eventID": "urn:uuid:11111111-2222-4333-8444-555555555555", "eventTime": "2019-11-02T14:00:00Z"})
    assert env.capture(new_event)["success"]
    delivery = wait_until(lambda: env.receiver.bodies, 60, "a delivery", interval=0.05)[0]
    results = delivery["body"]["epcisBody"]["queryResults"]
    assert results["subscriptionID"] == subscribed.json()["subscriptionID"]
    assert [e["eventID"] for e in results["resultsBody"]["eventList"]] == [event["eventID"]]
    assert delivery["headers"]["GS1-EPCIS-Version"] == "2.0.0"
    state = wait_until(lambda: [s for s in env.http.get("/epcis/queries/assembling/subscriptions").json()
                                if s["delivered"] == 1], 60, "the delivery recorded", interval=0.05)  # once the receiver answered
    assert state[0]["failures"] == 0 and state[0]["lastError"] is None


def test_both_bindings_capture_and_query_the_same_events(env: Env) -> None:
    from baas.apps.traceability.xml_binding import parse_document, render_document

    xml = (GS1.parent / "gs1_examples_xml" / "Example-ObjectEvent_9.6.1.xml").read_bytes()
    json_document = json.loads((GS1 / "Example_9.6.1-ObjectEvent.jsonld").read_text())
    first = event_hash(json_document["epcisBody"]["eventList"][0], json_document["@context"])
    response = env.http.post("/epcis/capture", content=xml,
                             headers={"Authorization": "Bearer brand-token", "Content-Type": "application/xml"})
    assert response.status_code == 202, response.text
    job = wait_until(lambda: (lambda j: None if j["running"] else j)(env.http.get(response.headers["Location"]).json()),
                     60, "the XML capture job to finish", interval=0.05)
    # the first XML event IS the first JSON event, already captured: the whole document is refused for it
    assert job["success"] is False and job["errors"][0]["code"] == "DUPLICATE_EVENT"
    assert job["errors"][0]["details"] == [first]
    # a new document, written in XML, captured through the synchronous API too
    association = json.loads((GS1 / "AssociationEvent-a.jsonld").read_text())
    association["epcisBody"]["eventList"][0].update({"eventTime": "2019-11-03T10:00:00Z", "action": "DELETE",
                                                     "eventID": "urn:uuid:6a1e5a8c-0000-4000-8000-00000000x001"})
    captured = env.http.post("/traceability/capture", content=render_document(association),
                             headers={"Authorization": "Bearer brand-token", "Content-Type": "application/xml"})
    assert captured.status_code == 201, captured.text
    expected = event_hash(association["epcisBody"]["eventList"][0], association["@context"])
    assert captured.json()["eventHashes"] == [expected]
    # every event, queried in XML and in JSON: the same events in the same order
    as_json = env.query(perPage=100)
    as_xml = env.http.get("/epcis/events", params={"perPage": 100}, headers={"Accept": "application/xml"})
    assert as_xml.status_code == 200 and as_xml.headers["content-type"].startswith("application/xml")
    parsed = parse_document(as_xml.content)
    assert [event_hash(e, parsed["@context"]) for e in parsed["epcisBody"]["eventList"]] == as_json["jade:eventHashes"]
    assert expected in as_json["jade:eventHashes"]


def test_malformed_xml_capture_is_a_400(env: Env) -> None:
    for body in (b"<EPCISDocument><EPCISBody>", b"<?xml version='1.0'?><!DOCTYPE d [<!ENTITY e SYSTEM "
                 b"'file:///etc/passwd'>]><EPCISDocument><EPCISBody><EventList><ObjectEvent><eventTime>&e;"
                 b"</eventTime></ObjectEvent></EventList></EPCISBody></EPCISDocument>"):
        response = env.http.post("/epcis/capture", content=body,
                                 headers={"Authorization": "Bearer brand-token", "Content-Type": "application/xml"})
        assert response.status_code == 400, response.text
        assert response.json()["code"] in ("XML_INVALID", "XML_SCHEMA_INVALID", "SCHEMA_INVALID", "TIME_INVALID")
        assert "root:" not in response.text


def test_xml_refused_by_gs1s_xsd_is_a_400_with_its_own_code(env: Env) -> None:
    xml = (GS1.parent / "gs1_examples_xml" / "Example-ObjectEvent_9.6.1.xml").read_bytes()
    invalid = xml.replace(b"<action>OBSERVE</action>", b"<action>SEEN</action>", 1)
    assert invalid != xml
    for path in ("/epcis/capture", "/traceability/capture"):
        response = env.http.post(path, content=invalid,
                                 headers={"Authorization": "Bearer brand-token", "Content-Type": "application/xml"})
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "XML_SCHEMA_INVALID" and "'SEEN'" in response.text


def test_a_restarted_dispatcher_resumes_from_the_stored_cursor(env: Env) -> None:
    import asyncio

    from baas.apps.traceability.app import query_document
    from baas.apps.traceability.epcis_rest import SubscriptionDispatcher

    matching_since_subscribed = len(env.events(EQ_bizStep="assembling", perPage=100)) - 1  # one came before

    def caught_up() -> bool:  # the running dispatcher has pushed every matching event
        subscription = env.http.get("/epcis/queries/assembling/subscriptions").json()[0]
        return bool(subscription["delivered"] == matching_since_subscribed)
    wait_until(caught_up, 60, "the dispatcher to catch up", interval=0.05)
    delivered_before = len(env.receiver.bodies)

    async def one_round() -> int:
        fresh = SubscriptionDispatcher(env.service, env.settings, query_document)  # as after a restart
        async with httpx.AsyncClient(timeout=10) as client:
            return await fresh.deliver_once(client)

    assert asyncio.run(one_round()) == 0  # nothing is delivered twice
    assert len(env.receiver.bodies) == delivered_before


def _located_events(env: Env, tag: str) -> dict[str, str]:
    """Three new events (site, a dock in it, a door of the dock; bizLocations likewise) with quantities 5/50/500."""
    sites = {"site": "urn:epc:id:sgln:4012345.77777.0", "dock": "urn:epc:id:sgln:4012345.77777.1",
             "door": "urn:epc:id:sgln:4012345.77777.2"}
    events = []
    for n, (name, gln) in enumerate(sites.items()):
        events.append({"type": "ObjectEvent", "eventTime": f"2021-0{n + 1}-01T10:00:00+02:00",
                       "eventTimeZoneOffset": "+02:00", "action": "OBSERVE", "bizStep": "inspecting",
                       "eventID": f"urn:uuid:0c0ffee0-{tag}-4000-8000-00000000000{n}",
                       "quantityList": [{"epcClass": f"urn:epc:class:lgtin:4012345.012345.{tag}{n}",
                                         "quantity": 5 * 10 ** n, "uom": "KGM"}],
                       "readPoint": {"id": gln}, "bizLocation": {"id": gln}})
    document = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
                "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2021-04-01T10:00:00Z",
                "epcisBody": {"eventList": events}}
    assert env.capture(document)["success"]
    return {name: f"urn:uuid:0c0ffee0-{tag}-4000-8000-00000000000{n}" for n, name in enumerate(sites)}


def test_wd_read_point_and_biz_location_follow_the_master_data_hierarchy(env: Env) -> None:
    ids = _located_events(env, "aaaa")
    site, dock, door = "urn:epc:id:sgln:4012345.77777.0", "urn:epc:id:sgln:4012345.77777.1", \
        "urn:epc:id:sgln:4012345.77777.2"
    for parameter in ("WD_readPoint", "WD_bizLocation"):
        # no hierarchy yet: exactly the events at that place
        assert [e["eventID"] for e in env.events(**{parameter: site})] == [ids["site"]]
    hierarchy = {"vocabularyList": [
        {"type": "urn:epcglobal:epcis:vtype:ReadPoint", "vocabularyElementList": [
            {"id": site, "attributes": [], "children": [dock]}, {"id": dock, "attributes": [], "children": [door]}]}]}
    stored = env.http.post("/traceability/masterdata", json=hierarchy, headers={"Authorization": "Bearer brand-token"})
    assert stored.status_code == 201, stored.text
    for parameter in ("WD_readPoint", "WD_bizLocation"):
        assert sorted(e["eventID"] for e in env.events(**{parameter: site})) == sorted(ids.values())
        assert sorted(e["eventID"] for e in env.events(**{parameter: dock})) == sorted([ids["dock"], ids["door"]])
        assert [e["eventID"] for e in env.events(**{parameter: door})] == [ids["door"]]
    # EQ_ stays exact
    assert [e["eventID"] for e in env.events(EQ_readPoint=site)] == [ids["site"]]


def test_quantity_filters(env: Env) -> None:
    ids = _located_events(env, "bbbb")
    place = {"EQ_bizStep": "inspecting", "EQ_readPoint": "urn:epc:id:sgln:4012345.77777.1"}  # 50 KGM, both runs
    ours = {ids["dock"]}

    def found(**params: Any) -> set[str]:
        return {e["eventID"] for e in env.events(**place, **params)} & ours

    assert found(EQ_quantity="50") == ours and found(EQ_quantity="5") == set()
    assert found(GT_quantity="49.5") == ours and found(GT_quantity="50") == set()
    assert found(GE_quantity="50") == ours and found(GE_quantity="50.01") == set()
    assert found(LT_quantity="50.5") == ours and found(LT_quantity="50") == set()
    assert found(LE_quantity="50") == ours and found(LE_quantity="49") == set()
    # per unit, converted exactly: 50 KGM = 50000 GRM = 110.231… LBR; a length never matches
    assert found(EQ_quantity_GRM="50000") == ours and found(EQ_quantity_KGM="50") == ours
    assert found(GT_quantity_LBR="110.231") == ours and found(GT_quantity_LBR="110.232") == set()
    assert found(LE_quantity_TNE="0.05") == ours and found(LT_quantity_TNE="0.05") == set()
    assert found(EQ_quantity_MTR="50") == set() and found(GE_quantity_MTR="0") == set()
    # over all events: every match really carries such a quantity
    for event in env.events(GT_quantity="100", perPage=100):
        quantities = [q.get("quantity") for key in ("quantityList", "childQuantityList", "inputQuantityList",
                                                    "outputQuantityList") for q in event.get(key) or []]
        assert any(isinstance(q, (int, float)) and q > 100 for q in quantities), event
    response = env.http.get("/epcis/events", params={"GT_quantity": "lots"})
    assert response.status_code == 400 and response.json()["code"] == "INVALID_PARAMETER"


def test_sensor_value_filters(env: Env) -> None:
    def sensed(n: int, value: float, uom: str) -> dict[str, Any]:
        return {"type": "ObjectEvent", "eventTime": f"2022-05-0{n}T08:00:00Z", "eventTimeZoneOffset": "+00:00",
                "action": "OBSERVE", "bizStep": "sensor_reporting", "epcList": [f"urn:epc:id:sgtin:4012345.011111.88{n}"],
                "eventID": f"urn:uuid:5e5e5e5e-0000-4000-8000-00000000000{n}",
                "sensorElementList": [{"sensorReport": [{"type": "gs1:Temperature", "value": value, "uom": uom},
                                                        {"type": "gs1:RelativeHumidity", "value": 40, "uom": "A93"}]}]}
    document = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
                "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2022-05-09T10:00:00Z",
                "epcisBody": {"eventList": [sensed(1, 4.5, "CEL"), sensed(2, 9.0, "CEL"), sensed(3, 48.0, "FAH")]}}
    assert env.capture(document)["success"]
    ours = {f"urn:uuid:5e5e5e5e-0000-4000-8000-00000000000{n}" for n in (1, 2, 3)}

    def found(**params: Any) -> set[str]:
        return {e["eventID"] for e in env.events(perPage=100, **params)} & ours

    assert found(EXISTS_sensorElementList="true") == ours
    assert all(e.get("sensorElementList") for e in env.events(perPage=100, EXISTS_sensorElementList="true"))
    assert found(EQ_type="Temperature") == ours == found(EQ_type="https://gs1.org/voc/Temperature")
    assert found(EQ_type="gs1:Humidity") == set()
    first, second, third = sorted(ours)  # 4.5 CEL, 9.0 CEL, 48 FAH (= 80/9 CEL, 8.88… CEL)
    assert found(GT_value_CEL="5") == {second, third}
    assert found(GE_value_CEL="4.5") == ours
    assert found(LT_value_CEL="4.5") == set() and found(LE_value_CEL="4.5") == {first}
    assert found(EQ_value_FAH="48") == {third} and found(EQ_value_FAH="40.1") == {first}  # converted exactly
    assert found(LT_value_CEL="8.889") == {first, third} and found(LT_value_CEL="8.888") == {first}
    # GS1's conformance test TCR-53 step 26: a bound in kelvin finds the temperature captured in CEL
    assert found(GE_value_KEL="282.15", EQ_type="Temperature") == {second} == found(EQ_value_KEL="282.15")
    assert found(GT_value_KGM="0") == set() and found(EQ_value_P1="40") == set()  # other dimensions: never
    # the humidity here is written in A93 (g/m³, a mass concentration, as GS1's examples do): found in
    # mg/m³, never as a ratio
    assert found(EQ_value_GP="40000") == ours and found(EQ_value_C62="0.4") == set()
    assert found(GT_value_A93="39", EQ_type="Temperature") == ours  # ANDed over the event, as the standard says
    response = env.http.get("/epcis/events", params={"GT_value_CEL": "hot"})
    assert response.status_code == 400 and response.json()["code"] == "INVALID_PARAMETER"


def test_extension_field_queries_over_http_on_gs1s_all_fields_example(env: Env) -> None:
    document = json.loads((GS1_FULL / "object_event_all_possible_fields.jsonld").read_text())
    document["@context"].append({"example": "http://ns.example.com/epcis/"})  # GS1 forgot to declare it
    assert env.capture(document)["success"]
    nested = env.events(**{"EQ_INNER_ext3:string": "stringInObjectInObjectInArray"})
    assert len(nested) == 1 and nested[0]["ext1:string"] == "string"
    assert env.events(**{"EQ_ext3:string": "stringInObjectInObjectInArray"}) == []
    assert env.events(**{"EQ_INNER_http://example.com/ext3/#string": "stringInObjectInObject"}) == nested
    assert env.events(**{"GT_INNER_ILMD_ext2:int": "12", "EXISTS_SENSORMETADATA_ext1:someFurtherMetadata": ""}) \
        == nested
    assert env.events(**{"GT_INNER_ILMD_ext2:int": "13"}) == []
    refused = env.http.get("/epcis/events", params={"GT_ext1:string": "abc"})
    assert refused.status_code == 400 and refused.json()["code"] == "INVALID_PARAMETER"


def test_master_data_is_recorded_on_chain_and_queried_back(env: Env, tmp_path: Path) -> None:
    """GS1's example 9.8.1 vocabularies in a capture document's header: one transaction with the
    document's event; an index rebuilt from the chain alone has them; another organisation may not
    describe the brand's locations."""
    vocabularies = json.loads((GS1_FULL / "Example_9.8.1-MasterData-complying-with-schema-fixed.jsonld")
                              .read_text())["epcisHeader"]["epcisMasterData"]["vocabularyList"]
    room = "urn:epc:id:sgln:0037000.00729.8202"
    document = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                             {"xmda": "http://epcis.example.com/mda"}],
                "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-05-01T10:00:00Z",
                "epcisHeader": {"epcisMasterData": {"vocabularyList": vocabularies}},
                "epcisBody": {"eventList": [{
                    "type": "ObjectEvent", "eventTime": "2024-05-01T09:00:00+02:00", "eventTimeZoneOffset": "+02:00",
                    "action": "OBSERVE", "epcList": ["urn:epc:id:sgtin:0037000.012345.77"],
                    "readPoint": {"id": room}}]}}
    job = env.capture(document)
    assert job["success"], job
    body = env.query("/epcis/vocabularies", EQ_name=room)
    assert body["epcisBody"]["queryResults"]["queryName"] == "SimpleMasterDataQuery"
    found = body["epcisBody"]["queryResults"]["resultsBody"]["vocabularyList"]
    assert [v["type"] for v in found] == ["urn:epcglobal:epcis:vtype:BusinessLocation",
                                          "urn:epcglobal:epcis:vtype:ReadPoint"]
    assert found[0]["vocabularyElementList"][0]["children"] == [urn_to_dl("urn:epc:id:sgln:0037000.00729.8203")]
    as_xml = env.http.get("/epcis/vocabularies", params={"EQ_name": room}, headers={"Accept": "application/xml"})
    assert as_xml.status_code == 200 and as_xml.headers["content-type"].startswith("application/xml")
    assert as_xml.text.count("<Vocabulary ") == 2 and "cbvmda:site" in as_xml.text
    assert [e["eventID"] for e in env.events(**{"EQ_ATTR_readPoint_cbvmda:site": "0037000007296"})] == \
        job["eventHashes"]
    # the other organisation may not describe the brand's places
    refused = env.http.post("/traceability/masterdata", headers={"Authorization": "Bearer other-token"},
                            json={"vocabularyList": vocabularies[:1]})
    assert refused.status_code == 403 and refused.json()["code"] == "PREFIX_NOT_AUTHORISED"
    # an index rebuilt from the chain alone holds the same master data
    settings = TraceabilitySettings([env.node.url], env.dev.ledger_hash, env.dev.key,
                                    str(tmp_path / "rebuilt.sqlite3"), contract_address=env.service.contract_address)
    rebuilt = TraceabilityService(settings).start()
    try:
        expected = env.service.vocabulary_query({})
        wait_until(lambda: rebuilt.vocabulary_query({}) == expected, 60, "the rebuilt index to hold the master data", interval=0.05)
        assert rebuilt.store.master_data(urn_to_dl(room)) == env.service.store.master_data(urn_to_dl(room))
    finally:
        rebuilt.stop()


def test_an_app_on_a_version_1_contract_still_captures_documents_with_master_data(env: Env) -> None:
    """Before master_data existed, a header's master data was indexed only; an app whose contract has
    no master_data method must keep capturing such documents (one capture invocation, nothing else)."""
    env.service.store.set_meta("contract_version", "1")
    try:
        place = "https://example.org/places/legacy-yard"
        document = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
                    "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-06-01T10:00:00Z",
                    "epcisHeader": {"epcisMasterData": {"vocabularyList": [
                        {"type": "urn:epcglobal:epcis:vtype:BusinessLocation", "vocabularyElementList": [
                            {"id": place, "attributes": [{"id": "urn:epcglobal:cbv:mda#name", "attribute": "Yard"}]}]}]}},
                    "epcisBody": {"eventList": [{
                        "type": "ObjectEvent", "eventTime": "2024-06-01T09:00:00Z", "eventTimeZoneOffset": "+00:00",
                        "action": "OBSERVE", "epcList": ["urn:epc:id:sgtin:0037000.012345.78"],
                        "bizLocation": {"id": place}}]}}
        job = env.capture(document)
        assert job["success"], job
        tx = env.service.ledger.get_tx(job["txHash"])
        assert [op.get("method") for op in tx.operations] == ["capture"]
        assert env.service.store.master_data(place) == {"urn:epcglobal:cbv:mda#name": "Yard"}
    finally:
        env.service.store.set_meta("contract_version", str(CONTRACT_VERSION))


GS1_DECLARATION = GS1.parent / "gs1_examples_errors" / "ErrorDeclarationAndCorrectiveEvent.jsonld"


def test_gs1s_declaration_of_an_event_captured_elsewhere(tmp_path: Path) -> None:
    """GS1's ErrorDeclarationAndCorrectiveEvent example declares an event this repository never
    received (EPCIS 2.0 events travel between repositories) and carries the corrective event. It is
    captured (contract version 4), queryable by every error-declaration parameter; only an organisation
    entitled to the event's keys may declare it, once; the event itself may arrive later, once, and
    stays declared erroneous."""
    fresh = Env(tmp_path)
    try:
        admin = {"Authorization": "Bearer admin-token"}
        for key, name in ((fresh.brand, "GS1 Example Brand"), (fresh.other, "Someone Else")):
            assert fresh.http.post("/traceability/admin/organisations", headers=admin,
                                   json={"publicKey": key.public.base58, "name": name}).status_code == 201
        assert fresh.http.post("/traceability/admin/brands", headers=admin, json={
            "prefix": "4012345", "brand": address_from_public_key(fresh.brand.public), "name": "GS1 Example Brand",
        }).status_code == 201
        document = json.loads(GS1_DECLARATION.read_text())
        declared_id, corrective_id = (e["eventID"] for e in document["epcisBody"]["eventList"])

        # attack: someone not entitled to the event's GS1 keys cannot declare it erroneous
        refused = fresh.http.post("/traceability/capture", json=document, headers={"Authorization": "Bearer other-token"})
        assert refused.status_code == 403 and refused.json()["code"] == "PREFIX_NOT_AUTHORISED"

        job = fresh.capture(document)
        assert job["success"], job
        for event in document["epcisBody"]["eventList"]:  # both come back as captured
            [found] = fresh.events(EQ_eventID=event["eventID"])
            assert _as_captured(found) == event
        assert [e["eventID"] for e in fresh.events(EXISTS_errorDeclaration="true")] == [declared_id]
        assert [e["eventID"] for e in fresh.events(EQ_errorReason="incorrect_data")] == [declared_id]
        assert fresh.events(EQ_errorReason="did_not_occur") == []
        assert [e["eventID"] for e in fresh.events(EQ_correctiveEventID=corrective_id)] == [declared_id]
        [followed] = fresh.events(EQ_eventID=fresh.events(EQ_eventID=declared_id)[0]["errorDeclaration"]
                                  ["correctiveEventIDs"][0])
        assert followed["eventID"] == corrective_id and "errorDeclaration" not in followed
        declared_at = "2020-01-15T00:00:00+01:00"
        assert [e["eventID"] for e in fresh.events(GE_errorDeclarationTime=declared_at)] == [declared_id]
        assert fresh.events(LT_errorDeclarationTime=declared_at) == []
        assert [e["eventID"] for e in fresh.events(LT_errorDeclarationTime="2020-01-14T23:00:01Z")] == [declared_id]
        assert fresh.events(**{"EQ_ERROR_DECLARATION_example:vendorExtension": "Test1"})[0]["eventID"] == declared_id
        declared_hash = event_hash(document["epcisBody"]["eventList"][0], document["@context"])
        proof = fresh.http.get(f"/traceability/events/{quote(declared_hash, safe='')}/proof")
        assert proof.status_code == 200, proof.text  # the declaration's own record on chain

        # the same declaration again: once per event
        declaration_only = copy.deepcopy(document)
        declaration_only["epcisBody"]["eventList"] = document["epcisBody"]["eventList"][:1]
        again = fresh.http.post("/traceability/capture", json=declaration_only,
                                headers={"Authorization": "Bearer brand-token"})
        assert again.status_code == 409 and again.json()["code"] == "ALREADY_DECLARED"

        # the declared event itself arrives later: recorded once, and it stays declared erroneous
        original = copy.deepcopy(document)
        original["epcisBody"]["eventList"] = [{k: v for k, v in document["epcisBody"]["eventList"][0].items()
                                               if k != "errorDeclaration"}]
        assert fresh.http.post("/traceability/capture", json=original,
                               headers={"Authorization": "Bearer other-token"}).status_code == 403
        job = fresh.capture(original)
        assert job["success"], job
        [event] = fresh.events(EQ_eventID=declared_id)
        assert event["errorDeclaration"]["reason"] == "incorrect_data"
        assert {k: v for k, v in _as_captured(event).items() if k != "errorDeclaration"} == \
            original["epcisBody"]["eventList"][0]
        assert len(fresh.events(MATCH_inputEPC="urn:epc:id:sgtin:4012345.011111.987")) == 2
        proof = fresh.http.get(f"/traceability/events/{quote(declared_hash, safe='')}/proof")
        assert proof.status_code == 200, proof.text  # now the event's own record
        duplicate = fresh.http.post("/traceability/capture", json=original, headers={"Authorization": "Bearer brand-token"})
        assert duplicate.status_code == 409 and duplicate.json()["code"] == "DUPLICATE_EVENT"

        # an app whose contract predates version 4 keeps refusing such a declaration before the chain
        fresh.service.store.set_meta("contract_version", "3")  # version 3 refuses them
        other = copy.deepcopy(document)
        other["epcisBody"]["eventList"] = [dict(document["epcisBody"]["eventList"][0],
                                                eventTime="2020-01-13T00:00:00+01:00")]
        old = fresh.http.post("/traceability/capture", json=other, headers={"Authorization": "Bearer brand-token"})
        assert old.status_code == 409 and old.json()["code"] == "UNKNOWN_EVENT"
    finally:
        fresh.close()


def test_events_filtered_by_master_data_of_products_and_parties_over_http(env: Env) -> None:
    """HASATTR_ / EQ_ATTR_ beyond places: a GTIN's description finds the events of its items (as
    MATCH_ with the class pattern does), and of its lots in quantity lists; a source's description finds
    the events it is a source of; a field without master data is a 400 naming the supported ones."""
    gtin, location = "urn:epc:idpat:sgtin:0614141.107346.*", "urn:epc:id:sgln:952005385.481.0"
    vocabularies = {"vocabularyList": [
        {"type": "urn:epcglobal:epcis:vtype:EPCClass", "vocabularyElementList": [
            {"id": gtin, "attributes": [{"id": "urn:epcglobal:cbv:mda#descriptionShort", "attribute": "Widget"}]}]},
        {"type": "urn:epcglobal:epcis:vtype:BusinessLocation", "vocabularyElementList": [
            {"id": location, "attributes": [{"id": "urn:epcglobal:cbv:mda#city", "attribute": "Springfield"}]}]}]}
    stored = env.http.post("/traceability/masterdata", json=vocabularies, headers={"Authorization": "Bearer brand-token"})
    assert stored.status_code == 201, stored.text

    def ids(**params: str) -> list[str]:
        return sorted(e["eventID"] for e in env.events(perPage=100, **params))

    described = ids(**{"EQ_ATTR_anyEPC_urn:epcglobal:cbv:mda#descriptionShort": "Widget"})
    assert described and described == ids(MATCH_anyEPC=gtin) == ids(**{"HASATTR_anyEPC":
                                                                       "urn:epcglobal:cbv:mda#descriptionShort"})
    assert ids(**{"EQATTR_epcClass_urn:epcglobal:cbv:mda#descriptionShort": "Widget"}) == ids(MATCH_anyEPCClass=gtin)
    assert ids(**{"EQ_ATTR_anyEPC_urn:epcglobal:cbv:mda#descriptionShort": "Gadget"}) == []
    sourced = env.events(**{"EQ_ATTR_source_urn:epcglobal:cbv:mda#city": "Springfield"})
    assert sourced and all(any(urn_to_dl(s["source"]) == urn_to_dl(location) for s in e["sourceList"]) for e in sourced)
    assert ids(**{"EQ_ATTR_source_urn:epcglobal:cbv:mda#city": "Springfield"}) == \
        ids(**{"HASATTR_source": "urn:epcglobal:cbv:mda#city"})
    refused = env.http.get("/epcis/events", params={"HASATTR_bizStep": "urn:epcglobal:cbv:mda#city"})
    assert refused.status_code == 400 and refused.json()["code"] == "INVALID_PARAMETER"
    assert "epcClass" in refused.json()["message"] and "destination" in refused.json()["message"]
