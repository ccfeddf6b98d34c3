"""Schemathesis against the app, as an admin (who reaches every route): requests generated from the OpenAPI
document, a bounded number per operation; no answer is a server error, and every answer matches the
document. (Its pytest plugin does not run under pytest 9, so the operations are walked here.)

Left out: the event stream (it never ends; tests/integration/test_event_stream.py reads it) and a started
backtest's progress (it needs a Prefect server; tests/integration/test_backtest_flow.py covers it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, response_schema_conformance
from schemathesis.core.result import Ok

from core.store.auth import Role, UserRow
from tests.api.conftest import Headers

EXAMPLES = 15


@pytest.fixture
def store_url(sqlite_url: str) -> str:
    """SQLite only: the fuzz is about the app's contract; the back ends are compared elsewhere."""
    return sqlite_url


def test_no_request_is_a_server_error_and_every_answer_matches_the_schema(
    app: FastAPI, users: dict[Role, UserRow], as_role: Callable[[Role], Headers]
) -> None:
    schema = (
        schemathesis.openapi.from_asgi("/openapi.json", app)
        .exclude(path="/events/stream")
        .exclude(path="/backtest-runs/{flow_run_id}")
    )
    headers = as_role(Role.ADMIN)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"an operation the document cannot describe: {result.err()}")
            continue
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case: Any) -> None:
            response = case.call(headers=headers)
            assert response.status_code < 500, f"{response.status_code} {response.text[:300]}"
            case.validate_response(response, checks=[response_schema_conformance, content_type_conformance])

        try:
            check()
        except Exception as exc:  # every operation is tried; all failures are reported together
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    assert operations >= 30, "the document lists the app's operations"
    assert failures == [], "\n\n".join(failures)
