"""api users and tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

The API's users (argon2 password hashes, a role), the refresh tokens of their logins and the API tokens of
machines (SHA-256 digests only). State tables: disabling a user or revoking a token is an update.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.store.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _name(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _time() -> core.store.types.UTCDateTime:
    return core.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('users',
    sa.Column('name', _name(64), nullable=False),
    sa.Column('role', _name(16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', _name(36), nullable=False),
    sa.Column('password_hash', _name(255), nullable=False),
    sa.Column('created_at', _time(), nullable=False),
    sa.Column('updated_at', _time(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_users_name'), 'users', ['name'], unique=True)
    op.create_table('api_tokens',
    sa.Column('name', _name(64), nullable=False),
    sa.Column('role', _name(16), nullable=False),
    sa.Column('expires_at', _time(), nullable=True),
    sa.Column('id', _name(36), nullable=False),
    sa.Column('user_id', _name(36), nullable=False),
    sa.Column('token_hash', _name(64), nullable=False),
    sa.Column('prefix', _name(16), nullable=False),
    sa.Column('created_at', _time(), nullable=False),
    sa.Column('revoked_at', _time(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_api_tokens_user_id'), 'api_tokens', ['user_id'], unique=False)
    op.create_table('refresh_tokens',
    sa.Column('id', _name(36), nullable=False),
    sa.Column('user_id', _name(36), nullable=False),
    sa.Column('family_id', _name(36), nullable=False),
    sa.Column('token_hash', _name(64), nullable=False),
    sa.Column('issued_at', _time(), nullable=False),
    sa.Column('expires_at', _time(), nullable=False),
    sa.Column('used_at', _time(), nullable=True),
    sa.Column('revoked_at', _time(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_refresh_tokens_family_id'), 'refresh_tokens', ['family_id'], unique=False)
    op.create_index(op.f('ix_refresh_tokens_user_id'), 'refresh_tokens', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_refresh_tokens_user_id'), table_name='refresh_tokens')
    op.drop_index(op.f('ix_refresh_tokens_family_id'), table_name='refresh_tokens')
    op.drop_table('refresh_tokens')
    op.drop_index(op.f('ix_api_tokens_user_id'), table_name='api_tokens')
    op.drop_table('api_tokens')
    op.drop_index(op.f('ix_users_name'), table_name='users')
    op.drop_table('users')
