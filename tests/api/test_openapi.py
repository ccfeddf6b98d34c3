"""The OpenAPI document in docs/api/ is the contract the console is typed from: it must be the app's own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from api.main import create_app, openapi_document
from core.config import load_settings

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.json"
SECRET_COLUMNS = {"password_hash", "token_hash", "password"}


def current(tmp_path: Path) -> str:
    return openapi_document(create_app(load_settings(data_dir=tmp_path)))


def test_the_committed_openapi_document_is_current(tmp_path: Path) -> None:
    assert DOCUMENT.read_text() == current(tmp_path), (
        "docs/api/openapi.json is stale: run `btc-agent api --openapi docs/api/openapi.json`"
    )


def test_no_response_carries_a_secret_column(tmp_path: Path) -> None:
    """Only request bodies (a login, a new user) may hold a password."""
    document: dict[str, Any] = json.loads(current(tmp_path))
    requests = {
        body["schema"]["$ref"].rsplit("/", 1)[-1]
        for path in document["paths"].values()
        for operation in path.values()
        for body in operation.get("requestBody", {}).get("content", {}).values()
        if "$ref" in body["schema"]
    }
    assert "LoginRequest" in requests
    leaks = {
        (name, field)
        for name, schema in document["components"]["schemas"].items()
        if name not in requests
        for field in schema.get("properties", {})
        if field in SECRET_COLUMNS
    }

    assert leaks == set()


def test_docs_api_md_lists_every_operation_once_with_its_role(tmp_path: Path) -> None:
    """docs/api.md is the one-page reference: each operation on its own line, with the role the auth matrix
    enforces (tests/api/test_auth_matrix.py's POLICY)."""
    from core.store.auth import Role
    from tests.api.test_auth_matrix import POLICY, PUBLIC

    page = (DOCUMENT.parents[1] / "api.md").read_text()
    rows = {
        line.split("|")[1].strip().strip("`"): line.split("|")[2].strip()
        for line in page.splitlines()
        if line.startswith("| `")
    }
    paths = json.loads(current(tmp_path))["paths"]
    operations = {f"{method.upper()} {path}" for path, found in paths.items() for method in found}
    assert set(rows) == operations
    for (method, path), role in POLICY.items():
        expected = "none" if role == PUBLIC else Role(role).value
        assert rows[f"{method} {path}"] == expected, f"{method} {path} is for {expected}"
