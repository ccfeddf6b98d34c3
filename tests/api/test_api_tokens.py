"""API tokens: made by an admin from a login, shown once, stored as a digest, acting with at most their
owner's role, and refused once revoked or expired."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import SimulatedClock
from core.store.auth import ApiTokenRow, Role, UserRow
from tests.api.conftest import Headers, bearer


def make_token(client: TestClient, headers: Headers, **body: object) -> dict[str, object]:
    answer = client.post("/auth/tokens", headers=headers, json={"name": "prometheus", **body})
    assert answer.status_code == 201, answer.text
    made: dict[str, object] = answer.json()
    return made


def test_an_api_token_is_shown_once_and_authenticates_with_its_role(
    client: TestClient, as_role: Callable[[Role], Headers], store: Engine
) -> None:
    admin = as_role(Role.ADMIN)
    made = make_token(client, admin, role="viewer")
    token = str(made["token"])

    assert token.startswith("bta_")
    assert made["prefix"] == token[:10]
    me = client.get("/users/me", headers=bearer(token)).json()
    assert (me["name"], me["role"], me["acting_role"], me["via"]) == ("admin", "admin", "viewer", "api_token")
    assert client.get("/metrics", headers=bearer(token)).status_code == 200
    refused = client.get("/users", headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "needs role admin or above; admin acts as viewer"
    listed = client.get("/auth/tokens", headers=admin)
    assert listed.json()["count"] == 1
    assert token not in listed.text
    with Session(store) as session:
        stored = session.exec(select(ApiTokenRow)).one()
    assert token not in stored.model_dump_json()


def test_a_revoked_token_stops_at_once(client: TestClient, as_role: Callable[[Role], Headers]) -> None:
    admin = as_role(Role.ADMIN)
    made = make_token(client, admin)

    revoked = client.delete(f"/auth/tokens/{made['id']}", headers=admin)

    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    answer = client.get("/status", headers=bearer(made["token"]))
    assert answer.status_code == 401
    assert answer.json()["detail"] == "API token prometheus was revoked"
    assert client.delete("/auth/tokens/no-such-token", headers=admin).status_code == 404


def test_a_token_expires_on_its_day(
    client: TestClient, as_role: Callable[[Role], Headers], clock: SimulatedClock
) -> None:
    made = make_token(client, as_role(Role.ADMIN), expires_in_days=1)
    assert client.get("/status", headers=bearer(made["token"])).status_code == 200

    clock.advance(86400 * 1000)

    answer = client.get("/status", headers=bearer(made["token"]))
    assert answer.status_code == 401
    assert answer.json()["detail"] == "API token prometheus expired"


def test_a_token_follows_its_owner_down(
    client: TestClient, as_role: Callable[[Role], Headers], users: dict[Role, UserRow], store: Engine
) -> None:
    made = make_token(client, as_role(Role.ADMIN), role="admin")
    with Session(store) as session:
        owner = session.get(UserRow, users[Role.ADMIN].id)
        assert owner is not None
        owner.role = Role.ANALYST.value
        session.add(owner)
        session.commit()

    me = client.get("/users/me", headers=bearer(made["token"])).json()

    assert me["acting_role"] == "analyst"
    assert client.get("/users", headers=bearer(made["token"])).status_code == 403


def test_an_api_token_cannot_make_tokens(client: TestClient, as_role: Callable[[Role], Headers]) -> None:
    made = make_token(client, as_role(Role.ADMIN), role="admin")

    answer = client.post("/auth/tokens", headers=bearer(made["token"]), json={"name": "another"})

    assert answer.status_code == 403
    assert answer.json()["detail"] == "API tokens are made from a login session, not from another API token"


def test_unknown_tokens_and_bad_requests_are_refused_with_reasons(
    client: TestClient, as_role: Callable[[Role], Headers]
) -> None:
    admin = as_role(Role.ADMIN)

    unknown = client.get("/status", headers=bearer("bta_not-a-real-token"))
    bad_role = client.post("/auth/tokens", headers=admin, json={"name": "x", "role": "root"})
    too_long = client.post("/auth/tokens", headers=admin, json={"name": "x", "expires_in_days": 4000})
    bad_name = client.post("/auth/tokens", headers=admin, json={"name": "has spaces"})

    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "unknown API token"
    assert bad_role.status_code == 422
    assert bad_role.json()["detail"][0]["loc"] == ["body", "role"]
    assert too_long.status_code == 422
    assert too_long.json()["detail"] == [
        {"type": "value_error", "loc": ["body", "expires_in_days"], "msg": "at most 365", "input": None}
    ]
    assert bad_name.status_code == 422
    assert bad_name.json()["detail"][0]["loc"] == ["body", "name"]
