"""The evidence app's HTTP API fuzzed by schemathesis from its own OpenAPI document, with its write
credential and without: no 5xx, every error a ``{code, message}`` body without a traceback, and no
write without the credential. (The control plane: tests/fuzz/test_fuzz_api_baas.py; a gateway:
tests/integration/test_gateway_fuzz.py.) Bounded by ``JADECHAIN_FUZZ_EXAMPLES`` (default 5 per
operation); one solo node; about 20 s.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from jadechain.devnet.solo import SoloNode, create_dev_solo

from baas.apps.evidence.server import EvidenceServer
from baas.apps.evidence.service import EvidenceSettings, static_authorizer
from tests.support.api_checks import check_no_5xx_and_stable_errors

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = int(os.environ.get("JADECHAIN_FUZZ_EXAMPLES", "5"))
TOKEN = "jdapp_fuzzing-credential-000000000000000001"
WRITES = {("POST", "/evidence"), ("POST", "/evidence/batch"), ("POST", "/evidence/{record_id}/signatures"),
          ("POST", "/evidence/tsa")}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("evidence-fuzz")
    dev = create_dev_solo(str(root / "net"))
    with SoloNode(dev.data_dir, dev.ledger_hash, [dev.key], idle_block_ms=10) as node:
        settings_ = EvidenceSettings(gateways=[node.url], ledger_hash=dev.ledger_hash, key=dev.key,
                                     data_dir=str(root / "app"), authorize=static_authorizer({TOKEN: "fuzzers"}),
                                     commit_timeout=10.0, proof_wait=1.0)
        with EvidenceServer(settings_) as server:
            yield server.url


@pytest.mark.timeout(600)
@pytest.mark.parametrize("authenticated", [True, False], ids=["credential", "anonymous"])
def test_every_evidence_operation_fuzzed_never_5xx(app: str, authenticated: bool) -> None:
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
            response = case.call(base_url=app, headers=headers, timeout=30)
            check_no_5xx_and_stable_errors(response, f"{case.method} {case.formatted_path}")
            if not authenticated and (case.method.upper(), case.path) in WRITES:
                assert response.status_code == 401, (case.method, case.formatted_path, response.status_code)

        run()
        checked += 1
    assert checked >= 12
