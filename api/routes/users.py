"""Users: who am I, and (admins) who is there, adding, changing and disabling them. The first admin is made
with `btc-agent users add NAME --role admin`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from sqlmodel import col, select

from api.auth import NAME_PATTERN
from api.control_models import UserCreate, UserUpdate
from api.deps import Admin, CurrentUser, NowDep, SessionDep
from api.models import Me, UserPublic, UsersPublic
from api.users import add_user, change_user
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


UserName = Annotated[str, Path(min_length=1, max_length=64, pattern=NAME_PATTERN)]


@router.post("", status_code=status.HTTP_201_CREATED, responses={409: {"description": "The name is taken."}})
def add(body: UserCreate, caller: Admin, session: SessionDep, request: Request, now: NowDep) -> UserPublic:
    """Add a user with a role and an initial password (12 characters at least)."""
    return add_user(session, caller, request, body, now)


@router.patch("/{name}", responses={409: {"description": "It would leave no active admin."}})
def change(
    name: UserName, body: UserUpdate, caller: Admin, session: SessionDep, *, request: Request, now: NowDep
) -> UserPublic:
    """Change a user's role or active flag; it counts at once for their sessions and API tokens. Disabling
    also revokes their refresh and API tokens."""
    return change_user(session, caller, request, name, body, now=now)
