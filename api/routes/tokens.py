"""API tokens for machines (a Prometheus scraper, a script): made, listed and revoked by admins."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, status
from sqlmodel import col, select

from api.auth import AuthFailure, create_api_token
from api.deps import Admin, NowDep, SessionDep, SettingsDep, refuse, unprocessable
from api.models import ApiTokenCreate, ApiTokenCreated, ApiTokenPublic, ApiTokensPublic
from core.store.auth import ApiTokenRow, UserRow

router = APIRouter(prefix="/auth/tokens", tags=["auth"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_token(
    body: ApiTokenCreate, caller: Admin, session: SessionDep, settings: SettingsDep, now: NowDep
) -> ApiTokenCreated:
    """A new token acting for the caller with `role`, never with more than the caller's role of the moment
    (should it be lowered). The token is in this answer only. Made from a login, never from another token."""
    if caller.via != "session":
        raise refuse(AuthFailure(403, "API tokens are made from a login session, not from another API token"))
    days = body.expires_in_days or settings.api.api_token_max_days
    if days > settings.api.api_token_max_days:
        raise unprocessable("expires_in_days", f"at most {settings.api.api_token_max_days}")
    row, token = create_api_token(
        session, caller.user, body.name, body.role, now=now, expires_at=now + timedelta(days=days)
    )
    return ApiTokenCreated.model_validate({**row.model_dump(), "owner": caller.user.name, "token": token})


@router.get("")
def list_tokens(_caller: Admin, session: SessionDep) -> ApiTokensPublic:
    """Every API token, revoked ones included; never the tokens themselves."""
    found = session.exec(
        select(ApiTokenRow, UserRow.name)
        .join(UserRow, col(UserRow.id) == col(ApiTokenRow.user_id))
        .order_by(col(ApiTokenRow.created_at).desc())
    ).all()
    data = [ApiTokenPublic.model_validate({**row.model_dump(), "owner": owner}) for row, owner in found]
    return ApiTokensPublic(data=data, count=len(data))


@router.delete("/{token_id}")
def revoke_token(token_id: str, _caller: Admin, session: SessionDep, now: NowDep) -> ApiTokenPublic:
    """Revoke a token: it stops working at once."""
    row = session.get(ApiTokenRow, token_id)
    if row is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
        session.commit()
        session.refresh(row)
    owner = session.get(UserRow, row.user_id)
    return ApiTokenPublic.model_validate({**row.model_dump(), "owner": owner.name if owner else "?"})
