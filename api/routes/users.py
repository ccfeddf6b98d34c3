"""Users: who am I, and (admins) who is there. Users are made with `btc-agent users add`."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import col, select

from api.deps import Admin, CurrentUser, SessionDep
from api.models import Me, UserPublic, UsersPublic
from core.store.auth import UserRow

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me")
def read_me(caller: CurrentUser) -> Me:
    """The caller: name, role, and the role they act with now."""
    return Me.model_validate({**caller.user.model_dump(), "acting_role": caller.role, "via": caller.via})


@router.get("")
def read_users(_caller: Admin, session: SessionDep) -> UsersPublic:
    """Every user, oldest first."""
    users = session.exec(select(UserRow).order_by(col(UserRow.created_at), col(UserRow.name))).all()
    return UsersPublic(data=[UserPublic.model_validate(u.model_dump()) for u in users], count=len(users))
