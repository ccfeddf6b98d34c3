"""Idempotent batch inserts: a record already in the database is skipped, so retries never duplicate."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from sqlmodel import SQLModel

from core.store.models import TABLES, UPSERT_TABLES


class PoisonRecordError(ValueError):
    """A record the database will never take (bad value, violated constraint): retrying cannot help."""


def table_of(name: str) -> Table:
    try:
        return TABLES[name].__table__  # type: ignore[attr-defined, no-any-return]
    except KeyError:
        raise PoisonRecordError(f"unknown table {name!r}") from None


def to_row(table: str, values: dict[str, Any]) -> dict[str, Any]:
    """Validate spooled JSON values against the table's model and return Python values to bind."""
    model: type[SQLModel] = TABLES[table] if table in TABLES else _unknown(table)
    try:
        return model.model_validate(values).model_dump()
    except ValueError as exc:
        raise PoisonRecordError(f"{table}: {exc}") from exc


def _unknown(table: str) -> type[SQLModel]:
    raise PoisonRecordError(f"unknown table {table!r}")


def insert_rows(engine: Engine, batch: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Insert (table, row) pairs in order, in one transaction; existing keys are skipped or upserted."""
    with engine.begin() as connection:
        for table_name, group in itertools.groupby(batch, key=lambda item: item[0]):
            rows = [row for _, row in group]
            connection.execute(_statement(engine.dialect.name, table_of(table_name)), rows)


def is_poison(error: BaseException) -> bool:
    """Errors that come from the record, not from the connection."""
    if isinstance(error, PoisonRecordError | IntegrityError | DataError):
        return True
    return isinstance(error, StatementError) and isinstance(error.orig, ValueError | TypeError)


def _statement(dialect: str, table: Table) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    keys = [column.name for column in table.primary_key.columns]
    if table.name in UPSERT_TABLES:
        updates = {
            column.name: statement.excluded[column.name]
            for column in table.columns
            if column.name not in keys
        }
        return statement.on_conflict_do_update(index_elements=keys, set_=updates)
    return statement.on_conflict_do_nothing(index_elements=keys)
