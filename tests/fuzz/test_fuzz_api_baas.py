"""The control plane's HTTP API fuzzed by schemathesis against its own OpenAPI spec: no 5xx, every
error a ``{code, message}`` body, no traceback, and — as a user, with a real bearer token and
without one. (The node gateway's spec is fuzzed in tests/integration/test_gateway_fuzz.py.)

Operations that would start processes (networks, nodes, apps) or destroy the fuzzing identity
itself (revoking its token, deleting or deactivating users, changing the password) are left out;
their input validation is the same FastAPI/pydantic layer that every fuzzed operation goes
through. About 30 s with the default examples (about 350 inputs); ``JADECHAIN_FUZZ_EXAMPLES`` for a deeper run.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from tests.support.api_checks import check_no_5xx_and_stable_errors


from tests.support.baas_testkit import admin_password, running_baas, token_client  # noqa: E402

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = int(os.environ.get("JADECHAIN_FUZZ_EXAMPLES", "5"))
EXCLUDED = {
    ("POST", "/api/v1/networks"),
    ("POST", "/api/v1/networks/{network_id}/start"),
    ("POST", "/api/v1/networks/{network_id}/nodes"),
    ("POST", "/api/v1/networks/{network_id}/ledgers"),
    ("POST", "/api/v1/nodes/{node_id}/restart"),
    ("POST", "/api/v1/nodes/{node_id}/start"),
    ("POST", "/api/v1/apps"),
    ("POST", "/api/v1/auth/password"),
    ("POST", "/api/v1/auth/logout"),
    ("DELETE", "/api/v1/tokens/{token_id}"),
    ("DELETE", "/api/v1/users/{user_id}"),
    ("PATCH", "/api/v1/users/{user_id}"),
}
TRIED: dict[str, int] = {"inputs": 0, "operations": 0}


@pytest.fixture(scope="module")
def baas(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data_dir = tmp_path_factory.mktemp("baas-fuzz")
    with running_baas(data_dir, base_port=27100) as server:
        client = token_client(server.url, "admin", admin_password(data_dir))
        yield server, client.headers["Authorization"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("authenticated", [True, False], ids=["bearer-token", "anonymous"])
def test_every_control_plane_operation_fuzzed_never_5xx(baas: Any, authenticated: bool) -> None:
    server, authorization = baas
    schema = schemathesis.openapi.from_asgi("/openapi.json", server.app)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in EXCLUDED:
            continue

        @settings(max_examples=EXAMPLES if authenticated else max(1, EXAMPLES // 2), deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            headers = dict(case.headers or {})
            if authenticated:
                headers["Authorization"] = authorization
            else:
                headers.pop("Authorization", None)
            response = case.call(base_url=server.url, headers=headers, timeout=20)
            TRIED["inputs"] += 1
            check_no_5xx_and_stable_errors(response, f"{case.method} {case.formatted_path}", allowed_5xx=(503,))
            if not authenticated and case.path not in ("/api/v1/auth/login", "/healthz"):
                assert response.status_code in (401, 403, 404, 405, 422), (case.method, case.formatted_path, response.status_code)

        run()
        checked += 1
    TRIED["operations"] += checked
    print(f"baas fuzz ({'token' if authenticated else 'anonymous'}): {checked} operations, {TRIED['inputs']} inputs so far")
    assert checked >= 40


@pytest.mark.parametrize("path", ["/api/v1/networks/{}/status", "/api/v1/nodes/{}", "/api/v1/organizations/{}",
                                  "/api/v1/contracts/{}"])
def test_huge_ids_are_not_found_rather_than_a_server_error(baas: Any, path: str) -> None:
    """Found by the fuzz above: an id beyond SQLite's 64-bit INTEGER once raised a 500."""
    import httpx

    server, authorization = baas
    response = httpx.get(server.url + path.format(2**63), headers={"Authorization": authorization}, timeout=10)
    assert response.status_code in (404, 422), (response.status_code, response.text[:200])
