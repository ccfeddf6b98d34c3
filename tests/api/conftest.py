"""The real app over a real store: each test gets a fresh database (SQLite, and PostgreSQL where the test
asks for `store_url`), users of every role, and a clock that stands still unless the test moves it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.main import create_app
from api.security import create_access_token, hash_password
from core.clock import SimulatedClock, datetime_to_ms
from core.config import ENV_PREFIX, Settings, load_settings
from core.store.auth import Role, UserRow
from core.store.db import make_engine

PASSWORD = "correct horse battery staple"
SECRET = "a-signing-key-for-tests-only-0123456789abcdef"
NOW = datetime(2026, 5, 10, 18, 42, 30, tzinfo=UTC)
"""30 s into the active window of btc-updown-15m-1778437800 (18:30 to 18:45 UTC)."""

Headers = dict[str, str]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the test alone, never from the shell that runs it."""
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def make_settings(data_dir: Path, store_url: str, **api: object) -> Settings:
    """No /status cache unless a test asks: tests change the store and read it back within one instant."""
    return load_settings(
        data_dir=data_dir,
        database_url=store_url,
        api={"jwt_secret": SECRET, "status_cache_seconds": 0, **api},
    )


@pytest.fixture
def settings(tmp_path: Path, store_url: str) -> Settings:
    return make_settings(tmp_path, store_url)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime_to_ms(NOW))


@pytest.fixture
def app(settings: Settings, clock: SimulatedClock) -> FastAPI:
    return create_app(settings, clock=clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def store(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.resolved_database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def password_hash() -> str:
    """PASSWORD hashed once (argon2 is slow on purpose); every test user shares it."""
    return hash_password(PASSWORD)


@pytest.fixture
def users(store: Engine, password_hash: str) -> dict[Role, UserRow]:
    """One user per role, named after it."""
    made = {}
    with Session(store, expire_on_commit=False) as session:
        for role in Role:
            user = UserRow(
                name=role.value, role=role.value, password_hash=password_hash, created_at=NOW, updated_at=NOW
            )
            session.add(user)
            session.commit()
            session.refresh(user)
            made[role] = user
    return made


def login(client: TestClient, name: str, password: str = PASSWORD) -> dict[str, object]:
    answer = client.post("/auth/login", json={"username": name, "password": password})
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def bearer(token: object) -> Headers:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def as_role(users: dict[Role, UserRow]) -> Callable[[Role], Headers]:
    """Headers with an access token of the user of the role, as a login at NOW issues it (tests of the
    login itself log in; the rest skip the deliberately slow password check)."""
    lifetime = timedelta(minutes=15)
    return lambda role: bearer(create_access_token(users[role].id, SECRET, now=NOW, lifetime=lifetime))


def sqlite_unless_asked(request: pytest.FixtureRequest) -> str:
    """A test module's `store_url` that is SQLite unless a test asks for both back ends with
    `@pytest.mark.parametrize("store_url", BOTH, indirect=True)`: read-heavy modules compare the back ends on
    a few tests and check the rest of their logic once."""
    which = getattr(request, "param", "sqlite")
    return str(request.getfixturevalue("sqlite_url" if which == "sqlite" else "postgres_url"))


BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
