"""Who may use the API: users and their roles, the refresh tokens of their logins, API tokens for machines.

State tables, not audit ones: a user is disabled and a token revoked by an update. No secret is stored:
passwords as argon2 hashes, tokens as SHA-256 digests (a token is 256 random bits, so a slow hash adds
nothing, and a digest can be looked up).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from core.store.types import UTCDateTime


class Role(StrEnum):
    """What a user may do, each role including the ones before it."""

    VIEWER = "viewer"
    ANALYST = "analyst"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


def _id() -> str:
    return str(uuid.uuid4())


def _now() -> datetime:
    return datetime.now(UTC)


class UserBase(SQLModel):
    name: str = Field(min_length=1, max_length=64, unique=True, index=True)
    role: str = Field(max_length=16)
    active: bool = True


class UserRow(UserBase, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=_id, primary_key=True, max_length=36)
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=_now, sa_type=UTCDateTime)


class RefreshTokenRow(SQLModel, table=True):
    """One refresh token of a login; refreshing uses it up and issues the next of the same family, so a
    token used twice (stolen and replayed) reveals itself and revokes the family."""

    __tablename__ = "refresh_tokens"

    id: str = Field(default_factory=_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    family_id: str = Field(max_length=36, index=True)
    token_hash: str = Field(max_length=64, unique=True)
    issued_at: datetime = Field(default_factory=_now, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiTokenBase(SQLModel):
    name: str = Field(min_length=1, max_length=64)
    role: str = Field(max_length=16)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiTokenRow(ApiTokenBase, table=True):
    """A machine's bearer token: it acts for the user who made it, with at most that user's role."""

    __tablename__ = "api_tokens"

    id: str = Field(default_factory=_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=_now, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the token last authenticated a request (updated at most once a minute)."""
