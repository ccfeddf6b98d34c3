"""Backtest runs through the API: a tiny real backtest (generated rounds, a two-variant grid) writes its rows
and its report as the flow does; the API lists it with the report's summary, serves the report's files by
plain name only, and still lists a run known only from the store's rows."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.backtest import SUMMARY_FILE
from core.backtest.report import FIGURES, Report, RunInfo, build_report, write_report
from core.backtest.runner import RoundResult, expand_grid, plan_rounds, run_jobs
from core.clock import ms_to_datetime
from core.config import RiskLimitsSettings, Settings
from core.engine.assembly import EngineRecipe
from core.market.rounds import RoundSchedule
from core.risk.limits import RiskLimits
from core.store.auth import Role
from core.store.models import TABLES, DecisionRecord, table_of
from core.store.writer import insert_rows
from tests.api.conftest import BOTH, Headers, sqlite_unless_asked
from tests.support.engine_runs import START_MS, model_path


@pytest.fixture
def store_url(request: pytest.FixtureRequest) -> str:
    return sqlite_unless_asked(request)


RUN = "backtest-0123abcd"
STORE_ONLY = "backtest-feedbeef"
HOURS = 3
STRATEGIES = ("fair_value", "momentum")
GRID = {"fair_value": {"margin": [0.02, 0.05]}}

Get = Callable[..., Any]


@dataclass(frozen=True)
class Backtest:
    report: Report
    folder: Path
    results: list[RoundResult]
    other: list[RoundResult]
    """Another run's results (variant 0 only), whose report was written elsewhere."""


@pytest.fixture(scope="module")
def backtest(tmp_path_factory: pytest.TempPathFactory) -> Backtest:
    """Rounds generated from a model price path written as a Binance 1m file, both variants of GRID, tagged
    and reported as `backtest_flow` tags and reports them."""
    path = model_path(seed=3, hours=HOURS)
    price_file = tmp_path_factory.mktemp("prices") / "model_1m.csv"
    lines = ["timestamp,open,high,low,close,volume"]
    for minute in range(HOURS * 60):
        price = path.price_at(START_MS + minute * 60_000)
        lines.append(f"{START_MS + minute * 60_000},{price},{price},{price},{price},1")
    price_file.write_text("\n".join(lines) + "\n")
    start, end = ms_to_datetime(START_MS), ms_to_datetime(START_MS + HOURS * 3_600_000)
    jobs, _ = plan_rounds("generated", start, end, price_file=price_file)
    variants = expand_grid(list(STRATEGIES), GRID)
    recipe = EngineRecipe(limits=RiskLimits.from_settings(RiskLimitsSettings()), strategies=STRATEGIES)

    def run(run_id: str, indices: range) -> list[RoundResult]:
        return [
            result
            for index in indices
            for result in run_jobs(
                jobs,
                variants[index],
                recipe,
                run_id=f"{run_id}/v{index}",
                price_file=price_file,
                keep_records=True,
            )
        ]

    results = run(RUN, range(len(variants)))
    info = RunInfo(
        run_id=RUN,
        source="generated",
        start=start,
        end=end,
        data=str(price_file),
        seed=1,
        recipe=recipe,
        variants=variants,
        schedule=RoundSchedule(),
        rounds_planned=len(jobs),
        batch_size=48,
    )
    report = build_report(results, info)
    folder = tmp_path_factory.mktemp("report") / RUN
    write_report(report, folder)
    assert any(r.fills for r in results), "the backtest traded"
    return Backtest(report, folder, results, run(STORE_ONLY, range(1)))


def store_rows(engine: Engine, results: list[RoundResult]) -> None:
    """The results' records into the store, as `backtest_batch` writes them."""
    records = [record for result in results for record in result.records]
    insert_rows(
        engine,
        [(table_of(r), TABLES[table_of(r)].model_validate(r.model_dump()).model_dump()) for r in records],
    )


@pytest.fixture
def ask(client: TestClient, as_role: Callable[[Role], Headers]) -> Get:
    headers = as_role(Role.VIEWER)

    def fetch(path: str, **params: Any) -> Any:
        return client.get(path, headers=headers, params=params)

    return fetch


@pytest.fixture
def get(ask: Get, backtest: Backtest, store: Engine, settings: Settings) -> Get:
    """`ask` as a viewer, with RUN's report in the data directory and its rows in the store, and the rows of
    STORE_ONLY (whose report is elsewhere)."""
    shutil.copytree(backtest.folder, reports(settings) / RUN)
    store_rows(store, backtest.results)
    store_rows(store, backtest.other)
    return ask


def reports(settings: Settings) -> Path:
    return settings.data_dir / "backtests"


def test_the_report_writes_its_summary_as_json_with_exact_money(backtest: Backtest) -> None:
    summary = json.loads((backtest.folder / SUMMARY_FILE).read_text())
    analysis = backtest.report.analysis

    assert summary["run_id"] == RUN
    assert (summary["source"], summary["seed"]) == ("generated", 1)
    assert summary["rounds_planned"] == backtest.report.info.rounds_planned > 0
    assert summary["strategies"] == list(STRATEGIES)
    assert summary["best"] == max(analysis.variants, key=lambda v: v.pnl).tag
    assert [v["run_id"] for v in summary["variants"]] == [f"{RUN}/v0", f"{RUN}/v1"]
    for shown, variant in zip(summary["variants"], analysis.variants, strict=True):
        assert shown["name"] == variant.name
        assert (shown["rounds"], shown["traded"], shown["wins"]) == (
            len(variant.rounds),
            variant.traded,
            variant.wins,
        )
        assert Decimal(shown["pnl"]) == variant.pnl == sum((r.pnl for r in variant.rounds), Decimal(0))
        assert Decimal(shown["fees"]) == variant.fees
        assert {k: Decimal(v) for k, v in shown["per_strategy"].items()} == {
            name: s.pnl for name, s in variant.strategies.items()
        }
    assert summary["settings"]["Run"]["run id"] == RUN
    assert summary["settings"]["Strategies and parameters"]["fair_value.margin"] == "0.02, 0.05 (grid)"


@pytest.mark.parametrize("store_url", BOTH, indirect=True)
def test_runs_are_listed_the_reported_one_first_with_the_reports_figures(
    get: Get, backtest: Backtest
) -> None:
    page = get("/backtests").json()

    assert (page["count"], page["limit"], page["offset"]) == (2, 50, 0)
    assert [run["run_id"] for run in page["data"]] == [RUN, STORE_ONLY]
    run = page["data"][0]
    assert (run["summary_from"], run["summary_problem"], run["source"]) == ("report", None, "generated")
    assert run["title"] == backtest.report.info.title
    assert run["written_at"] is not None
    for shown, variant in zip(run["variants"], backtest.report.analysis.variants, strict=True):
        assert (shown["tag"], shown["name"], shown["traded"]) == (variant.tag, variant.name, variant.traded)
        assert Decimal(shown["pnl"]) == variant.pnl
        assert Decimal(shown["max_drawdown"]) == variant.max_drawdown
        assert shown["stored_rounds"] == len(variant.rounds), "every round's settlement is in the store"
    names = {f["name"]: f for f in run["files"]}
    assert set(names) == {"index.html", SUMMARY_FILE, *(name for name, _, _ in FIGURES)}
    assert names["index.html"]["media_type"] == "text/html; charset=utf-8"
    assert names["equity.png"]["size"] == len(backtest.report.figures["equity.png"])


def test_a_page_of_runs_is_bounded(get: Get) -> None:
    second = get("/backtests", limit=1, offset=1).json()
    beyond = get("/backtests", limit=1, offset=2).json()

    assert [run["run_id"] for run in second["data"]] == [STORE_ONLY]
    assert (second["count"], beyond["count"], beyond["data"]) == (2, 2, [])
    assert get("/backtests", limit=201).status_code == 422
    assert get("/backtests", offset=-1).status_code == 422
    assert get("/backtests", source="tapes").status_code == 422


@pytest.mark.parametrize("store_url", BOTH, indirect=True)
def test_a_run_known_only_from_the_store_is_summed_from_its_settlements(get: Get, backtest: Backtest) -> None:
    detail = get(f"/backtests/{STORE_ONLY}").json()
    settled = backtest.other

    assert (detail["summary_from"], detail["summary_problem"], detail["files"]) == ("store", None, [])
    assert (detail["title"], detail["written_at"], detail["settings"]) == (None, None, {})
    [variant] = detail["variants"]
    assert (variant["run_id"], variant["tag"], variant["name"]) == (f"{STORE_ONLY}/v0", "v0", None)
    assert variant["rounds"] == variant["stored_rounds"] == len(settled)
    assert variant["traded"] == sum(1 for r in settled if r.fills)
    assert Decimal(variant["pnl"]) == sum((r.pnl for r in settled), Decimal(0))
    assert Decimal(variant["fees"]) == sum((r.fees for r in settled), Decimal(0))
    split: dict[str, Decimal] = {}
    for result in settled:
        for name, value in result.per_strategy.items():
            split[name] = split.get(name, Decimal(0)) + value
    assert {k: Decimal(v) for k, v in variant["per_strategy"].items()} == split


def test_a_runs_detail_states_what_ran_and_its_variants_lead_to_their_rows(
    get: Get, backtest: Backtest
) -> None:
    detail = get(f"/backtests/{RUN}").json()
    v1 = f"{RUN}/v1"
    decisions = get("/decisions", run_id=v1, limit=200).json()
    recorded = [
        r
        for result in backtest.results
        for r in result.records
        if isinstance(r, DecisionRecord) and r.run_id == v1
    ]

    assert detail["data_source"] == backtest.report.info.data
    assert detail["strategies"] == list(STRATEGIES)
    assert detail["rounds_missing"] == 0
    assert detail["settings"]["Variants"] == {"v0": "fair_value.margin=0.02", "v1": "fair_value.margin=0.05"}
    assert [v["run_id"] for v in detail["variants"]] == [f"{RUN}/v0", v1]
    assert decisions["count"] == len(recorded) > 0
    assert get("/decisions").json()["count"] == 0, "the agent's own history holds no backtest rows"


def test_a_report_written_before_reports_had_a_summary_is_listed_with_the_reason(
    get: Get, settings: Settings
) -> None:
    old = reports(settings) / "backtest-0ld0"
    old.mkdir()
    (old / "index.html").write_text("<!doctype html>")
    broken = reports(settings) / "backtest-b0rken"
    broken.mkdir()
    (broken / SUMMARY_FILE).write_text('{"title": 3}')
    infinite = reports(settings) / "backtest-1nf"
    infinite.mkdir()
    summary = json.loads((reports(settings) / RUN / SUMMARY_FILE).read_text())
    (infinite / SUMMARY_FILE).write_text(json.dumps({**summary, "brier": float("inf")}))
    (reports(settings) / "not-a-run").mkdir()

    runs = {run["run_id"]: run for run in get("/backtests").json()["data"]}

    assert set(runs) == {RUN, STORE_ONLY, "backtest-0ld0", "backtest-b0rken", "backtest-1nf"}
    assert runs["backtest-1nf"]["summary_problem"] == "summary.json is not a report summary (1 problems)"
    assert (
        runs["backtest-0ld0"]["summary_problem"]
        == "the report has no summary.json (written before reports had one)"
    )
    assert runs["backtest-b0rken"]["summary_problem"].startswith("summary.json is not a report summary")
    assert [f["name"] for f in runs["backtest-0ld0"]["files"]] == ["index.html"]
    assert runs["backtest-0ld0"]["variants"] == []


def test_an_unknown_run_is_404_and_a_malformed_one_422(get: Get) -> None:
    unknown = get("/backtests/backtest-00000000")
    malformed = get("/backtests/backtest-0123abcd%2Fv0")
    foreign = get("/backtests/paper")

    assert unknown.status_code == 404
    assert (
        unknown.json()["detail"]
        == "no backtest backtest-00000000: no report on this host and no rows in the store"
    )
    assert (malformed.status_code, foreign.status_code) in {(404, 422), (422, 422)}


def test_the_report_files_are_served_with_their_type(get: Get, backtest: Backtest) -> None:
    page = get(f"/backtests/{RUN}/files/index.html")
    figure = get(f"/backtests/{RUN}/files/calibration.png")
    summary = get(f"/backtests/{RUN}/files/{SUMMARY_FILE}")

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"].startswith("sandbox allow-scripts;")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.text == (backtest.folder / "index.html").read_text()
    assert (figure.headers["content-type"], figure.content) == (
        "image/png",
        backtest.report.figures["calibration.png"],
    )
    assert "content-security-policy" not in figure.headers
    assert summary.json()["run_id"] == RUN


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2Fsecret.txt",
        "%2E%2E%2F%2E%2E%2Fsecret.txt",
        "%2E%2E",
        ".hidden.png",
        "%2Fetc%2Fpasswd",
        "C:%5Cwindows%5Cwin.ini",
        "index.html%00.png",
        "notes.txt",
        "leak.png",
        "missing.png",
    ],
)
def test_a_file_name_outside_the_report_is_never_served(get: Get, settings: Settings, name: str) -> None:
    secret = settings.data_dir / "secret.txt"
    secret.write_text("SECRET-CONTENT")
    (reports(settings) / RUN / "leak.png").symlink_to(secret)
    (reports(settings) / RUN / "notes.txt").write_text("SECRET-CONTENT")

    answer = get(f"/backtests/{RUN}/files/{name}")

    assert answer.status_code in {404, 422}, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert b"SECRET-CONTENT" not in answer.content


@pytest.mark.parametrize(
    "name",
    ["..", "../secret.txt", "../../secret.txt", "./../secret.txt", "/etc/passwd", "..\\secret.txt"],
)
def test_dot_segments_and_absolute_names_sent_as_they_are_are_refused(
    get: Get, app: FastAPI, settings: Settings, as_role: Callable[[Role], Headers], name: str
) -> None:
    """Sent straight to the app: an HTTP client would resolve the dot segments before sending."""
    (settings.data_dir / "secret.txt").write_text("SECRET-CONTENT")

    status, body = raw_get(app, f"/backtests/{RUN}/files/{name}", as_role(Role.VIEWER))
    served, _ = raw_get(app, f"/backtests/{RUN}/files/index.html", as_role(Role.VIEWER))

    assert status in {404, 422}
    assert b"SECRET-CONTENT" not in body
    assert served == 200, "the same way in, a report file is served"


def raw_get(app: FastAPI, path: str, headers: Headers) -> tuple[int, bytes]:
    """One GET through the ASGI interface with the path exactly as given."""
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(key.lower().encode(), value.encode()) for key, value in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_every_backtest_route_refuses_an_anonymous_caller(client: TestClient) -> None:
    for path in ("/backtests", f"/backtests/{RUN}", f"/backtests/{RUN}/files/index.html"):
        assert client.get(path).status_code == 401, path
