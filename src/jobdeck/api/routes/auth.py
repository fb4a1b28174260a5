"""/api/auth/*: sign-in with a password, sign-out, and who am I."""

from __future__ import annotations

from fastapi import Request

from jobdeck.api.deps import CurrentUser, RuntimeDep
from jobdeck.api.envelope import Envelope, ok
from jobdeck.api.responses import errors
from jobdeck.api.routing import EnvelopeRoute, TrailingSlashRouter
from jobdeck.api.schemas import LoginIn, TokenOut, UserOut
from jobdeck.web import client_address

__all__ = ["router"]

router = TrailingSlashRouter(prefix="/api/auth", tags=["auth"], route_class=EnvelopeRoute)


@router.post("/login", response_model=Envelope[TokenOut], responses=errors(401, 429, 503), operation_id="login")
async def login(request: Request, body: LoginIn, runtime: RuntimeDep) -> dict[str, object]:
    """Exchange a username and password for a bearer access token.

    Failed passwords are limited per (username, client address) and per address; past a limit the answer is 429
    with ``Retry-After`` (seconds) until the lockout ends.
    """
    token = await runtime.admin.sign_in(body.username, body.password, address=client_address(request))
    data = TokenOut(access_token=token.access_token, token_type=token.token_type, expires_in=token.expires_in)
    return ok(request, data, "Signed in")


@router.post("/logout", response_model=Envelope[None], responses=errors(401, 503), operation_id="logout")
async def logout(request: Request, user: CurrentUser, runtime: RuntimeDep) -> dict[str, object]:
    """Sign out: the access token of this request stops working at once (the user's other sessions go on).

    An API token (``jd_…``) is revoked with ``jobdeck tokens revoke`` instead; it is not affected here.
    """
    credential = request.headers.get("authorization", "").partition(" ")[2].strip()
    await runtime.admin.sign_out(user, credential)
    return ok(request, None, "Signed out")


@router.get("/me", response_model=Envelope[UserOut], responses=errors(401, 503), operation_id="getMe")
async def me(request: Request, user: CurrentUser) -> dict[str, object]:
    """The signed-in user and role."""
    return ok(request, UserOut.of(user))
