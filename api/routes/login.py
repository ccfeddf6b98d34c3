"""Logins: a password buys an access token and a refresh token; a refresh token buys the next pair once."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from slowapi import Limiter

from api.auth import AuthFailure, authenticate, end_login, issue_refresh_token, rotate_refresh_token
from api.deps import NowDep, SessionDep, SettingsDep, SigningKeyDep, refuse
from api.models import LoginRequest, Message, Problem, RefreshRequest, TokenPair
from api.security import create_access_token
from core.config import Settings
from core.store.auth import UserRow

router = APIRouter(prefix="/auth", tags=["auth"])


def login_router(limiter: Limiter, rate: str) -> APIRouter:
    """`POST /auth/login`, limited to `rate` per client address by the app's own limiter."""
    limited = APIRouter(prefix="/auth", tags=["auth"])

    @limited.post("/login", responses={429: {"model": Problem, "description": "Too many attempts: wait."}})
    @limiter.limit(rate)
    def login(
        request: Request,
        body: LoginRequest,
        *,
        session: SessionDep,
        settings: SettingsDep,
        key: SigningKeyDep,
        now: NowDep,
    ) -> TokenPair:
        """Trade a user name and password for a token pair. 401 for a wrong name or password (the same
        answer for both), 403 for a disabled user, 429 after too many attempts from one address."""
        try:
            user = authenticate(session, body.username, body.password)
        except AuthFailure as failure:
            raise refuse(failure) from None
        refresh = issue_refresh_token(session, user, now=now, lifetime=_refresh_lifetime(settings))
        return _pair(user, refresh, settings, key, now)

    return limited


@router.post("/refresh")
def refresh(
    body: RefreshRequest, session: SessionDep, settings: SettingsDep, key: SigningKeyDep, now: NowDep
) -> TokenPair:
    """Use up a refresh token for a new pair. A token presented a second time revokes its whole login."""
    try:
        user, token = rotate_refresh_token(
            session, body.refresh_token, now=now, lifetime=_refresh_lifetime(settings)
        )
    except AuthFailure as failure:
        raise refuse(failure) from None
    return _pair(user, token, settings, key, now)


@router.post("/logout")
def logout(body: RefreshRequest, session: SessionDep, now: NowDep) -> Message:
    """End a login: its refresh tokens stop working (access tokens already issued expire on their own)."""
    try:
        end_login(session, body.refresh_token, now=now)
    except AuthFailure as failure:
        raise refuse(failure) from None
    return Message(message="logged out")


def _refresh_lifetime(settings: Settings) -> timedelta:
    return timedelta(days=settings.api.refresh_token_days)


def _pair(user: UserRow, refresh_token: str, settings: Settings, key: str, now: datetime) -> TokenPair:
    lifetime = timedelta(minutes=settings.api.access_token_minutes)
    return TokenPair(
        access_token=create_access_token(user.id, key, now=now, lifetime=lifetime),
        expires_in=int(lifetime.total_seconds()),
        refresh_token=refresh_token,
        refresh_expires_in=int(_refresh_lifetime(settings).total_seconds()),
    )
