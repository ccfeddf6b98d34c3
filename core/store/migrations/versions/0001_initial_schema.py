"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26

The tables of core.store.models, and the append-only guard on the audit tables: in Postgres a trigger
refuses UPDATE, DELETE and TRUNCATE; in SQLite triggers refuse UPDATE and DELETE.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql
import core.store.types

AUDIT_TABLES = (
    "decisions",
    "orders",
    "order_events",
    "fills",
    "risk_events",
    "settlements",
    "operator_actions",
)

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('decisions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('round_slug', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('ts', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('strategy', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('side', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('limit_price', core.store.types.ExactDecimal(precision=38, scale=18), nullable=False),
    sa.Column('size', core.store.types.ExactDecimal(precision=38, scale=18), nullable=False),
    sa.Column('confidence', core.store.types.ExactDecimal(precision=38, scale=18), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('policy', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('features', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decisions_round_slug'), ['round_slug'], unique=False)
        batch_op.create_index(batch_op.f('ix_decisions_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_decisions_ts'), ['ts'], unique=False)

    op.create_table('fills',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('round_slug', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('ts', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('trade_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('token_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('side', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('price', core.store.types.ExactDecimal(precision=38, scale=18), nullable=False),
    sa.Column('size', core.store.types.ExactDecimal(precision=38, scale=18), nullable=False),
    sa.Column('fee', core.store.types.ExactDecimal(precision=38, scale=18), nullable=False),
    sa.Column('liquidity', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('fills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fills_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fills_round_slug'), ['round_slug'], unique=False)
        batch_op.create_index(batch_op.f('ix_fills_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fills_ts'), ['ts'], unique=False)

    op.create_table('heartbeats',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('ts', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('component', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('heartbeats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_heartbeats_component'), ['component'], unique=False)
        batch_op.create_index(batch_op.f('ix_heartbeats_ts'), ['ts'], unique=False)

    op.create_table('operator_actions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('ts', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('operator_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operator_actions_ts'), ['ts'], unique=False)

    op.create_table('order_events',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('ts', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('filled_size', core.store.types.ExactDecimal(precision=38, scale=18), nullable=False),
    sa.Column('venue_order_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_events_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_events_ts'), ['ts'], unique=False)

    op.create_table('orders',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('round_slug', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('decision_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('risk_event_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('ts', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('token_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('side', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('order_type', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('price', core.store.types.ExactDecimal(precision=38, scale=18), nullable=False),
    sa.Column('size', core.store.types.ExactDecimal(precision=38, scale=18), nullable=False),
    sa.Column('post_only', sa.Boolean(), nullable=False),
    sa.Column('expires_at', core.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_decision_id'), ['decision_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_round_slug'), ['round_slug'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_ts'), ['ts'], unique=False)

    op.create_table('risk_events',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('round_slug', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('ts', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('approved', sa.Boolean(), nullable=False),
    sa.Column('reason_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('decision_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('risk_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_events_reason_code'), ['reason_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_events_round_slug'), ['round_slug'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_events_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_events_ts'), ['ts'], unique=False)

    op.create_table('rounds',
    sa.Column('slug', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('open_at', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('close_at', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('length_s', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('strike', core.store.types.ExactDecimal(precision=38, scale=18), nullable=True),
    sa.Column('settlement_source', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('flow_run_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('updated_at', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('slug')
    )
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rounds_open_at'), ['open_at'], unique=False)

    op.create_table('settings',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('value', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('settlements',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('round_slug', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('ts', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('strike', core.store.types.ExactDecimal(precision=38, scale=18), nullable=True),
    sa.Column('settle_price', core.store.types.ExactDecimal(precision=38, scale=18), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('pnl', core.store.types.ExactDecimal(precision=38, scale=18), nullable=False),
    sa.Column('fees', core.store.types.ExactDecimal(precision=38, scale=18), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('settlements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlements_round_slug'), ['round_slug'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlements_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlements_ts'), ['ts'], unique=False)

    op.create_table('tick_samples',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('round_slug', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('ts', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('chainlink', core.store.types.ExactDecimal(precision=38, scale=18), nullable=True),
    sa.Column('chainlink_twap', core.store.types.ExactDecimal(precision=38, scale=18), nullable=True),
    sa.Column('binance', core.store.types.ExactDecimal(precision=38, scale=18), nullable=True),
    sa.Column('up_bid', core.store.types.ExactDecimal(precision=38, scale=18), nullable=True),
    sa.Column('up_ask', core.store.types.ExactDecimal(precision=38, scale=18), nullable=True),
    sa.Column('down_bid', core.store.types.ExactDecimal(precision=38, scale=18), nullable=True),
    sa.Column('down_ask', core.store.types.ExactDecimal(precision=38, scale=18), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tick_samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tick_samples_round_slug'), ['round_slug'], unique=False)
        batch_op.create_index(batch_op.f('ix_tick_samples_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tick_samples_ts'), ['ts'], unique=False)

    op.create_table('venue_rules',
    sa.Column('round_slug', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('condition_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('up_token_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('down_token_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('tick_size', core.store.types.ExactDecimal(precision=38, scale=18), nullable=False),
    sa.Column('min_order_size', core.store.types.ExactDecimal(precision=38, scale=18), nullable=False),
    sa.Column('fee_rate', core.store.types.ExactDecimal(precision=38, scale=18), nullable=False),
    sa.Column('fee_exponent', sa.Integer(), nullable=False),
    sa.Column('fee_taker_only', sa.Boolean(), nullable=False),
    sa.Column('resolution_source', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('settlement_source', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('market_version', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('captured_at', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('round_slug')
    )

    _create_append_only_guards()


def downgrade() -> None:
    _drop_append_only_guards()
    op.drop_table('venue_rules')
    with op.batch_alter_table('tick_samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tick_samples_ts'))
        batch_op.drop_index(batch_op.f('ix_tick_samples_run_id'))
        batch_op.drop_index(batch_op.f('ix_tick_samples_round_slug'))

    op.drop_table('tick_samples')
    with op.batch_alter_table('settlements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_settlements_ts'))
        batch_op.drop_index(batch_op.f('ix_settlements_run_id'))
        batch_op.drop_index(batch_op.f('ix_settlements_round_slug'))

    op.drop_table('settlements')
    op.drop_table('settings')
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rounds_open_at'))

    op.drop_table('rounds')
    with op.batch_alter_table('risk_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_events_ts'))
        batch_op.drop_index(batch_op.f('ix_risk_events_run_id'))
        batch_op.drop_index(batch_op.f('ix_risk_events_round_slug'))
        batch_op.drop_index(batch_op.f('ix_risk_events_reason_code'))

    op.drop_table('risk_events')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_ts'))
        batch_op.drop_index(batch_op.f('ix_orders_run_id'))
        batch_op.drop_index(batch_op.f('ix_orders_round_slug'))
        batch_op.drop_index(batch_op.f('ix_orders_decision_id'))

    op.drop_table('orders')
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_events_ts'))
        batch_op.drop_index(batch_op.f('ix_order_events_order_id'))

    op.drop_table('order_events')
    with op.batch_alter_table('operator_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operator_actions_ts'))

    op.drop_table('operator_actions')
    with op.batch_alter_table('heartbeats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_heartbeats_ts'))
        batch_op.drop_index(batch_op.f('ix_heartbeats_component'))

    op.drop_table('heartbeats')
    with op.batch_alter_table('fills', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fills_ts'))
        batch_op.drop_index(batch_op.f('ix_fills_run_id'))
        batch_op.drop_index(batch_op.f('ix_fills_round_slug'))
        batch_op.drop_index(batch_op.f('ix_fills_order_id'))

    op.drop_table('fills')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decisions_ts'))
        batch_op.drop_index(batch_op.f('ix_decisions_run_id'))
        batch_op.drop_index(batch_op.f('ix_decisions_round_slug'))

    op.drop_table('decisions')


def _create_append_only_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        for table in AUDIT_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
            )
        return
    for table in AUDIT_TABLES:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'audit table {table} is append-only: {operation} refused'); END"
            )


def _drop_append_only_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in AUDIT_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")
        return
    for table in AUDIT_TABLES:
        for operation in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")
