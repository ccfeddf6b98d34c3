"""Who reaches what: every route needs a token unless it is one of the few public ones; roles are ordered
viewer < analyst < operator < admin; admin routes can be held to client networks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from core.clock import SimulatedClock
from core.store.auth import Role, UserRow
from tests.api.conftest import Headers, bearer, login, make_settings

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/logout"),
}
ADMIN_ONLY = {
    ("GET", "/users"),
    ("GET", "/auth/tokens"),
    ("POST", "/auth/tokens"),
    ("DELETE", "/auth/tokens/{token_id}"),
}
SAMPLE_PATHS = {
    "/rounds/{slug}": "/rounds/btc-updown-15m-1778437800",
    "/auth/tokens/{token_id}": "/auth/tokens/none",
}


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every operation of the app, as its OpenAPI document lists them."""
    paths = app.openapi()["paths"]
    found = [(method.upper(), path) for path, operations in paths.items() for method in operations]
    assert found, "the app has routes"
    return found


def call(client: TestClient, method: str, path: str, headers: Headers | None = None) -> int:
    return client.request(method, SAMPLE_PATHS.get(path, path), headers=headers, json={}).status_code


def test_every_route_but_the_public_ones_refuses_an_anonymous_caller(
    client: TestClient, app: FastAPI, users: dict[Role, UserRow]
) -> None:
    for method, path in routes(app):
        status = call(client, method, path)
        if (method, path) in PUBLIC:
            assert status != 401, f"{method} {path} is public"
        else:
            assert status == 401, f"{method} {path} answered {status} to an anonymous caller"


def test_admin_routes_refuse_every_lower_role_with_403_and_the_reason(
    client: TestClient, app: FastAPI, as_role: Callable[[Role], Headers]
) -> None:
    assert set(routes(app)) >= ADMIN_ONLY
    for role in (Role.VIEWER, Role.ANALYST, Role.OPERATOR):
        headers = as_role(role)
        for method, path in ADMIN_ONLY:
            answer = client.request(method, SAMPLE_PATHS.get(path, path), headers=headers, json={"name": "x"})
            assert answer.status_code == 403, f"{role} {method} {path}"
            assert answer.json()["detail"] == f"needs role admin or above; {role.value} acts as {role.value}"
    assert client.get("/users", headers=as_role(Role.ADMIN)).status_code == 200


def test_every_role_reads_status_history_and_metrics(
    client: TestClient, as_role: Callable[[Role], Headers]
) -> None:
    for role in Role:
        headers = as_role(role)
        for path in ("/status", "/rounds", "/metrics", "/users/me"):
            assert client.get(path, headers=headers).status_code == 200, f"{role} {path}"


@pytest.fixture
def fenced(tmp_path: Path, store_url: str, clock: SimulatedClock) -> FastAPI:
    settings = make_settings(
        tmp_path, store_url, admin_networks=["10.0.0.0/8"], trusted_proxies=["127.0.0.1"]
    )
    return create_app(settings, clock=clock)


@pytest.mark.parametrize(
    ("peer", "forwarded", "allowed"),
    [
        ("127.0.0.1", "10.1.2.3", True),  # the proxy says the client is inside
        ("127.0.0.1", "192.168.1.9", False),  # the proxy says the client is outside
        ("203.0.113.5", "10.1.2.3", False),  # a forwarded address from a peer that is not our proxy
        ("10.9.9.9", None, True),  # straight from inside
    ],
)
def test_admin_routes_answer_only_clients_in_the_allowed_networks(
    fenced: FastAPI, users: dict[Role, UserRow], peer: str, forwarded: str | None, allowed: bool
) -> None:
    with TestClient(fenced, client=(peer, 40000)) as client:
        headers = bearer(login(client, "admin")["access_token"])
        if forwarded:
            headers["X-Forwarded-For"] = forwarded

        admin = client.get("/users", headers=headers)
        viewer_route = client.get("/status", headers=headers)

    assert viewer_route.status_code == 200, "the network policy holds admin routes only"
    if allowed:
        assert admin.status_code == 200
    else:
        assert admin.status_code == 403
        assert admin.json()["detail"].startswith("admin routes are not open to clients at ")


def test_cors_is_closed_unless_origins_are_configured(
    tmp_path: Path, store_url: str, clock: SimulatedClock, client: TestClient
) -> None:
    preflight = {"Origin": "https://console.example", "Access-Control-Request-Method": "GET"}
    closed = client.options("/status", headers=preflight)
    settings = make_settings(tmp_path, store_url, cors_origins=["https://console.example"])
    with TestClient(create_app(settings, clock=clock)) as open_client:
        opened = open_client.options("/status", headers=preflight)

    assert "access-control-allow-origin" not in closed.headers
    assert opened.headers["access-control-allow-origin"] == "https://console.example"
