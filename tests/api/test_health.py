"""Liveness and readiness: /readyz reports each check and is 503 when one fails; a store that is away is a
503 with a reason on every route, never a 500."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.readiness import schema_head
from core.clock import SimulatedClock
from core.store.db import migrate
from tests.api.conftest import PASSWORD, make_settings

DEAD_POSTGRES = "postgresql://postgres@127.0.0.1:1/nothing"
HEAD = schema_head("sqlite://")
"""The newest migration the code has (what a ready store must be at)."""


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def prefect_api() -> Iterator[str]:
    """A stand-in for the Prefect server's health endpoint, on loopback."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


def ready(
    tmp_path: Path, store_url: str, clock: SimulatedClock, prefect_url: str
) -> tuple[int, dict[str, dict[str, str]]]:
    settings = make_settings(tmp_path, store_url, prefect_api_url=prefect_url)
    with TestClient(create_app(settings, clock=clock)) as client:
        answer = client.get("/readyz")
    checks = {check["name"]: check for check in answer.json()["checks"]}
    return answer.status_code, checks


def test_healthz_answers_without_a_token(client: TestClient) -> None:
    answer = client.get("/healthz")

    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


def test_ready_when_the_store_and_prefect_answer(
    tmp_path: Path, store_url: str, clock: SimulatedClock, prefect_api: str
) -> None:
    status, checks = ready(tmp_path, store_url, clock, prefect_api)

    assert status == 200
    assert checks["store"] == {"name": "store", "status": "ok", "detail": f"reachable, schema at {HEAD}"}
    assert checks["prefect"] == {"name": "prefect", "status": "ok", "detail": "reachable"}


def test_a_broken_database_makes_readyz_503_and_says_which_check_failed(
    tmp_path: Path, clock: SimulatedClock, prefect_api: str
) -> None:
    status, checks = ready(tmp_path, DEAD_POSTGRES, clock, prefect_api)

    assert status == 503
    assert checks["store"]["status"] == "failed"
    assert checks["store"]["detail"] == "unreachable (OperationalError)"
    assert checks["prefect"]["status"] == "ok"


def test_an_unreachable_prefect_api_makes_readyz_503(
    tmp_path: Path, sqlite_url: str, clock: SimulatedClock
) -> None:
    status, checks = ready(tmp_path, sqlite_url, clock, closed_port_url())

    assert status == 503
    assert checks["store"]["status"] == "ok"
    assert checks["prefect"]["status"] == "failed"
    assert checks["prefect"]["detail"] == "unreachable (ConnectError)"


def test_a_store_behind_the_code_s_schema_is_not_ready(
    tmp_path: Path, clock: SimulatedClock, prefect_api: str
) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    migrate(url, "0002")

    status, checks = ready(tmp_path, url, clock, prefect_api)

    assert status == 503
    assert checks["store"]["detail"] == f"schema at 0002, this API needs {HEAD}: run `btc-agent db upgrade`"


def test_with_the_store_away_every_route_answers_503_with_a_reason(
    tmp_path: Path, clock: SimulatedClock
) -> None:
    settings = make_settings(tmp_path, DEAD_POSTGRES)
    with TestClient(create_app(settings, clock=clock)) as client:
        login = client.post("/auth/login", json={"username": "admin", "password": PASSWORD})
        rounds = client.get("/rounds", headers={"Authorization": "Bearer bta_x"})

    for answer in (login, rounds):
        assert answer.status_code == 503
        assert answer.json()["detail"] == "the store is unavailable (OperationalError); see GET /readyz"
