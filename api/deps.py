"""The typed dependencies every route is written with: the store session, the settings, the clock, and the
caller (`CurrentUser`, or `RequireRole(...)` for a minimum role), so no route can forget to ask."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session

from api.auth import AuthFailure, Principal, api_token_principal, session_principal
from api.db_slots import DbSlots
from api.security import API_TOKEN_PREFIX, SigningKey, TokenError, decode_access_token
from core.clock import Clock
from core.config import Settings
from core.store.auth import Role

bearer = HTTPBearer(
    auto_error=False,
    description="An access token from POST /auth/login, or an API token (`bta_...`).",
)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def get_db(request: Request, engine: Annotated[Engine, Depends(get_engine)]) -> AsyncIterator[Session]:
    """A session for the request, once one of the store's slots is free (waited for on the event loop: see
    api/db_slots.py). Opening one does no I/O (it connects at its first query), so it is made on the loop;
    closing it returns the connection to the pool (a rollback: I/O), so that runs in a worker thread. Every
    dependency or route that queries is a sync function, run in the worker threads."""
    slots: DbSlots = request.app.state.db_slots
    async with slots.slot():
        session = Session(engine)
        try:
            yield session
        finally:
            await run_in_threadpool(session.close)


async def get_now(clock: Annotated[Clock, Depends(get_clock)]) -> datetime:
    return clock.now()


def get_signing_key(request: Request) -> str:
    """Sync: the first call may make or read the key file."""
    key: SigningKey = request.app.state.signing_key
    return key.get()


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_db)]
NowDep = Annotated[datetime, Depends(get_now)]
SigningKeyDep = Annotated[str, Depends(get_signing_key)]
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def refuse(failure: AuthFailure) -> HTTPException:
    headers = {"WWW-Authenticate": "Bearer"} if failure.status == status.HTTP_401_UNAUTHORIZED else None
    return HTTPException(status_code=failure.status, detail=failure.reason, headers=headers)


def get_current_user(
    session: SessionDep, credentials: CredentialsDep, request: Request, now: NowDep
) -> Principal:
    """The caller, from `Authorization: Bearer <access token or API token>`, as the store has them now."""
    if credentials is None:
        raise refuse(AuthFailure(401, "not authenticated: send Authorization: Bearer <token>"))
    token = credentials.credentials
    try:
        if token.startswith(API_TOKEN_PREFIX):
            return api_token_principal(session, token, now=now)
        try:
            claims = decode_access_token(token, get_signing_key(request), now=now)
        except TokenError as exc:
            raise AuthFailure(401, str(exc)) from None
        return session_principal(session, claims.subject)
    except AuthFailure as failure:
        raise refuse(failure) from None


CurrentUser = Annotated[Principal, Depends(get_current_user)]


class RequireRole:
    """A dependency: the caller, when their role is at least `minimum`; admin routes also answer only the
    client networks of `api.admin_networks` (when set; behind the proxy, the address it forwards)."""

    def __init__(self, minimum: Role) -> None:
        self.minimum = minimum

    async def __call__(self, caller: CurrentUser, request: Request, settings: SettingsDep) -> Principal:
        return admitted(caller, self.minimum, request, settings)


def admitted(caller: Principal, minimum: Role, request: Request, settings: Settings) -> Principal:
    """The caller, when their role is at least `minimum` (and, for admin routes, their network allowed)."""
    if not caller.role.at_least(minimum):
        raise refuse(
            AuthFailure(
                403, f"needs role {minimum.value} or above; {caller.user.name} acts as {caller.role.value}"
            )
        )
    if minimum is Role.ADMIN and settings.api.admin_networks:
        address = request.client.host if request.client else ""
        if not _in_networks(address, settings):
            raise refuse(
                AuthFailure(403, f"admin routes are not open to clients at {address or 'an unknown address'}")
            )
    return caller


def _in_networks(address: str, settings: Settings) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.api.admin_networks)


Viewer = Annotated[Principal, Depends(RequireRole(Role.VIEWER))]
Analyst = Annotated[Principal, Depends(RequireRole(Role.ANALYST))]
Operator = Annotated[Principal, Depends(RequireRole(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(RequireRole(Role.ADMIN))]


def unprocessable(field: str, reason: str, *, where: str = "body") -> RequestValidationError:
    """A 422 found by the route, in the shape of every other 422 (a list of errors with the field's location),
    so a client shows the reason next to the field whichever check refused it."""
    return RequestValidationError(
        [{"type": "value_error", "loc": (where, field), "msg": reason, "input": None}]
    )
