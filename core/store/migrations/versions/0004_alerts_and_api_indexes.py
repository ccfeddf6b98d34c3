"""alerts, heartbeat index, api token last use

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

The alerts an operator must hear of (an audit table: append-only, like the others); indexes the API's hot
queries walk (the latest heartbeat of a component, the latest decision of a run, a round's fills of a run);
and when an API token was last used.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import core.store.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _name(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _time() -> core.store.types.UTCDateTime:
    return core.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', _name(36), nullable=False),
    sa.Column('ts', _time(), nullable=False),
    sa.Column('code', _name(64), nullable=False),
    sa.Column('severity', _name(16), nullable=False),
    sa.Column('message', _name(500), nullable=False),
    sa.Column('round_slug', _name(64), nullable=True),
    sa.Column('source', _name(64), nullable=False),
    sa.Column('sent', sa.Boolean(), nullable=False),
    sa.Column('suppressed', _name(64), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_alerts_code'), 'alerts', ['code'], unique=False)
    op.create_index(op.f('ix_alerts_round_slug'), 'alerts', ['round_slug'], unique=False)
    op.create_index(op.f('ix_alerts_ts'), 'alerts', ['ts'], unique=False)
    op.create_index('ix_heartbeats_component_ts', 'heartbeats', ['component', 'ts'], unique=False)
    op.create_index('ix_decisions_run_id_ts', 'decisions', ['run_id', 'ts'], unique=False)
    op.create_index('ix_fills_round_slug_run_id', 'fills', ['round_slug', 'run_id'], unique=False)
    with op.batch_alter_table('api_tokens') as batch_op:
        batch_op.add_column(sa.Column('last_used_at', _time(), nullable=True))
    _append_only('alerts')


def downgrade() -> None:
    _drop_append_only('alerts')
    with op.batch_alter_table('api_tokens') as batch_op:
        batch_op.drop_column('last_used_at')
    op.drop_index('ix_fills_round_slug_run_id', table_name='fills')
    op.drop_index('ix_decisions_run_id_ts', table_name='decisions')
    op.drop_index('ix_heartbeats_component_ts', table_name='heartbeats')
    op.drop_index(op.f('ix_alerts_ts'), table_name='alerts')
    op.drop_index(op.f('ix_alerts_round_slug'), table_name='alerts')
    op.drop_index(op.f('ix_alerts_code'), table_name='alerts')
    op.drop_table('alerts')


def _append_only(table: str) -> None:
    """The guards of 0001's audit tables (its `audit_refuse_change()` function on PostgreSQL)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
        )
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'audit table {table} is append-only: {operation} refused'); END"
        )


def _drop_append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        return
    for operation in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")
