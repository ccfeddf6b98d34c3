"""claims and modes

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

Round claims (one round, one trader), and the mode (paper or live) on rounds, fills and settlements, so
risk state reads only its own mode's history; rounds get the reason they ended as they did. Columns are
added in place (no batch copy), so SQLite keeps the append-only triggers of the audit tables.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.store.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _mode() -> sa.Column:
    return sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False, server_default='paper')


def upgrade() -> None:
    op.create_table('round_claims',
    sa.Column('slug', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('host', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('pid_started', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('flow_run_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('claimed_at', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_until', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('released', sa.Boolean(), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.PrimaryKeyConstraint('slug')
    )
    op.add_column('fills', _mode())
    op.add_column('rounds', _mode())
    op.add_column('rounds', sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
    op.add_column('settlements', _mode())
    op.create_index('ix_settlements_mode', 'settlements', ['mode'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_settlements_mode', table_name='settlements')
    for table, column in (('settlements', 'mode'), ('rounds', 'reason'), ('rounds', 'mode'), ('fills', 'mode')):
        op.drop_column(table, column)
    op.drop_table('round_claims')
