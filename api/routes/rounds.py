"""Round history: pages of rounds with filters, and one round's drill-down."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.concurrency import run_in_threadpool

from api.deps import EngineDep, SessionDep, SettingsDep, Viewer
from api.history import round_detail, round_page
from api.models import RoundDetail, RoundPage, RoundQuery

router = APIRouter(prefix="/rounds", tags=["rounds"])

SLUG_PATTERN = r"^[a-z0-9]+-updown-\d+[ms]-\d+$"


@router.get("")
async def read_rounds(
    query: Annotated[RoundQuery, Query()], _caller: Viewer, session: SessionDep
) -> RoundPage:
    """Rounds newest first, `limit` (at most 200) from `offset`, filtered by mode, status, open time
    and whether they traded; `count` is the total over all pages."""
    # The queries in a worker thread, the answer checked and serialised on the loop: one hop, not two.
    return await run_in_threadpool(round_page, session, query)


@router.get("/{slug}")
def read_round(
    slug: Annotated[str, Path(max_length=64, pattern=SLUG_PATTERN, examples=["btc-updown-15m-1778437800"])],
    _caller: Viewer,
    engine: EngineDep,
    settings: SettingsDep,
) -> RoundDetail:
    """Everything about one round: venue rules, strike and settlement, decisions with their inputs and
    reasons, risk verdicts, orders with their events and fills, P&L, tape and Prefect flow run."""
    found = round_detail(engine, slug, settings.data_dir)
    if found is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"no round {slug} in the store")
    return found
