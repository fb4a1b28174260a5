"""Annotated dependencies: the runtime, the service, the current user, and an admin (the permission policy is
:mod:`jobdeck.access`, shared with the dashboard)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from jobdeck.access import Permission, authorize
from jobdeck.errors import AuthError
from jobdeck.models import Principal
from jobdeck.service import SchedulerService
from jobdeck.web import RuntimeDep, get_runtime

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
    """The caller, who must be allowed to change things (:data:`Permission.OPERATE`; 403 otherwise)."""
    return authorize(user, Permission.OPERATE)


AdminUser = Annotated[Principal, Depends(admin_principal)]


Limit = Annotated[int, Query(ge=1, le=200, description="Page size, 1–200")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Number of items to skip")]
