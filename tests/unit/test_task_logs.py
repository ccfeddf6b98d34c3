"""The core's warnings reach the round's run log for the round's length, and nothing else does."""

from __future__ import annotations

import logging

import pytest

from tasks.logs import core_warnings_to


def test_core_warnings_reach_the_run_log_only_while_the_round_runs(caplog: pytest.LogCaptureFixture) -> None:
    run_log = logging.getLogger("test.run-log")
    feed = logging.getLogger("core.adapters.polymarket.feed")
    with caplog.at_level(logging.INFO):
        feed.warning("before the round")
        with core_warnings_to(run_log):
            feed.info("feed market: reconnecting in 0.100 s")
            feed.warning("feed market: connection lost (closed 1006); reconnecting")
            logging.getLogger("elsewhere").warning("not the core's")
        feed.warning("after the round")
    relayed = [r.getMessage() for r in caplog.records if r.name == "test.run-log"]
    assert relayed == ["feed market: connection lost (closed 1006); reconnecting"]
    assert caplog.records[-1].name == "core.adapters.polymarket.feed"
