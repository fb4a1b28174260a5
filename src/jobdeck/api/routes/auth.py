"""/api/auth/*: sign-in with a password, and who am I."""

from __future__ import annotations

from fastapi import Request

from jobdeck.api.deps import CurrentUser, RuntimeDep
from jobdeck.api.envelope import Envelope, ok
from jobdeck.api.responses import errors
from jobdeck.api.routing import EnvelopeRoute, TrailingSlashRouter
from jobdeck.api.schemas import LoginIn, TokenOut, UserOut
from jobdeck.errors import AuthError
from jobdeck.models import AuditAction

__all__ = ["router"]

router = TrailingSlashRouter(prefix="/api/auth", tags=["auth"], route_class=EnvelopeRoute)


@router.post("/login", response_model=Envelope[TokenOut], responses=errors(401, 503), operation_id="login")
async def login(request: Request, body: LoginIn, runtime: RuntimeDep) -> dict[str, object]:
    """Exchange a username and password for a bearer access token."""
    try:
        token = await runtime.auth.login(body.username, body.password)
    except AuthError as exc:
        await runtime.service.audit.record(AuditAction.LOGIN, body.username, ok=False, error=exc.message)
        raise
    await runtime.service.audit.record(AuditAction.LOGIN, body.username)
    data = TokenOut(access_token=token.access_token, token_type=token.token_type, expires_in=token.expires_in)
    return ok(request, data, "Signed in")


@router.get("/me", response_model=Envelope[UserOut], responses=errors(401, 503), operation_id="getMe")
async def me(request: Request, user: CurrentUser) -> dict[str, object]:
    """The signed-in user and role."""
    return ok(request, UserOut.of(user))
