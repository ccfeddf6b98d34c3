"""Shared fixtures: databases. Every test run works in databases of its own, so runs never see each other.

PostgreSQL tests use the server at BTC_AGENT_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test).
With CI=true they are required and a missing server fails the run; elsewhere they skip and say why.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from core.store.db import migrate

POSTGRES_URL = os.environ.get("BTC_AGENT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
RUN_TAG = f"btcagent_{os.getpid()}_{secrets.token_hex(3)}"


def _postgres_problem() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable ({str(exc).strip().splitlines()[0]})"


_PROBLEM = _postgres_problem()


def pytest_report_header() -> str:
    if _PROBLEM is None:
        return f"postgres: {POSTGRES_URL} reachable, tests use databases named {RUN_TAG}_*"
    verdict = (
        "REQUIRED (CI=true): PostgreSQL tests will fail" if IN_CI else "PostgreSQL tests will be skipped"
    )
    return f"postgres: {_PROBLEM}; {verdict}"


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(POSTGRES_URL, autocommit=True)


def database_url(name: str) -> str:
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the server; skips (or fails, in CI) when there is none."""
    if _PROBLEM is not None:
        if IN_CI:
            pytest.fail(f"{_PROBLEM}: CI requires the PostgreSQL tests to run", pytrace=False)
        pytest.skip(f"{_PROBLEM}; set BTC_AGENT_TEST_POSTGRES or start PostgreSQL to run these tests")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    """A migrated database that each test's database is cloned from (cheaper than migrating each time)."""
    name = f"{RUN_TAG}_template"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    migrate(database_url(name))
    yield name
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test alone, dropped afterwards."""
    name = f"{RUN_TAG}_{secrets.token_hex(4)}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield database_url(name)
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, migrated SQLite database file for this test alone."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    migrate(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """The same test against both back ends."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))
