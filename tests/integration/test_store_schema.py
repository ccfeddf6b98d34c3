"""The schema: migrations match the models, values come back exact, the audit trail cannot be rewritten."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, StatementError
from sqlmodel import Session, SQLModel, select

from core.store.db import make_engine
from core.store.models import AUDIT_TABLES, TABLES, DecisionRow, RoundRow, SettingRow, SettlementRow
from tests.support.rows import audit_rows


def test_migrations_create_exactly_the_tables_the_models_declare(store_url: str) -> None:
    engine = make_engine(store_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []
    assert set(TABLES) >= set(AUDIT_TABLES)


def test_money_and_times_come_back_exact_and_aware(store_url: str) -> None:
    engine = make_engine(store_url)
    rows = audit_rows()
    with Session(engine) as session:
        session.add_all(rows)
        session.commit()
    with Session(engine) as session:
        settlement = session.exec(select(SettlementRow)).one()
    assert settlement.strike == Decimal("80512.123456789012345678")
    assert settlement.pnl == Decimal("4.52564")
    assert settlement.ts == datetime(2026, 5, 10, 18, 42, 1, 250000, tzinfo=UTC)
    assert settlement.ts.tzinfo is not None


def test_store_refuses_naive_datetimes(store_url: str) -> None:
    engine = make_engine(store_url)
    with Session(engine) as session:
        naive = datetime(2026, 1, 1)
        session.add(RoundRow(slug="x", open_at=naive, close_at=naive, length_s=900))
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_audit_tables_refuse_update_and_delete(store_url: str, table: str) -> None:
    engine = make_engine(store_url)
    with Session(engine) as session:
        session.add_all(audit_rows())
        session.commit()
    column = "ts"
    for statement in (f"UPDATE {table} SET {column} = {column}", f"DELETE FROM {table}"):
        with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 1


@pytest.mark.postgres
@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_postgres_audit_tables_refuse_truncate(postgres_url: str, table: str) -> None:
    engine = make_engine(postgres_url)
    with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text(f"TRUNCATE {table}"))


def test_state_tables_accept_updates(store_url: str) -> None:
    engine = make_engine(store_url)
    with Session(engine) as session:
        session.add(SettingRow(key="kill_switch", value={"engaged": False}))
        session.commit()
        setting = session.get(SettingRow, "kill_switch")
        assert setting is not None
        setting.value = {"engaged": True, "reason": "operator"}
        session.add(setting)
        session.commit()
    with Session(engine) as session:
        stored = session.get(SettingRow, "kill_switch")
        assert stored is not None
        assert stored.value == {"engaged": True, "reason": "operator"}


def test_decisions_keep_their_feature_inputs(store_url: str) -> None:
    engine = make_engine(store_url)
    with Session(engine) as session:
        session.add(DecisionRow.model_validate(audit_rows()[0].model_dump()))
        session.commit()
    with Session(engine) as session:
        stored = session.exec(select(DecisionRow)).one()
    assert stored.features == {"btc_vs_strike_bps": 12.5}
