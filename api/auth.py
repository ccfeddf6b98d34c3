"""Users, logins and API tokens in the store: who someone is, and what each failure is told."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import update
from sqlmodel import Session, col, select

from api.security import (
    API_TOKEN_PREFIX,
    REFRESH_TOKEN_PREFIX,
    digest,
    hash_password,
    new_token,
    spend_password_check,
    verify_password,
)
from core.store.auth import ApiTokenRow, RefreshTokenRow, Role, UserRow

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
MIN_PASSWORD = 12
LAST_USE_RESOLUTION = timedelta(minutes=1)
MAX_PASSWORD = 128


class AuthFailure(Exception):
    """A refusal: 401 (who are you?) or 403 (not you, not this), and the reason the caller reads."""

    def __init__(self, status: Literal[401, 403], reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class UserExistsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user, the role they act with now, and how they proved it."""

    user: UserRow
    role: Role
    via: Literal["session", "api_token"]
    token_id: str | None = None


def password_problem(password: str) -> str | None:
    """Why a password cannot be used, or None."""
    if not password.strip():
        return "the password is empty"
    if len(password) < MIN_PASSWORD:
        return f"the password has fewer than {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password has more than {MAX_PASSWORD} characters"
    return None


def create_user(session: Session, name: str, role: Role, password: str, *, now: datetime) -> UserRow:
    if not re.match(NAME_PATTERN, name):
        raise ValueError(f"user name {name!r}: letters, digits and . _ @ - only, 64 at most")
    problem = password_problem(password)
    if problem is not None:
        raise ValueError(problem)
    if session.exec(select(UserRow).where(col(UserRow.name) == name)).first() is not None:
        raise UserExistsError(f"user {name!r} exists already")
    user = UserRow(
        name=name, role=role.value, password_hash=hash_password(password), created_at=now, updated_at=now
    )
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def authenticate(session: Session, name: str, password: str) -> UserRow:
    """The user whose password this is; unknown names and wrong passwords are told apart by nobody."""
    user = session.exec(select(UserRow).where(col(UserRow.name) == name)).first()
    if user is None:
        spend_password_check(password)
        raise AuthFailure(401, "wrong user name or password")
    verified, updated = verify_password(password, user.password_hash)
    if not verified:
        raise AuthFailure(401, "wrong user name or password")
    if not user.active:
        raise AuthFailure(403, f"user {user.name} is disabled")
    if updated is not None:
        user.password_hash = updated
        session.add(user)
        session.commit()
    return user


def session_principal(session: Session, user_id: str) -> Principal:
    """The caller behind an access token, as the store has them now (a lowered role counts at once)."""
    user = _usable_user(session, user_id)
    return Principal(user=user, role=role_of(user.role, user.name), via="session")


def _usable_user(session: Session, user_id: str) -> UserRow:
    return _usable(session.get(UserRow, user_id))


def _usable(user: UserRow | None) -> UserRow:
    if user is None:
        raise AuthFailure(401, "the token's user no longer exists")
    if not user.active:
        raise AuthFailure(403, f"user {user.name} is disabled")
    return user


def role_of(stored: str, whose: str) -> Role:
    try:
        return Role(stored)
    except ValueError:
        raise AuthFailure(403, f"{whose} has the unknown role {stored!r}") from None


def issue_refresh_token(
    session: Session, user: UserRow, *, now: datetime, lifetime: timedelta, family_id: str | None = None
) -> str:
    """A new refresh token for the user (the first of a new login, or the next of `family_id`)."""
    token = new_token(REFRESH_TOKEN_PREFIX)
    session.add(
        RefreshTokenRow(
            user_id=user.id,
            family_id=family_id or str(uuid.uuid4()),
            token_hash=digest(token),
            issued_at=now,
            expires_at=now + lifetime,
        )
    )
    session.commit()
    return token


def rotate_refresh_token(
    session: Session, token: str, *, now: datetime, lifetime: timedelta
) -> tuple[UserRow, str]:
    """Use up a refresh token and issue the next one. A token used twice means it was copied: every token
    of that login is revoked, so the thief and the owner both have to log in again."""
    row = _refresh_row(session, token)
    if row.revoked_at is not None:
        raise AuthFailure(401, "refresh token revoked: log in again")
    if row.used_at is not None:
        revoke_family(session, row.family_id, now=now)
        raise AuthFailure(
            401, "refresh token used twice: every session of this login is revoked; log in again"
        )
    if now >= row.expires_at:
        raise AuthFailure(401, "refresh token expired: log in again")
    user = _usable_user(session, row.user_id)
    # Only one of two concurrent refreshes with the same token wins the update; the other is a reuse.
    claimed = session.execute(
        update(RefreshTokenRow)
        .where(col(RefreshTokenRow.id) == row.id)
        .where(col(RefreshTokenRow.used_at).is_(None))
        .values(used_at=now)
    )
    session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        revoke_family(session, row.family_id, now=now)
        raise AuthFailure(
            401, "refresh token used twice: every session of this login is revoked; log in again"
        )
    return user, issue_refresh_token(session, user, now=now, lifetime=lifetime, family_id=row.family_id)


def end_login(session: Session, token: str, *, now: datetime) -> None:
    """Log out: revoke every refresh token of the login this one belongs to."""
    revoke_family(session, _refresh_row(session, token).family_id, now=now)


def _refresh_row(session: Session, token: str) -> RefreshTokenRow:
    row = session.exec(
        select(RefreshTokenRow).where(col(RefreshTokenRow.token_hash) == digest(token))
    ).first()
    if row is None:
        raise AuthFailure(401, "unknown refresh token: log in again")
    return row


def revoke_family(session: Session, family_id: str, *, now: datetime) -> None:
    session.execute(
        update(RefreshTokenRow)
        .where(col(RefreshTokenRow.family_id) == family_id)
        .where(col(RefreshTokenRow.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    session.commit()


def create_api_token(
    session: Session, owner: UserRow, name: str, role: Role, *, now: datetime, expires_at: datetime | None
) -> tuple[ApiTokenRow, str]:
    """A token for a machine, acting for `owner` with `role`; the token itself is returned once, here."""
    token = new_token(API_TOKEN_PREFIX)
    row = ApiTokenRow(
        name=name,
        role=role.value,
        expires_at=expires_at,
        user_id=owner.id,
        token_hash=digest(token),
        prefix=token[: len(API_TOKEN_PREFIX) + 6],
        created_at=now,
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row, token


def api_token_principal(session: Session, token: str, *, now: datetime) -> Principal:
    """The caller behind an API token: its owner, with the lower of the token's role and the owner's."""
    found = session.exec(
        select(ApiTokenRow, UserRow)
        .outerjoin(UserRow, col(UserRow.id) == col(ApiTokenRow.user_id))
        .where(col(ApiTokenRow.token_hash) == digest(token))
    ).first()  # one query for the token and its owner: every request of a machine asks it
    if found is None:
        raise AuthFailure(401, "unknown API token")
    row, owner_row = found
    if row.revoked_at is not None:
        raise AuthFailure(401, f"API token {row.name} was revoked")
    if row.expires_at is not None and now >= row.expires_at:
        raise AuthFailure(401, f"API token {row.name} expired")
    owner = _usable(owner_row)
    granted, held = role_of(row.role, f"API token {row.name}"), role_of(owner.role, owner.name)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USE_RESOLUTION:
        row.last_used_at = now  # at most once a minute: a busy machine token does not write per request
        session.add(row)
        session.commit()
        session.refresh(owner)  # the commit expired it; routes read the owner's fields directly
    return Principal(
        user=owner, role=min(granted, held, key=lambda r: r.rank), via="api_token", token_id=row.id
    )
