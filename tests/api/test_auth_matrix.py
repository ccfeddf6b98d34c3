"""Every operation of the app against every kind of caller: anonymous, viewer, analyst, operator and admin.
The table below is the policy; an operation missing from it fails the test, so a new route cannot ship
without a decision on who may call it.

Callers who pass the check send a body (or a query) the route must refuse with 422, so nothing changes
while the check is proven: a 422 (or a 404 for a made-up id) means the request got past authorization."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.store.auth import Role, UserRow
from tests.api.conftest import Headers

PUBLIC = "public"
POLICY: dict[tuple[str, str], Role | str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("POST", "/auth/login"): PUBLIC,
    ("POST", "/auth/refresh"): PUBLIC,
    ("POST", "/auth/logout"): PUBLIC,
    ("GET", "/users/me"): Role.VIEWER,
    ("GET", "/status"): Role.VIEWER,
    ("GET", "/metrics"): Role.VIEWER,
    ("GET", "/rounds"): Role.VIEWER,
    ("GET", "/rounds/{slug}"): Role.VIEWER,
    ("GET", "/kill-switch"): Role.VIEWER,
    ("GET", "/strategies"): Role.VIEWER,
    ("GET", "/risk/limits"): Role.VIEWER,
    ("GET", "/events/stream"): Role.VIEWER,
    ("GET", "/decisions"): Role.VIEWER,
    ("GET", "/orders"): Role.VIEWER,
    ("GET", "/fills"): Role.VIEWER,
    ("GET", "/risk-events"): Role.VIEWER,
    ("GET", "/alerts"): Role.VIEWER,
    ("GET", "/pnl/daily"): Role.VIEWER,
    ("GET", "/pnl/strategies"): Role.VIEWER,
    ("GET", "/backtests"): Role.VIEWER,
    ("GET", "/backtests/{run_id}"): Role.VIEWER,
    ("GET", "/backtests/{run_id}/files/{name}"): Role.VIEWER,
    ("GET", "/backtest-runs/{flow_run_id}"): Role.VIEWER,
    ("POST", "/backtest-runs"): Role.ANALYST,
    ("GET", "/operator-actions"): Role.OPERATOR,
    ("POST", "/kill-switch"): Role.OPERATOR,
    ("PUT", "/strategies/{name}"): Role.OPERATOR,
    ("PATCH", "/risk/limits"): Role.ADMIN,
    ("GET", "/users"): Role.ADMIN,
    ("POST", "/users"): Role.ADMIN,
    ("PATCH", "/users/{name}"): Role.ADMIN,
    ("GET", "/auth/tokens"): Role.ADMIN,
    ("POST", "/auth/tokens"): Role.ADMIN,
    ("DELETE", "/auth/tokens/{token_id}"): Role.ADMIN,
}
PATHS = {
    "/rounds/{slug}": "/rounds/btc-updown-15m-1778437800",
    "/backtests/{run_id}": "/backtests/backtest-00000000",
    "/backtests/{run_id}/files/{name}": "/backtests/backtest-00000000/files/report.html",
    "/backtest-runs/{flow_run_id}": "/backtest-runs/00000000-0000-0000-0000-000000000000",
    "/strategies/{name}": "/strategies/momentum",
    "/users/{name}": "/users/nobody",
    "/auth/tokens/{token_id}": "/auth/tokens/none",
}
QUERIES = {"/events/stream": {"mode": "neither"}}
"""A stream a caller may read would never end: asked for a mode that does not exist, it answers 422."""
PROBE = {"not a field of any request": True}
CALLERS: list[Role | None] = [None, *Role]


def operations(app: FastAPI) -> list[tuple[str, str]]:
    paths = app.openapi()["paths"]
    return [(method.upper(), path) for path, found in paths.items() for method in found]


def test_every_operation_has_a_policy_and_the_policy_has_no_stale_entry(app: FastAPI) -> None:
    listed = set(operations(app))
    assert listed - set(POLICY) == set(), "decide who may call these, in POLICY"
    assert set(POLICY) - listed == set(), "these are no longer routes of the app"


@pytest.fixture
def store_url(sqlite_url: str) -> str:
    """SQLite: who gets through does not depend on the back end (tests/api/test_roles.py runs both)."""
    return sqlite_url


@pytest.mark.parametrize("caller", CALLERS, ids=lambda role: role.value if role else "anonymous")
def test_each_caller_gets_exactly_what_the_policy_says(
    client: TestClient,
    app: FastAPI,
    users: dict[Role, UserRow],
    as_role: Callable[[Role], Headers],
    caller: Role | None,
) -> None:
    headers = as_role(caller) if caller is not None else {}
    wrong = []
    for method, path in operations(app):
        minimum = POLICY[(method, path)]
        answer = client.request(
            method, PATHS.get(path, path), headers=headers, params=QUERIES.get(path), json=PROBE
        )
        if minimum == PUBLIC:
            allowed = True
        elif caller is None:
            allowed = False
            if answer.status_code != 401:
                wrong.append(f"{method} {path}: {answer.status_code} to an anonymous caller, not 401")
            continue
        else:
            assert isinstance(minimum, Role)
            allowed = caller.at_least(minimum)
        if allowed and answer.status_code in (401, 403):
            wrong.append(f"{method} {path}: {answer.status_code} to {caller}, who may call it")
        if not allowed:
            assert isinstance(minimum, Role)
            expected = f"needs role {minimum.value} or above"
            if answer.status_code != 403 or expected not in answer.text:
                wrong.append(
                    f"{method} {path}: {answer.status_code} {answer.text[:100]} to {caller}, not 403"
                )
    assert wrong == []
