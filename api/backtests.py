"""Backtest runs as the API lists them: from their report folders (`<data_dir>/backtests/<run>/`, whose
`summary.json` gives the figures) and from the store (rows tagged `<run>/v<i>`), so a run whose report was
written on another machine is still listed, with its figures summed from the store."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select

from api.pnl import split
from api.record_models import (
    RUN_PATTERN,
    BacktestDetail,
    BacktestPage,
    BacktestQuery,
    BacktestSummary,
    BacktestVariant,
    ReportFile,
    SummarySource,
)
from core.backtest import SUMMARY_FILE
from core.store.models import FillRow, SettlementRow

REPORTS = "backtests"
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "png": "image/png",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
FILE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}\.(html|png|csv|json)$"
"""A report file's name: one dot, no separator, so nothing outside the run's folder can be named."""
MAX_SUMMARY_BYTES = 1_000_000
VARIANT = re.compile(r"/v(\d{1,4})$")
EPOCH = datetime.fromtimestamp(0, tz=UTC)


class VariantFile(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    run_id: str
    tag: str
    name: str
    rounds: int
    traded: int
    wins: int
    win_rate: float | None
    pnl: Decimal
    fees: Decimal
    max_drawdown: Decimal
    per_strategy: dict[str, Decimal]


class SummaryFile(BaseModel):
    """`summary.json` as `core.backtest.report.summary` writes it (no infinity or NaN: JSON has none)."""

    model_config = ConfigDict(allow_inf_nan=False)

    title: str
    source: str
    start: datetime
    end: datetime
    data: str
    seed: int | None
    rounds_planned: int
    rounds_missing: int
    strategies: list[str]
    best: str | None
    brier: float | None
    variants: list[VariantFile]
    settings: dict[str, dict[str, str]]


@dataclass(slots=True)
class Stored:
    """One variant's rows in the store: settled rounds, rounds with a fill, and (when summed) P&L."""

    rounds: int = 0
    traded: int = 0
    pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    per_strategy: dict[str, Decimal] = field(default_factory=dict)


def backtest_page(session: Session, data_dir: Path, query: BacktestQuery) -> BacktestPage:
    """Runs newest report first (runs known only to the store last), each with its summary."""
    known = _known_runs(session, data_dir)
    ordered = sorted(
        known.items(), key=lambda item: (item[1] is not None, item[1] or EPOCH, item[0]), reverse=True
    )
    page = [run for run, _ in ordered[query.offset : query.offset + query.limit]]
    stored = _stored(session, page)
    data = [_summary_of(_detail(session, data_dir, run, stored)) for run in page]
    return BacktestPage(data=data, count=len(ordered), limit=query.limit, offset=query.offset)


def backtest_detail(session: Session, data_dir: Path, run: str) -> BacktestDetail | None:
    """The run with its settings and results per variant, or None when neither a report nor a row has it."""
    stored = _stored(session, [run])
    if not _folder(data_dir, run).is_dir() and not any(run_id.startswith(f"{run}/") for run_id in stored):
        return None
    return _detail(session, data_dir, run, stored)


def report_file(data_dir: Path, run: str, name: str) -> tuple[Path, str] | None:
    """A file of the run's report and its media type, or None. The name is checked again here (the route
    checks it first), and a symbolic link is never followed out of the folder."""
    if re.fullmatch(RUN_PATTERN, run) is None or re.fullmatch(FILE_PATTERN, name) is None:
        return None
    path = _folder(data_dir, run) / name
    if path.is_symlink() or not path.is_file():
        return None
    return path, MEDIA_TYPES[name.rsplit(".", 1)[1]]


def _summary_of(detail: BacktestDetail) -> BacktestSummary:
    return BacktestSummary.model_validate(detail.model_dump(include=set(BacktestSummary.model_fields)))


def _detail(session: Session, data_dir: Path, run: str, stored: dict[str, Stored]) -> BacktestDetail:
    folder = _folder(data_dir, run)
    summary, problem = _read_summary(folder)
    mine = {run_id: s for run_id, s in stored.items() if run_id.startswith(f"{run}/")}
    common = {
        "run_id": run,
        "written_at": _written_at(folder),
        "files": _files(folder),
        "summary_problem": problem,
    }
    if summary is not None:
        variants = [
            BacktestVariant(**v.model_dump(), stored_rounds=mine[v.run_id].rounds if v.run_id in mine else 0)
            for v in summary.variants
        ]
        return BacktestDetail(
            **common,
            title=summary.title,
            source=summary.source,
            start=summary.start,
            end=summary.end,
            seed=summary.seed,
            rounds_planned=summary.rounds_planned,
            best=summary.best,
            variants=variants,
            summary_from=SummarySource.REPORT,
            data_source=summary.data,
            strategies=summary.strategies,
            rounds_missing=summary.rounds_missing,
            brier=summary.brier,
            settings=summary.settings,
        )
    _sum_pnl(session, run, mine)
    variants = [
        BacktestVariant(
            run_id=run_id,
            tag=f"v{_index(run_id)}",
            name=None,
            rounds=s.rounds,
            traded=s.traded,
            wins=None,
            win_rate=None,
            pnl=s.pnl,
            fees=s.fees,
            max_drawdown=None,
            per_strategy=s.per_strategy,
            stored_rounds=s.rounds,
        )
        for run_id, s in sorted(mine.items(), key=lambda item: _index(item[0]))
    ]
    best = max(variants, key=lambda v: v.pnl or Decimal(0), default=None)
    return BacktestDetail(
        **common,
        title=None,
        source=None,
        start=None,
        end=None,
        seed=None,
        rounds_planned=None,
        best=best.tag if best is not None else None,
        variants=variants,
        summary_from=SummarySource.STORE,
        data_source=None,
        strategies=sorted({name for v in variants for name in v.per_strategy}),
        rounds_missing=None,
        brier=None,
        settings={},
    )


def _folder(data_dir: Path, run: str) -> Path:
    return data_dir / REPORTS / run


def _known_runs(session: Session, data_dir: Path) -> dict[str, datetime | None]:
    """Every run: from the report folders here (with when each was written) and from the store's rows."""
    found: dict[str, datetime | None] = {}
    try:
        folders = [p for p in (data_dir / REPORTS).iterdir() if p.is_dir()]
    except OSError:
        folders = []
    for folder in folders:
        if re.fullmatch(RUN_PATTERN, folder.name):
            found[folder.name] = _written_at(folder)
    stored = session.exec(
        select(col(SettlementRow.run_id)).where(col(SettlementRow.run_id).startswith("backtest-")).distinct()
    ).all()
    for run_id in stored:
        run = run_id.partition("/")[0]
        if re.fullmatch(RUN_PATTERN, run):
            found.setdefault(run, None)
    return found


def _written_at(folder: Path) -> datetime | None:
    for path in (folder / SUMMARY_FILE, folder / "index.html"):
        try:
            return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        except OSError:
            continue
    return None


def _files(folder: Path) -> list[ReportFile]:
    try:
        paths = sorted(folder.iterdir())
    except OSError:
        return []
    return [
        ReportFile(name=p.name, size=p.stat().st_size, media_type=MEDIA_TYPES[p.suffix[1:]])
        for p in paths
        if re.fullmatch(FILE_PATTERN, p.name) and not p.is_symlink() and p.is_file()
    ]


def _read_summary(folder: Path) -> tuple[SummaryFile | None, str | None]:
    """The report's summary, or None and why not (None and no reason: the run has no report here)."""
    path = folder / SUMMARY_FILE
    if not path.exists():
        if (folder / "index.html").exists():
            return None, f"the report has no {SUMMARY_FILE} (written before reports had one)"
        return None, None
    try:
        if path.stat().st_size > MAX_SUMMARY_BYTES:
            return None, f"{SUMMARY_FILE} is larger than {MAX_SUMMARY_BYTES} bytes"
        return SummaryFile.model_validate_json(path.read_bytes()), None
    except OSError as exc:
        return None, f"{SUMMARY_FILE} is unreadable: {exc.strerror or type(exc).__name__}"
    except ValidationError as exc:
        return None, f"{SUMMARY_FILE} is not a report summary ({exc.error_count()} problems)"


def _of_runs(table: type[SettlementRow] | type[FillRow], runs: list[str]) -> ColumnElement[bool]:
    return or_(*(col(table.run_id).startswith(f"{run}/", autoescape=True) for run in runs))


def _stored(session: Session, runs: list[str]) -> dict[str, Stored]:
    """Settled and traded rounds per variant of the runs, counted by the store."""
    if not runs:
        return {}
    stored: defaultdict[str, Stored] = defaultdict(Stored)
    for run_id, rounds in session.exec(
        select(col(SettlementRow.run_id), func.count())
        .where(_of_runs(SettlementRow, runs))
        .group_by(col(SettlementRow.run_id))
    ).all():
        stored[run_id].rounds = rounds
    for run_id, traded in session.exec(
        select(col(FillRow.run_id), func.count(func.distinct(col(FillRow.round_slug))))
        .where(_of_runs(FillRow, runs))
        .group_by(col(FillRow.run_id))
    ).all():
        stored[run_id].traded = traded
    return {run_id: s for run_id, s in stored.items() if VARIANT.search(run_id)}


def _sum_pnl(session: Session, run: str, variants: dict[str, Stored]) -> None:
    """P&L, fees and the split per strategy of each variant, summed exactly from its settlements."""
    for run_id, pnl, fees, details in session.exec(
        select(
            col(SettlementRow.run_id),
            col(SettlementRow.pnl),
            col(SettlementRow.fees),
            col(SettlementRow.details),
        ).where(_of_runs(SettlementRow, [run]))
    ).all():
        s = variants.get(run_id)
        if s is None:
            continue
        s.pnl += pnl
        s.fees += fees
        for name, value in split(pnl, details).items():
            s.per_strategy[name] = s.per_strategy.get(name, Decimal(0)) + value


def _index(run_id: str) -> int:
    found = VARIANT.search(run_id)
    return int(found.group(1)) if found else 0
