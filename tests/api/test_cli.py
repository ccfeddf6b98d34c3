"""`btc-agent users add` (the only way the first admin comes to be) and `btc-agent api --openapi`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.main import create_app
from core.config import load_settings
from flows.cli import app

PASSWORD = "a long enough password"


@pytest.fixture
def env(tmp_path: Path, sqlite_url: str) -> dict[str, str]:
    return {"BTC_AGENT_DATA_DIR": str(tmp_path), "BTC_AGENT_DATABASE_URL": sqlite_url}


def add(env: dict[str, str], *args: str, stdin: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["users", "add", *args], input=stdin, env=env)
    return result.exit_code, result.output


def can_log_in(env: dict[str, str], name: str, password: str) -> int:
    settings = load_settings(data_dir=env["BTC_AGENT_DATA_DIR"], database_url=env["BTC_AGENT_DATABASE_URL"])
    with TestClient(create_app(settings)) as client:
        return client.post("/auth/login", json={"username": name, "password": password}).status_code


def test_users_add_makes_an_admin_who_can_log_in(env: dict[str, str]) -> None:
    code, output = add(env, "alice", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")

    assert code == 0, output
    assert "user alice added with role admin" in output
    assert can_log_in(env, "alice", PASSWORD) == 200
    assert can_log_in(env, "alice", PASSWORD + "x") == 401


def test_users_add_asks_for_the_password_twice(env: dict[str, str]) -> None:
    code, output = add(env, "bob", stdin=f"{PASSWORD}\n{PASSWORD}\n")

    assert code == 0, output
    assert "user bob added with role viewer" in output
    assert PASSWORD not in output


@pytest.mark.parametrize(
    ("args", "stdin", "reason"),
    [
        (["--password-stdin"], "\n", "the password is empty"),
        (["--password-stdin"], "   \n", "the password is empty"),
        ([], "\n\n", "the password is empty"),
        (["--password-stdin"], "short\n", "fewer than 12 characters"),
        (
            ["--role", "root", "--password-stdin"],
            PASSWORD + "\n",
            "--role 'root': use one of viewer, analyst",
        ),
    ],
)
def test_users_add_refuses_an_empty_or_weak_password_and_an_unknown_role(
    env: dict[str, str], args: list[str], stdin: str, reason: str
) -> None:
    code, output = add(env, "carol", *args, stdin=stdin)

    assert code == 2
    assert reason in output
    assert "added" not in output.replace("not added", "")


def test_users_add_refuses_a_name_taken_or_malformed(env: dict[str, str]) -> None:
    assert add(env, "dave", "--password-stdin", stdin=PASSWORD + "\n")[0] == 0

    taken = add(env, "dave", "--password-stdin", stdin=PASSWORD + "\n")
    malformed = add(env, "dave smith", "--password-stdin", stdin=PASSWORD + "\n")

    assert taken == (1, "user 'dave' exists already\n")
    assert malformed[0] == 2
    assert "letters, digits and . _ @ - only" in malformed[1]


def test_the_installed_command_adds_a_user_from_standard_input(env: dict[str, str]) -> None:
    command = Path(sys.executable).with_name("btc-agent")
    done = subprocess.run(
        [str(command), "users", "add", "erin", "--role", "operator", "--password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "user erin added with role operator" in done.stdout
    assert can_log_in(env, "erin", PASSWORD) == 200


def test_api_openapi_prints_the_document(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["api", "--openapi", "-"], env=env)

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["info"]["title"] == "polymarket-btc-agent API"
