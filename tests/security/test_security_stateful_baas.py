"""Stateful schemathesis over the control plane, with a platform admin's bearer token: operations are
chained through the links schemathesis infers from the OpenAPI document (an organisation created,
then read, updated, given users and keys, ...). Every response: no 5xx, errors as ``{code, message}``,
the documented status codes and bodies (schemathesis' response checks), timestamps with a time zone
(tests/support/stateful_kit.py).

Operations that would start processes or end the fuzzing identity are left out (as in
tests/fuzz/test_fuzz_api_baas.py). Bounded by ``JADECHAIN_FUZZ_EXAMPLES`` (default 5 scenarios of at
most 6 steps); about 30 s.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import pytest

from tests.support.baas_testkit import admin_password, running_baas, token_client  # noqa: E402

from tests.support.stateful_kit import ResponseChecks, run_checked  # noqa: E402

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = int(os.environ.get("JADECHAIN_FUZZ_EXAMPLES", "5"))
EXCLUDED_PATHS = (
    r"^/api/v1/networks$", r"/start$", r"/stop$", r"/restart$", r"^/api/v1/networks/\{network_id\}/(nodes|ledgers)$",
    r"^/api/v1/apps$", r"^/api/v1/auth/(password|logout)$", r"^/api/v1/tokens/\{token_id\}$",
    r"^/api/v1/users/\{user_id\}$", r"^/ui", r"^/apps/",
)


@pytest.fixture(scope="module")
def baas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    data_dir = tmp_path_factory.mktemp("baas-stateful")
    with running_baas(data_dir, base_port=28100) as server:
        client = token_client(server.url, "admin", admin_password(data_dir))
        yield server, str(client.headers["Authorization"])


@pytest.mark.timeout(900)
def test_control_plane_stateful_with_a_token(baas: tuple[Any, str]) -> None:
    server, authorization = baas

    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    for pattern in EXCLUDED_PATHS:
        schema = schema.exclude(path_regex=pattern)
    base = schema.as_state_machine()
    checks = ResponseChecks()

    class ControlPlane(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": server.url, "headers": {"Authorization": authorization}, "timeout": 30}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            checks(response, case)

    run_checked(ControlPlane, checks, EXAMPLES)
