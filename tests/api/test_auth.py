"""Logins, access tokens, refresh tokens and the signing key: every refusal is a 401 or 403 with its reason."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.security import SigningKey, SigningKeyError, create_access_token, load_or_create_key
from core.clock import SimulatedClock
from core.config import SettingsError, load_settings
from core.store.auth import RefreshTokenRow, Role, UserRow
from tests.api.conftest import BOTH, NOW, PASSWORD, SECRET, bearer, login, sqlite_unless_asked


@pytest.fixture
def store_url(request: pytest.FixtureRequest) -> str:
    return sqlite_unless_asked(request)


def test_login_gives_an_access_token_that_identifies_the_user(
    client: TestClient, users: dict[Role, UserRow]
) -> None:
    pair = login(client, "operator")

    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 15 * 60
    assert pair["refresh_expires_in"] == 7 * 86400
    me = client.get("/users/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.json()["name"] == "operator"
    assert me.json()["role"] == me.json()["acting_role"] == "operator"
    assert "password_hash" not in me.text


def test_a_wrong_password_is_refused_with_401_and_a_reason(
    client: TestClient, users: dict[Role, UserRow]
) -> None:
    answer = client.post("/auth/login", json={"username": "admin", "password": PASSWORD + "!"})

    assert answer.status_code == 401
    assert answer.json() == {"detail": "wrong user name or password"}
    assert answer.headers["www-authenticate"] == "Bearer"


def test_an_unknown_user_gets_the_answer_a_wrong_password_gets(
    client: TestClient, users: dict[Role, UserRow]
) -> None:
    unknown = client.post("/auth/login", json={"username": "mallory", "password": PASSWORD})
    wrong = client.post("/auth/login", json={"username": "admin", "password": "not the password"})

    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_a_disabled_user_cannot_log_in_and_their_tokens_stop_at_once(
    client: TestClient, users: dict[Role, UserRow], store: Engine
) -> None:
    token = login(client, "analyst")["access_token"]
    with Session(store) as session:
        user = session.get(UserRow, users[Role.ANALYST].id)
        assert user is not None
        user.active = False
        session.add(user)
        session.commit()

    refused = client.post("/auth/login", json={"username": "analyst", "password": PASSWORD})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "user analyst is disabled"
    assert client.get("/status", headers=bearer(token)).status_code == 403


@pytest.mark.parametrize("store_url", BOTH, indirect=True)
def test_a_lowered_role_counts_at_once_for_tokens_already_issued(
    client: TestClient, users: dict[Role, UserRow], store: Engine
) -> None:
    headers = bearer(login(client, "admin")["access_token"])
    assert client.get("/users", headers=headers).status_code == 200
    with Session(store) as session:
        user = session.get(UserRow, users[Role.ADMIN].id)
        assert user is not None
        user.role = Role.VIEWER.value
        session.add(user)
        session.commit()

    answer = client.get("/users", headers=headers)

    assert answer.status_code == 403
    assert answer.json()["detail"] == "needs role admin or above; admin acts as viewer"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD}, "username"),
        ({"username": "admin"}, "password"),
        ({"username": "", "password": PASSWORD}, "username"),
        ({"username": "admin", "password": "x" * 129}, "password"),
        ({"username": "admin", "password": PASSWORD, "role": "admin"}, "role"),
    ],
)
def test_a_malformed_login_is_a_422_naming_the_field(
    client: TestClient, users: dict[Role, UserRow], body: dict[str, str], field: str
) -> None:
    answer = client.post("/auth/login", json=body)

    assert answer.status_code == 422
    errors = answer.json()["detail"]
    assert [error["loc"][-1] for error in errors] == [field]
    assert all(error["msg"] for error in errors)


def test_without_a_token_a_protected_route_is_401_and_says_how_to_authenticate(client: TestClient) -> None:
    answer = client.get("/status")

    assert answer.status_code == 401
    assert answer.json()["detail"] == "not authenticated: send Authorization: Bearer <token>"
    assert answer.headers["www-authenticate"] == "Bearer"


def test_an_expired_access_token_is_refused_and_points_to_refresh(
    client: TestClient, users: dict[Role, UserRow]
) -> None:
    user_id = users[Role.ADMIN].id
    expired = create_access_token(
        user_id, SECRET, now=NOW - timedelta(hours=1), lifetime=timedelta(minutes=15)
    )
    still_valid = create_access_token(
        user_id, SECRET, now=NOW - timedelta(minutes=14), lifetime=timedelta(minutes=15)
    )

    answer = client.get("/status", headers=bearer(expired))

    assert answer.status_code == 401
    assert answer.json()["detail"] == "access token expired: get a new one at POST /auth/refresh"
    assert client.get("/status", headers=bearer(still_valid)).status_code == 200


def test_a_token_expires_on_the_api_s_clock(
    client: TestClient, users: dict[Role, UserRow], clock: SimulatedClock
) -> None:
    headers = bearer(login(client, "viewer")["access_token"])
    assert client.get("/status", headers=headers).status_code == 200

    clock.advance(15 * 60 * 1000)

    assert client.get("/status", headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (
            jwt.encode({"sub": "x", "typ": "access", "iat": 1, "exp": 2**40}, "another key" * 4),
            "not signed by this API",
        ),
        ("not-a-jwt", "malformed access token"),
        (jwt.encode({"sub": "x", "typ": "refresh", "iat": 1, "exp": 2**40}, SECRET), "not an access token"),
        (jwt.encode({"sub": "x", "iat": 1}, SECRET), "malformed access token"),
        (
            jwt.encode({"sub": "x", "typ": "access", "iat": 1, "exp": 2**40}, SECRET * 2, algorithm="HS512"),
            "malformed",
        ),
    ],
)
def test_a_token_this_api_did_not_issue_is_refused_with_the_reason(
    client: TestClient, users: dict[Role, UserRow], token: str, reason: str
) -> None:
    answer = client.get("/status", headers=bearer(token))

    assert answer.status_code == 401
    assert reason in answer.json()["detail"]


def test_a_token_of_a_user_that_no_longer_exists_is_refused(
    client: TestClient, users: dict[Role, UserRow]
) -> None:
    ghost = create_access_token("no-such-user", SECRET, now=NOW, lifetime=timedelta(minutes=5))

    answer = client.get("/status", headers=bearer(ghost))

    assert answer.status_code == 401
    assert answer.json()["detail"] == "the token's user no longer exists"


def test_refresh_rotates_the_pair_and_the_old_refresh_token_is_spent(
    client: TestClient, users: dict[Role, UserRow]
) -> None:
    first = login(client, "viewer")

    second = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})

    assert second.status_code == 200
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert client.get("/users/me", headers=bearer(pair["access_token"])).json()["name"] == "viewer"
    third = client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert third.status_code == 200


@pytest.mark.parametrize("store_url", BOTH, indirect=True)
def test_a_refresh_token_used_twice_revokes_the_whole_login(
    client: TestClient, users: dict[Role, UserRow], store: Engine
) -> None:
    first = login(client, "viewer")
    second = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]}).json()

    replay = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})

    assert replay.status_code == 401
    assert "used twice" in replay.json()["detail"]
    revoked = client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert revoked.status_code == 401
    assert revoked.json()["detail"] == "refresh token revoked: log in again"
    other_login = login(client, "viewer")
    assert (
        client.post("/auth/refresh", json={"refresh_token": other_login["refresh_token"]}).status_code == 200
    )


def test_refresh_tokens_expire_and_unknown_ones_are_refused(
    client: TestClient, users: dict[Role, UserRow], clock: SimulatedClock
) -> None:
    pair = login(client, "viewer")

    unknown = client.post("/auth/refresh", json={"refresh_token": "btr_forged"})
    clock.advance(7 * 86400 * 1000)
    expired = client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})

    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "unknown refresh token: log in again"
    assert expired.status_code == 401
    assert expired.json()["detail"] == "refresh token expired: log in again"


def test_logout_ends_the_login(client: TestClient, users: dict[Role, UserRow]) -> None:
    pair = login(client, "viewer")

    assert client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 200

    assert client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401


def test_the_store_keeps_digests_of_refresh_tokens_never_the_tokens(
    client: TestClient, users: dict[Role, UserRow], store: Engine
) -> None:
    token = str(login(client, "viewer")["refresh_token"])

    with Session(store) as session:
        rows = session.exec(select(RefreshTokenRow)).all()

    assert len(rows) == 1
    assert token not in rows[0].model_dump_json()


# --- the signing key -----------------------------------------------------------------------------------


def test_without_a_configured_secret_a_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)

    first = SigningKey(settings).get()
    second = SigningKey(settings).get()

    assert first == second
    assert len(first) >= 32
    path = tmp_path / "api" / "jwt_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["jwt_secret"]


def test_a_configured_secret_shorter_than_32_characters_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="BTC_AGENT_API__JWT_SECRET") as refused:
        load_settings(data_dir=tmp_path, api={"jwt_secret": "short-and-weak"})

    assert "short-and-weak" not in str(refused.value)


def test_a_key_file_others_can_read_or_too_short_is_refused(tmp_path: Path) -> None:
    open_to_all = tmp_path / "open"
    open_to_all.write_text("k" * 40)
    open_to_all.chmod(0o644)
    short = tmp_path / "short"
    short.write_text("k" * 10)
    short.chmod(0o600)

    with pytest.raises(SigningKeyError, match="readable by others"):
        load_or_create_key(open_to_all)
    with pytest.raises(SigningKeyError, match="fewer than 32"):
        load_or_create_key(short)
