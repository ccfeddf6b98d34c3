"""The console in Chromium against the real API, with paper rounds running on the simulated venue: what an
operator sees and does. Each page is saved as a screenshot under test-output/console/ and must show real
content. The kill switch test comes last: it halts the rounds for good."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from core.store.auth import Role
from core.store.db import make_engine
from core.store.models import OrderRow, RiskEventRow
from tests.e2e.conftest import Stack, shoot

PAGES = ["/", "/rounds", "/decisions", "/orders", "/risk", "/audit", "/backtests", "/settings"]


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout_s:.0f} s")


def phase(stack: Stack) -> str:
    """The running round's own phase (`active` while it trades), or `none` when no round of ours runs."""
    live = stack.api("GET", "/status", Role.VIEWER).json()["live"]
    return str(live["phase"]) if live else "none"


def test_a_viewer_sees_the_live_round_update_within_seconds(
    stack: Stack, as_user: Callable[[Role], Any]
) -> None:
    wait_until(lambda: phase(stack) == "active", 90, "a round of ours is active")
    page = as_user(Role.VIEWER)
    page.wait_for_selector("[data-testid=round-slug]")
    slug = page.inner_text("[data-testid=round-slug]")
    assert slug.startswith("btc-updown-30s-")
    received = page.locator("[data-testid=events-received]")
    first = int(received.inner_text() or 0)
    shoot(page, "overview-viewer-first")
    try:
        wait_until(lambda: int(received.inner_text() or 0) > first + 2, 15, "the overview takes live events")
    except AssertionError as exc:
        indicator = page.inner_text("[data-testid=live-indicator]")
        raise AssertionError(f"{exc}: {first} -> {received.inner_text()}, indicator {indicator!r}") from None
    feeds = page.locator("[data-testid^=feed-]")
    assert feeds.count() >= 2, "every feed has its card"
    assert {feeds.nth(i).get_attribute("data-stale") for i in range(feeds.count())} <= {"true", "false"}
    assert "off" in page.inner_text("[data-testid=kill-switch-state]")
    assert page.inner_text("[data-testid=live-indicator]").strip()
    shoot(page, "overview-viewer")


def test_every_page_shows_content_to_an_admin(stack: Stack, as_user: Callable[[Role], Any]) -> None:
    page = as_user(Role.ADMIN)
    for path in PAGES:
        page.goto(f"{stack.console_url}{path}")
        page.wait_for_load_state("load")
        page.wait_for_timeout(1_000)  # the page's first data (the overview keeps a stream open: never idle)
        text = page.inner_text("main") if page.locator("main").count() else page.inner_text("body")
        assert len(text.strip()) > 40, f"{path} is (nearly) blank: {text[:200]!r}"
        assert "Application error" not in text, f"{path}: {text[:300]}"
        shoot(page, f"page{path.replace('/', '-') or '-overview'}" if path != "/" else "page-overview")


def test_a_round_page_draws_the_round_s_chart(stack: Stack, as_user: Callable[[Role], Any]) -> None:
    wait_until(lambda: any(o.status == "settled" for o in stack.rounds.outcomes), 90, "a round settled")
    page = as_user(Role.VIEWER)
    page.goto(f"{stack.console_url}/rounds")
    settled = next(o.slug for o in stack.rounds.outcomes if o.status == "settled")
    page.click(f"a[href='/rounds/{settled}']")
    page.wait_for_url(f"**/rounds/{settled}")
    chart = page.locator("[data-testid=round-chart]")
    chart.locator("canvas").first.wait_for(timeout=15_000)  # drawn in the browser, after hydration
    assert settled in page.inner_text("body")
    shoot(page, "round")


def test_an_expired_session_returns_to_the_login_and_then_back(
    stack: Stack, as_user: Callable[[Role], Any]
) -> None:
    page = as_user(Role.VIEWER)
    page.context.clear_cookies()
    page.goto(f"{stack.console_url}/decisions")
    page.wait_for_url("**/login**")
    page.fill("input[name=username]", "viewer")
    page.fill("input[name=password]", "console tests only 0123456789")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/decisions")


def test_a_viewer_cannot_touch_the_kill_switch(stack: Stack, as_user: Callable[[Role], Any]) -> None:
    page = as_user(Role.VIEWER)
    page.goto(f"{stack.console_url}/settings")
    page.wait_for_load_state("networkidle")
    buttons = page.get_by_role("button", name="Engage kill switch")
    assert buttons.count() == 0 or buttons.first.is_disabled(), "a viewer has no kill switch to press"
    shoot(page, "settings-viewer")


def test_an_analyst_starts_a_backtest_and_sees_it_finish(
    stack: Stack, as_user: Callable[[Role], Any]
) -> None:
    page = as_user(Role.ANALYST)
    page.goto(f"{stack.console_url}/backtests")
    page.fill("input[name=start]", "2025-12-10T00:00")
    page.fill("input[name=end]", "2025-12-10T01:00")
    page.get_by_role("button", name="Start backtest").click()
    state = page.locator("[data-testid=backtest-state]")
    state.wait_for(timeout=30_000)
    wait_until(
        lambda: state.inner_text().strip() in ("Completed", "Failed", "Crashed"), 240, "the backtest ends"
    )
    assert state.inner_text().strip() == "Completed"
    shoot(page, "backtest-finished")


def test_an_admin_presses_the_kill_switch_and_trading_stops(
    stack: Stack, as_user: Callable[[Role], Any]
) -> None:
    page = as_user(Role.ADMIN)
    page.goto(f"{stack.console_url}/settings")
    wait_until(lambda: phase(stack) == "active", 90, "a round of ours is active")
    page.get_by_role("button", name="Engage kill switch").click()
    page.fill("input[name=reason]", "console test")
    pressed = datetime.now().astimezone()
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_selector("[data-testid=kill-switch-result]")
    page.goto(f"{stack.console_url}/")
    page.wait_for_selector("[data-testid=kill-switch-state]")
    wait_until(
        lambda: "engaged" in page.inner_text("[data-testid=kill-switch-state]"), 15, "the switch shows"
    )
    time.sleep(3)
    store = make_engine(stack.settings.resolved_database_url)
    with Session(store) as session:
        later = session.exec(select(OrderRow).where(col(OrderRow.ts) > pressed)).all()
        halts = session.exec(select(RiskEventRow).where(col(RiskEventRow.kind) == "trip")).all()
    store.dispose()
    late = [o for o in later if (o.ts - pressed).total_seconds() > 1]
    assert late == [], "no order a second after the press"
    assert any("console test" in h.message for h in halts), "the running round halted"
    shoot(page, "overview-halted")
    assert stack.rounds.errors == []
