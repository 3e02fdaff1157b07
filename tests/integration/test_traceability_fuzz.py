"""The traceability app's HTTP API fuzzed by schemathesis from its own OpenAPI document (with an
organisation token and without), and its capture path fed random JSON and random XML: never a 5xx,
every error a ``{code, message}`` body without a traceback. Bounded by ``JADECHAIN_FUZZ_EXAMPLES``
(default 5 per operation); one solo node."""

from __future__ import annotations

import json
import os
from typing import Any, Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baas.apps.traceability.app import create_app
from baas.apps.traceability.server import AppServer
from baas.apps.traceability.service import CaptureError, TraceabilityService, TraceabilitySettings, prepare_document
from baas.apps.traceability.xml_binding import XmlBindingError, parse_document
from ledger.crypto import ED25519, generate_keypair
from jadechain.devnet.solo import SoloNode, create_dev_solo
from tests.support.api_checks import check_no_5xx_and_stable_errors

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("contracts")

EXAMPLES = int(os.environ.get("JADECHAIN_FUZZ_EXAMPLES", "5"))
TOKEN = "fuzzing-organisation-token"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("trace-fuzz")
    dev = create_dev_solo(str(root / "net"))
    with SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], idle_block_ms=10) as node:
        settings_ = TraceabilitySettings([node.url], dev.ledger_hash, dev.key, str(root / "index.sqlite3"),
                                         organisations={TOKEN: generate_keypair(ED25519)}, admin_token="fuzz-admin")
        service = TraceabilityService(settings_).start()
        server = AppServer(create_app(settings_, service)).start()
        try:
            yield server.url
        finally:
            server.stop()
            service.stop()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("authenticated", [True, False], ids=["token", "anonymous"])
def test_every_operation_fuzzed_never_5xx(app: str, authenticated: bool) -> None:
    schema = schemathesis.openapi.from_url(app + "/openapi.json")
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            headers = dict(case.headers or {})
            if authenticated:
                headers["Authorization"] = f"Bearer {TOKEN}"
            else:
                headers.pop("Authorization", None)
            response = case.call(base_url=app, headers=headers, timeout=60)
            check_no_5xx_and_stable_errors(response, f"{case.method} {case.formatted_path}")

        run()
        checked += 1
    assert checked >= 25


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25)
event_like = st.fixed_dictionaries({"type": st.sampled_from(["ObjectEvent", "AggregationEvent", "Bogus"])},
                                   optional={"eventTime": st.text(max_size=30), "eventTimeZoneOffset": st.text(max_size=8),
                                             "action": st.text(max_size=8), "epcList": json_values,
                                             "bizStep": json_values, "ilmd": json_values,
                                             "sensorElementList": json_values, "bizTransactionList": json_values})
documents = st.one_of(json_values, st.builds(
    lambda events, extra: {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
                           "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-01-01T00:00:00Z",
                           "epcisBody": {"eventList": events}, **extra},
    st.lists(event_like, max_size=3), st.dictionaries(st.text(max_size=8), json_values, max_size=2)))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(documents)
def test_random_capture_documents_are_refused_cleanly(document: Any) -> None:
    try:
        prepare_document(document)
    except CaptureError as error:
        assert 400 <= error.status < 500
        json.dumps(error.details)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: f"<EPCISDocument>{t}</EPCISDocument>".encode()))
def test_random_xml_is_refused_cleanly(data: bytes) -> None:
    try:
        document = parse_document(data)
    except XmlBindingError:
        return
    try:
        prepare_document(document)
    except CaptureError:
        pass


def test_random_bodies_over_http_never_5xx(app: str) -> None:
    with httpx.Client(base_url=app, timeout=60) as http:
        for body, kind in ((b"{", "application/json"), (b"[]", "application/json"), (b"<x", "application/xml"),
                           (b"\xff\xfe", "application/xml"), (b'{"type": "EPCISDocument"}', "application/json")):
            for path in ("/traceability/capture", "/epcis/capture", "/traceability/masterdata", "/epcis/queries"):
                response = http.post(path, content=body, headers={"Authorization": f"Bearer {TOKEN}",
                                                                  "Content-Type": kind})
                check_no_5xx_and_stable_errors(response, f"POST {path} {body!r}")
                assert 400 <= response.status_code < 500
