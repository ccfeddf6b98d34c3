"""history page indexes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

The indexes a page of round history walks: rounds newest first by (open_at, slug) with no sort of the whole
table (it replaces the open_at index, its prefix), and a round's own orders and latest settlement by
(round_slug, run_id[, ts]). Without planner statistics SQLite took the run_id index, which matches half
the table, for every round of a page.
"""

from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_rounds_open_at_slug', 'rounds', ['open_at', 'slug'], unique=False)
    op.drop_index('ix_rounds_open_at', table_name='rounds')
    op.create_index('ix_orders_round_slug_run_id', 'orders', ['round_slug', 'run_id'], unique=False)
    op.create_index(
        'ix_settlements_round_slug_run_id_ts', 'settlements', ['round_slug', 'run_id', 'ts'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_settlements_round_slug_run_id_ts', table_name='settlements')
    op.drop_index('ix_orders_round_slug_run_id', table_name='orders')
    op.create_index('ix_rounds_open_at', 'rounds', ['open_at'], unique=False)
    op.drop_index('ix_rounds_open_at_slug', table_name='rounds')
