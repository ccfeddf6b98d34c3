"""`python -m bench.settlement`: on the team's real data, and on small folders laid out like it."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.settlement import main
from tests.support.shared_data import SHARED_DATA

OPEN = datetime(2026, 2, 21, 14, 30, tzinfo=UTC)
OPEN_S = int(OPEN.timestamp())


def table_row(output: str, day: str) -> list[str]:
    """The cells of the summary row of `day` (markets, resolved, agreed, disagreed, unsettled, agreement)."""
    rows = [line.split() for line in output.splitlines() if line.split()[:1] == [day]]
    assert len(rows) == 1, output
    return rows[0][1:]


@pytest.mark.skipif(
    not (SHARED_DATA / "chainlink_btc_1s_2026-06-08").is_dir(),
    reason=f"real data folder {SHARED_DATA} is absent (only on the team's machines; set BTC_AGENT_SHARED_DATA)",
)
def test_the_bench_agrees_on_every_round_it_decides_on_the_real_data(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--data", str(SHARED_DATA)]) == 0
    output = capsys.readouterr().out
    assert table_row(output, "chainlink_btc_1s_2026-06-08") == ["292", "292", "285", "0", "7", "100.0%"]
    # on-chain rounds of another week: nothing to decide on, and the bench says so rather than guess
    assert table_row(output, "shineo_btc_week_2026-02") == ["673", "671", "0", "0", "671", "-"]
    assert "DISAGREED" not in output
    assert "undecidable rounds of chainlink_btc_1s_2026-06-08: 7" in output
    assert "btc-updown-5m-1780930200 (2026-06-08 14:50 UTC, venue up): close: stale_report" in output
    assert "undecidable rounds of shineo_btc_week_2026-02: 673" in output


def write_week(folder: Path, outcomes: list[str], reports_until_s: int) -> None:
    """A folder laid out like shineo_btc_week_2026-02: rounds from OPEN, a report every 5 s from 10 s
    before the first round's open to `reports_until_s`, the price rising 1 each report in the first round
    and falling after it."""
    folder.mkdir()
    rows = ["timestamp,slug,yes_price,clob_token_id"]
    for i, yes in enumerate(outcomes):
        open_s = OPEN_S + 900 * i
        stamp = datetime.fromtimestamp(open_s, UTC).isoformat(sep=" ")
        rows.append(f"{stamp},btc-updown-15m-{open_s},{yes},{i}")
    (folder / "polymarket_btc_15m.csv").write_text("\n".join(rows) + "\n")
    reports = ["recv_ns,block_number,block_timestamp_s,updated_at_s,price_usd,round_id,symbol"]
    peak_s = OPEN_S + 900
    for n, at_s in enumerate(range(OPEN_S - 10, reports_until_s, 5)):
        price = 60_000 + (at_s - OPEN_S) / 5 if at_s <= peak_s else 60_180 - (at_s - peak_s) / 5
        reports.append(f"{at_s * 10**9},{n},{at_s},{at_s},{price:.2f},{n},BTC")
    (folder / "chainlink_updates_btc.csv").write_text("\n".join(reports) + "\n")


def test_the_bench_scores_any_folder_laid_out_like_the_shared_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # round 1 rises (Up), round 2 falls (Down); the reports end at round 3's open: it and round 4 are undecidable
    write_week(tmp_path / "week", ["1.0", "0.0", "1.0", "0.5"], reports_until_s=OPEN_S + 1800 + 10)
    (tmp_path / "no_markets_here").mkdir()
    assert main(["--data", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert table_row(output, "week") == ["4", "3", "2", "0", "1", "100.0%"]
    assert "undecidable rounds of week: 2" in output
    assert (
        f"btc-updown-15m-{OPEN_S + 1800} (2026-02-21 15:00 UTC, venue up): "
        "close: stale_report (the report in effect is 895 s old)\n"
    ) in output
    assert (
        f"btc-updown-15m-{OPEN_S + 2700} (2026-02-21 15:15 UTC, venue unresolved): open: stale_report"
        in output
    )


def test_a_disagreement_is_named_and_fails_the_bench(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_week(tmp_path / "week", ["1.0", "1.0"], reports_until_s=OPEN_S + 1800 + 10)
    assert main(["--data", str(tmp_path)]) == 1
    output = capsys.readouterr().out
    assert table_row(output, "week") == ["2", "2", "1", "1", "0", "50.0%"]
    assert f"DISAGREED week btc-updown-15m-{OPEN_S + 900}: ours down, venue up" in output


def test_a_folder_without_resolved_markets_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--data", str(tmp_path)])
    assert refused.value.code == 2
