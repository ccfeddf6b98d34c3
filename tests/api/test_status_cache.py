"""GET /status is computed at most once a second for every caller, except that the kill switch shows at once
when it changes through the API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from core.clock import SimulatedClock
from core.store.auth import Role, UserRow
from tests.api.conftest import Headers, make_settings
from tests.api.history_rows import insert
from tests.support.rows import decision


def test_status_is_computed_once_a_second_and_the_kill_switch_clears_it(
    tmp_path: Path,
    *,
    store_url: str,
    store: Engine,
    clock: SimulatedClock,
    users: dict[Role, UserRow],
    as_role: Callable[[Role], Headers],
) -> None:
    settings = make_settings(tmp_path, store_url, status_cache_seconds=1.0)
    viewer, operator = as_role(Role.VIEWER), as_role(Role.OPERATOR)
    with TestClient(create_app(settings, clock=clock)) as client:
        first = client.get("/status", headers=viewer).json()
        insert(store, [decision(run_id="paper", ts=clock.now())])
        clock.advance(500)
        cached = client.get("/status", headers=as_role(Role.ADMIN)).json()
        clock.advance(500)
        fresh = client.get("/status", headers=viewer).json()
        engaged = client.post(
            "/kill-switch", headers=operator, json={"engaged": True, "reason": "cache test"}
        )
        after_kill = client.get("/status", headers=viewer).json()

    assert first["latest_decision"] is None
    assert cached == first, "within the second, every caller gets the same answer"
    assert fresh["latest_decision"] is not None, "a second later, computed again"
    assert engaged.status_code == 200
    assert after_kill["kill_switch"]["engaged"] is True, "the switch shows at once"
