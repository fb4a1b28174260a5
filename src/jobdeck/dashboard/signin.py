"""Sign-in, sign-out, the language switch and the static assets."""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from jobdeck.auth import SESSION_COOKIE
from jobdeck.dashboard.actions import check_csrf
from jobdeck.dashboard.i18n import LANG_COOKIE, LANGUAGES
from jobdeck.dashboard.web import Ui, safe_next
from jobdeck.errors import AuthError, TooManyAttempts
from jobdeck.web import RuntimeDep, client_address

__all__ = ["routes"]

_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
_YEAR = 365 * 86400


def routes(ui: Ui) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/login", name="dashboard_login")
    async def login_page(
        request: Request, runtime: RuntimeDep, next: Annotated[str, Query(max_length=500)] = ""
    ) -> Response:
        ctx = await ui.context(request, runtime)
        if ctx.user is not None:
            return ctx.finish(RedirectResponse(safe_next(ctx, next), status_code=303))
        return ui.render(ctx, "login.html", next=safe_next(ctx, next), error=None, username="")

    @router.post("/login")
    async def login(request: Request, runtime: RuntimeDep) -> Response:
        ctx = await ui.context(request, runtime)
        form = await request.form()
        username = str(form.get("username") or "")[:64]
        password = str(form.get("password") or "")[:1024]
        back = safe_next(ctx, str(form.get("next") or ""))
        # Before sign-in there is no session: the token binds the form to this browser's nonce cookie only.
        ctx.session = None
        if not check_csrf(ctx, form):
            return ui.render(ctx, "login.html", status_code=403, next=back, error=ctx.t("err_csrf"), username=username)
        try:
            token = await runtime.admin.sign_in(username, password, address=client_address(request), via="dashboard")
        except AuthError as exc:
            if isinstance(exc, TooManyAttempts):
                error = ctx.t("err_too_many", seconds=exc.retry_after)
                page = ui.render(ctx, "login.html", status_code=429, next=back, error=error, username=username)
                page.headers["Retry-After"] = str(exc.retry_after)
                return page
            return ui.render(
                ctx, "login.html", status_code=401, next=back, error=ctx.t("err_credentials"), username=username
            )
        ctx.set_cookie(
            SESSION_COOKIE, token.access_token, max_age=token.expires_in, **ctx.cookie_options(same_site="lax")
        )
        return ctx.finish(RedirectResponse(back, status_code=303))

    @router.post("/logout")
    async def logout(request: Request, runtime: RuntimeDep) -> Response:
        ctx = await ui.context(request, runtime)
        form = await request.form()
        if ctx.user is not None and not check_csrf(ctx, form):
            return ui.answer(ctx, ok=False, message=ctx.t("err_csrf"), status=403)
        if ctx.user is not None and ctx.user.via == "password" and ctx.session:
            # The cookie's token stops working now, not when it expires (a copy of it is worthless too).
            await runtime.admin.sign_out(ctx.user, ctx.session, via="dashboard")
        ctx.set_cookie(SESSION_COOKIE, "", **ctx.cookie_options())
        return ctx.finish(RedirectResponse(ctx.url("/login"), status_code=303))

    @router.post("/lang")
    async def switch_language(request: Request, runtime: RuntimeDep) -> Response:
        ctx = await ui.context(request, runtime)
        form = await request.form()
        back = safe_next(ctx, str(form.get("next") or ""))
        if not check_csrf(ctx, form):
            return ui.answer(ctx, ok=False, message=ctx.t("err_csrf"), status=403, back=back)
        language = str(form.get("lang") or "")
        if language in LANGUAGES:
            ctx.set_cookie(LANG_COOKIE, language, max_age=_YEAR, **ctx.cookie_options(http_only=False))
        return ctx.finish(RedirectResponse(back, status_code=303))

    @router.get("/static/{name}", name="dashboard_static")
    async def static(request: Request, name: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]) -> Response:
        suffix = name[name.rfind(".") :] if "." in name else ""
        asset = resources.files("jobdeck.dashboard").joinpath("static", name)
        if suffix not in _TYPES or not asset.is_file():
            return Response("not found", status_code=404, media_type="text/plain")
        body = asset.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=_TYPES[suffix], headers=headers)

    return router
