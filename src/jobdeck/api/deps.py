"""Annotated dependencies: the runtime, the service, the current user, and an admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from jobdeck.errors import AuthError, Forbidden, StoreUnavailable
from jobdeck.models import Principal
from jobdeck.runtime import Runtime
from jobdeck.service import SchedulerService

__all__ = [
    "AdminUser",
    "CurrentUser",
    "Limit",
    "Offset",
    "RuntimeDep",
    "ServiceDep",
    "current_principal",
    "get_runtime",
]

_bearer = HTTPBearer(auto_error=False, description="An access token from /api/auth/login, or an API token (jd_…)")


async def get_runtime(request: Request) -> Runtime:
    """The runtime the application's lifespan started (``JobDeck.lifespan`` stores it on ``app.state``)."""
    # async although it awaits nothing: FastAPI runs a plain function dependency in its thread pool, a thread
    # hop per request.
    runtime = getattr(request.app.state, "jobdeck", None)
    if runtime is None:
        raise StoreUnavailable("jobdeck is not running: add JobDeck.lifespan to the application")
    assert isinstance(runtime, Runtime)
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_service(runtime: RuntimeDep) -> SchedulerService:
    return runtime.service


ServiceDep = Annotated[SchedulerService, Depends(get_service)]


async def current_principal(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The signed-in caller. A host app replaces this dependency with its own (``JobDeck.use_auth``).

    :raises AuthError: no or bad credentials (401)
    """
    if credentials is None:
        raise AuthError("Not signed in: send 'Authorization: Bearer <token>'")
    return await runtime.auth.authenticate(credentials.credentials)


CurrentUser = Annotated[Principal, Depends(current_principal)]


async def admin_principal(user: CurrentUser) -> Principal:
    """The caller, who must be an admin (403 otherwise)."""
    if not user.is_admin:
        message = f"User {user.username!r} is a {user.role.value}; this action needs the admin role"
        raise Forbidden(message, actor=user.username)
    return user


AdminUser = Annotated[Principal, Depends(admin_principal)]


Limit = Annotated[int, Query(ge=1, le=200, description="Page size, 1–200")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Number of items to skip")]
