"""Stateful schemathesis over the control plane, with a platform admin's bearer token: operations are
chained through the links schemathesis infers from the OpenAPI document (an organisation created,
then read, updated, given users and keys, ...). Every response: no 5xx, errors as ``{code, message}``,
and the documented status codes and bodies (schemathesis' response checks).

Operations that would start processes or end the fuzzing identity are left out (as in
tests/fuzz/test_fuzz_api_baas.py). Bounded by ``JADECHAIN_FUZZ_EXAMPLES`` (default 5 scenarios of at
most 6 steps); about 30 s.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyStrategyDefinition

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "baas"))

from baas_testkit import admin_password, running_baas, token_client  # noqa: E402

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = int(os.environ.get("JADECHAIN_FUZZ_EXAMPLES", "5"))
EXCLUDED_PATHS = (
    r"^/api/v1/networks$", r"/start$", r"/stop$", r"/restart$", r"^/api/v1/networks/\{network_id\}/(nodes|ledgers)$",
    r"^/api/v1/apps$", r"^/api/v1/auth/(password|logout)$", r"^/api/v1/tokens/\{token_id\}$",
    r"^/api/v1/users/\{user_id\}$", r"^/ui", r"^/apps/",
)


def _content_type(response: Any) -> str:
    value = response.headers.get("content-type") or ""
    return str(value[0] if isinstance(value, list) and value else value)


@pytest.fixture(scope="module")
def baas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    data_dir = tmp_path_factory.mktemp("baas-stateful")
    with running_baas(data_dir, base_port=28100) as server:
        client = token_client(server.url, "admin", admin_password(data_dir))
        yield server, str(client.headers["Authorization"])


@pytest.mark.timeout(900)
def test_control_plane_stateful_with_a_token(baas: tuple[Any, str]) -> None:
    server, authorization = baas
    from schemathesis.specs.openapi.checks import response_schema_conformance

    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    for pattern in EXCLUDED_PATHS:
        schema = schema.exclude(path_regex=pattern)
    base = schema.as_state_machine()
    calls = {"count": 0, "ok": 0}
    failures: list[str] = []

    class ControlPlane(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": server.url, "headers": {"Authorization": authorization}, "timeout": 30}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            try:
                self._check(response, case)
            except Exception as failure:
                # kept, so that a replay Hypothesis cannot repeat (FlakyStrategyDefinition) cannot hide it
                failures.append(f"{case.method} {case.formatted_path}: {failure!r}"[:2000])
                raise

        def _check(self, response: Any, case: Any) -> None:
            calls["count"] += 1
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, (where, response.status_code, response.text[:300])
            if response.status_code < 400:
                calls["ok"] += 1
                # a success body matches the documented response model
                case.validate_response(response, checks=[response_schema_conformance])
            elif _content_type(response).startswith("application/json"):
                body = response.json()
                assert isinstance(body, dict) and isinstance(body.get("code"), str), (where, body)
                assert "Traceback" not in response.text

    try:
        ControlPlane.run(settings=settings(max_examples=EXAMPLES, stateful_step_count=6, deadline=None,
                                           derandomize=True, suppress_health_check=list(HealthCheck), database=None,
                                           phases=[Phase.explicit, Phase.generate]))
    except FlakyStrategyDefinition:
        # The scenarios draw from what the server answered before (ids in links); a step whose earlier call
        # was refused differently on a second pass ends Hypothesis' replay bookkeeping. Every response seen
        # until then was checked above, and a failed check is kept in ``failures`` before it is raised.
        pass
    assert not failures, failures
    assert calls["count"] >= EXAMPLES and calls["ok"] >= 1, calls
