"""Backtest runs: their summaries and the files of their reports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import FileResponse

from api.backtests import FILE_PATTERN, backtest_detail, backtest_page, report_file
from api.deps import SessionDep, SettingsDep, Viewer
from api.models import Problem
from api.record_models import RUN_PATTERN, BacktestDetail, BacktestPage, BacktestQuery

router = APIRouter(prefix="/backtests", tags=["backtests"])

RunId = Annotated[str, Path(max_length=41, pattern=RUN_PATTERN, examples=["backtest-1a2b3c4d"])]
HTML_POLICY = (
    "sandbox allow-scripts; default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'"
)
"""A report page runs its own inline filter and nothing else, in a sandbox apart from the API's origin."""
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such backtest run, or no such file in its report."}
}


@router.get("")
def read_backtests(
    query: Annotated[BacktestQuery, Query()], _caller: Viewer, session: SessionDep, settings: SettingsDep
) -> BacktestPage:
    """Backtest runs, the latest report first (runs known only from the store's rows last), each with its
    results per variant and its report's files."""
    return backtest_page(session, settings.data_dir, query)


@router.get("/{run_id}", responses=NOT_FOUND)
def read_backtest(
    run_id: RunId, _caller: Viewer, session: SessionDep, settings: SettingsDep
) -> BacktestDetail:
    """One run: what ran (data, strategies, settings), its results per variant, and its report's files."""
    found = backtest_detail(session, settings.data_dir, run_id)
    if found is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"no backtest {run_id}: no report on this host and no rows in the store",
        )
    return found


@router.get(
    "/{run_id}/files/{name}",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file.",
            "content": {"text/html": {}, "image/png": {}, "text/csv": {}, "application/json": {}},
        },
        **NOT_FOUND,
    },
)
def read_backtest_file(
    run_id: RunId,
    name: Annotated[str, Path(max_length=120, pattern=FILE_PATTERN, examples=["index.html"])],
    _caller: Viewer,
    settings: SettingsDep,
) -> FileResponse:
    """A file of the run's report (`index.html`, the PNGs, `summary.json`) by its plain name; the HTML page
    is served under a sandboxing content security policy."""
    found = report_file(settings.data_dir, run_id, name)
    if found is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND, detail=f"no file {name} in the report of {run_id}"
        )
    path, media_type = found
    headers = {"X-Content-Type-Options": "nosniff"}
    if media_type.startswith("text/html"):
        headers["Content-Security-Policy"] = HTML_POLICY
    return FileResponse(path, media_type=media_type, headers=headers)
