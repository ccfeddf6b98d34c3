"""User management by admins: create, change role or active flag, and disable (a "delete" that keeps the
audit trail's names meaningful). A disabled user's logins and API tokens stop at once: every request reads
the user afresh. The last active admin cannot be demoted or disabled: someone must be able to act."""

from __future__ import annotations

from datetime import datetime

from fastapi import HTTPException, Request, status
from sqlalchemy import update
from sqlmodel import Session, col, select

from api.auth import Principal, UserExistsError, create_user
from api.control_models import UserCreate, UserUpdate
from api.controls import record_action
from api.deps import unprocessable
from api.models import UserPublic
from core.store.auth import ApiTokenRow, RefreshTokenRow, Role, UserRow


def public(user: UserRow) -> UserPublic:
    return UserPublic.model_validate(user.model_dump())


def add_user(
    session: Session, caller: Principal, request: Request, body: UserCreate, now: datetime
) -> UserPublic:
    try:
        user = create_user(session, body.name, body.role, body.password, now=now)
    except UserExistsError as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except ValueError as exc:
        raise unprocessable("password" if "password" in str(exc) else "name", str(exc)) from None
    record_action(
        session,
        caller,
        request,
        action="user_add",
        target=user.name,
        reason=None,
        before=None,
        after={"role": user.role, "active": user.active},
    )
    session.commit()
    session.refresh(user)
    return public(user)


def find_user(session: Session, name: str) -> UserRow:
    user = session.exec(select(UserRow).where(col(UserRow.name) == name)).first()
    if user is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"no user {name!r}")
    return user


def change_user(
    session: Session, caller: Principal, request: Request, name: str, body: UserUpdate, *, now: datetime
) -> UserPublic:
    user = find_user(session, name)
    before = {"role": user.role, "active": user.active}
    role = body.role.value if body.role is not None else user.role
    active = body.active if body.active is not None else user.active
    if user.role == Role.ADMIN.value and user.active and (role != Role.ADMIN.value or not active):
        _keep_an_admin(session, user)
    user.role, user.active, user.updated_at = role, active, now
    session.add(user)
    if not active:
        _end_logins(session, user, now)
    record_action(
        session,
        caller,
        request,
        action="user_update" if active else "user_disable",
        target=user.name,
        reason=body.reason,
        before=before,
        after={"role": role, "active": active},
    )
    session.commit()
    session.refresh(user)
    return public(user)


def _keep_an_admin(session: Session, user: UserRow) -> None:
    others = session.exec(
        select(UserRow)
        .where(col(UserRow.role) == Role.ADMIN.value)
        .where(col(UserRow.active))
        .where(col(UserRow.id) != user.id)
    ).first()
    if others is None:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=f"{user.name} is the last active admin: make another admin first",
        )


def _end_logins(session: Session, user: UserRow, now: datetime) -> None:
    """A disabled user's refresh tokens and API tokens are revoked too (they are refused anyway: the user is
    read on every request; revoking says so in the token lists)."""
    session.execute(
        update(RefreshTokenRow)
        .where(col(RefreshTokenRow.user_id) == user.id)
        .where(col(RefreshTokenRow.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    for token in session.exec(
        select(ApiTokenRow)
        .where(col(ApiTokenRow.user_id) == user.id)
        .where(col(ApiTokenRow.revoked_at).is_(None))
    ).all():
        token.revoked_at = now
        session.add(token)
