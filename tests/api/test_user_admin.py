"""Admins add, change and disable users through the API; a lowered role or a disabled user counts at once for
sessions and API tokens alike; the last admin stays; every change is an operator action."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.store.auth import ApiTokenRow, Role
from core.store.models import OperatorActionRow
from tests.api.conftest import PASSWORD, Headers, bearer, login

Roles = Callable[[Role], Headers]


def test_an_admin_adds_a_user_who_can_then_log_in(client: TestClient, as_role: Roles, store: Engine) -> None:
    answer = client.post(
        "/users", headers=as_role(Role.ADMIN), json={"name": "carol", "role": "analyst", "password": PASSWORD}
    )

    assert answer.status_code == 201, answer.text
    assert answer.json()["role"] == "analyst"
    assert "password" not in answer.text
    assert login(client, "carol")["access_token"]
    with Session(store) as session:
        action = session.exec(select(OperatorActionRow)).one()
    assert (action.actor, action.action, action.target) == ("admin", "user_add", "carol")
    assert action.details["after"] == {"role": "analyst", "active": True}


def test_a_taken_name_a_short_password_and_an_unknown_role_are_refused(
    client: TestClient, as_role: Roles
) -> None:
    admin = as_role(Role.ADMIN)
    taken = client.post(
        "/users", headers=admin, json={"name": "viewer", "role": "viewer", "password": PASSWORD}
    )
    assert taken.status_code == 409
    assert taken.json()["detail"] == "user 'viewer' exists already"
    short = client.post(
        "/users", headers=admin, json={"name": "dave", "role": "viewer", "password": "hunter2"}
    )
    assert short.status_code == 422
    assert "password" in short.text
    odd = client.post("/users", headers=admin, json={"name": "dave", "role": "root", "password": PASSWORD})
    assert odd.status_code == 422
    assert (
        client.post(
            "/users",
            headers=as_role(Role.OPERATOR),
            json={"name": "eve", "role": "admin", "password": PASSWORD},
        ).status_code
        == 403
    )


def test_a_lowered_role_counts_at_once_for_sessions_and_api_tokens(
    client: TestClient, as_role: Roles, store: Engine
) -> None:
    operator = as_role(Role.OPERATOR)
    made = client.post("/auth/tokens", headers=as_role(Role.ADMIN), json={"name": "ops-bot", "role": "admin"})
    assert made.status_code == 201, made.text
    kill = {"engaged": False, "reason": "just checking"}
    assert client.post("/kill-switch", headers=operator, json=kill).status_code == 200

    lowered = client.patch(
        "/users/operator", headers=as_role(Role.ADMIN), json={"role": "viewer", "reason": "moved teams"}
    )

    assert lowered.status_code == 200, lowered.text
    refused = client.post("/kill-switch", headers=operator, json=kill)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "needs role operator or above; operator acts as viewer"
    assert client.get("/status", headers=operator).status_code == 200
    with Session(store) as session:
        action = session.exec(
            select(OperatorActionRow).where(col(OperatorActionRow.action) == "user_update")
        ).one()
    assert (action.details["before"]["role"], action.details["after"]["role"]) == ("operator", "viewer")


def test_a_disabled_user_is_refused_at_once_and_their_tokens_are_revoked(
    client: TestClient, as_role: Roles, store: Engine
) -> None:
    analyst = as_role(Role.ANALYST)
    token = client.post("/auth/tokens", headers=as_role(Role.ADMIN), json={"name": "ci"}).json()["token"]
    client.patch("/users/admin", headers=as_role(Role.ADMIN), json={"role": "admin", "reason": "noop"})

    disabled = client.patch(
        "/users/analyst", headers=as_role(Role.ADMIN), json={"active": False, "reason": "left the team"}
    )

    assert disabled.status_code == 200, disabled.text
    answer = client.get("/status", headers=analyst)
    assert answer.status_code == 403
    assert answer.json()["detail"] == "user analyst is disabled"
    assert client.get("/status", headers=bearer(token)).status_code == 200, "the admin's token is untouched"
    with Session(store) as session:
        assert all(t.revoked_at is None for t in session.exec(select(ApiTokenRow)).all())


def test_the_last_admin_cannot_be_demoted_or_disabled(client: TestClient, as_role: Roles) -> None:
    admin = as_role(Role.ADMIN)
    for change in ({"role": "operator"}, {"active": False}):
        answer = client.patch("/users/admin", headers=admin, json={**change, "reason": "oops"})
        assert answer.status_code == 409
        assert answer.json()["detail"] == "admin is the last active admin: make another admin first"
    assert (
        client.patch("/users/nobody", headers=admin, json={"active": False, "reason": "x" * 3}).status_code
        == 404
    )


def test_an_api_token_says_when_it_was_last_used(client: TestClient, as_role: Roles) -> None:
    admin = as_role(Role.ADMIN)
    made = client.post("/auth/tokens", headers=admin, json={"name": "grafana"}).json()
    assert made["last_used_at"] is None

    client.get("/status", headers=bearer(made["token"]))

    (listed,) = client.get("/auth/tokens", headers=admin).json()["data"]
    assert listed["last_used_at"] is not None
