"""What every stateful schemathesis test in tests/security checks on each response, and how it runs.

Checks: no 5xx; a success body matches the documented schema and carries no timestamp without a time
zone; an error is ``{code, message}`` without a traceback. A failed check is kept before it is raised:
scenarios draw from what the server answered before (ids carried by links), so Hypothesis may end a
replay with ``FlakyStrategyDefinition``, and that must not hide a 5xx seen on the way.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyStrategyDefinition

from tests.support.api_checks import check_no_5xx_and_stable_errors, content_type

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_ZONE = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
JSON_TYPES = ("application/json", "application/ld+json")


def naive_timestamps(value: Any, where: str = "$") -> list[str]:
    """The JSON paths of date-time strings without a time zone in ``value``."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in naive_timestamps(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in naive_timestamps(item, f"{where}[{index}]")]
    if isinstance(value, str) and _DATETIME.match(value) and not _ZONE.search(value):
        return [f"{where}={value}"]
    return []


class ResponseChecks:
    """The per-response checks, with the calls counted and every failure kept."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.calls = {"count": 0, "ok": 0}

    def __call__(self, response: Any, case: Any) -> None:
        try:
            self._check(response, case)
        except Exception as failure:
            self.failures.append(f"{case.method} {case.formatted_path}: {failure!r}"[:2000])
            raise

    def _check(self, response: Any, case: Any) -> None:
        from schemathesis.specs.openapi.checks import response_schema_conformance

        self.calls["count"] += 1
        where = f"{case.method} {case.formatted_path}"
        check_no_5xx_and_stable_errors(response, where)
        if response.status_code < 400:
            self.calls["ok"] += 1
            case.validate_response(response, checks=[response_schema_conformance])
            if content_type(response).startswith(JSON_TYPES):
                assert not naive_timestamps(response.json()), (where, naive_timestamps(response.json()))


def run_checked(machine: Any, checks: ResponseChecks, examples: int) -> None:
    """Run ``machine`` (its ``validate_response`` calls ``checks``) until ``examples`` calls were checked.

    A run that Hypothesis ends with ``FlakyStrategyDefinition`` is followed by another with other seeds
    (at most three runs in all); then no kept failure, and enough calls, with at least one success.
    """
    for attempt in range(3):
        try:
            machine.run(settings=settings(max_examples=examples, stateful_step_count=6, deadline=None,
                                          derandomize=attempt == 0, suppress_health_check=list(HealthCheck),
                                          database=None, phases=[Phase.explicit, Phase.generate]))
            break
        except FlakyStrategyDefinition:
            if checks.failures or checks.calls["count"] >= examples:
                break
    assert not checks.failures, checks.failures
    assert checks.calls["count"] >= examples and checks.calls["ok"] >= 1, checks.calls
