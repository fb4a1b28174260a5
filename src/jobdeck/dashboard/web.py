"""The dashboard's plumbing: templates, the per-request context (user, language, CSRF), rendering and answers."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from jobdeck._version import __version__
from jobdeck.access import Permission, may
from jobdeck.auth import CSRF_COOKIE, SESSION_COOKIE
from jobdeck.dashboard import formatting
from jobdeck.dashboard.i18n import LANG_COOKIE, Translator, pick_language
from jobdeck.errors import AuthError
from jobdeck.models import Principal
from jobdeck.runtime import Runtime

__all__ = ["FRAGMENT_HEADER", "Ctx", "Ui"]

FRAGMENT_HEADER = "x-jobdeck-fragment"
"""Live pages re-fetch themselves with this header to get only their ``main`` block."""

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
_YEAR = 365 * 86400
_FLASH_COOKIE = "jobdeck_flash"


@dataclass(kw_only=True)
class Ctx:
    """Everything a page or action needs about the request: who, in which language and timezone, and the CSRF token."""

    request: Request
    runtime: Runtime
    user: Principal | None
    session: str | None
    t: Translator
    now: datetime
    root: str
    nonce: str
    new_nonce: bool
    cookies: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def tz(self) -> ZoneInfo:
        return self.runtime.display_tz

    @property
    def is_admin(self) -> bool:
        """Whether the pages show the actions (the same policy decides whether an action is allowed)."""
        return may(self.user, Permission.OPERATE)

    @property
    def csrf(self) -> str:
        return self.runtime.auth.csrf_token(self.nonce, self.session)

    @property
    def secure(self) -> bool:
        return self.request.url.scheme == "https"

    def url(self, path: str, **query: Any) -> str:
        """A path inside the dashboard (``/jobs/x``), wherever it is mounted, with the non-empty query values."""
        params = {k: v for k, v in query.items() if v not in (None, "", False)}
        return f"{self.root}{path}" + (f"?{urlencode(params)}" if params else "")

    def login_redirect(self) -> Response:
        here = self.request.url.path + (f"?{self.request.url.query}" if self.request.url.query else "")
        return RedirectResponse(self.url("/login") + f"?next={quote(here)}", status_code=303)

    def set_cookie(self, name: str, value: str, **options: Any) -> None:
        self.cookies.append((name, value, options))

    def cookie_options(self, *, http_only: bool = True, same_site: str = "lax") -> dict[str, Any]:
        return {"path": self.root or "/", "httponly": http_only, "samesite": same_site, "secure": self.secure}

    def finish(self, response: Response) -> Response:
        """Attach the cookies this request decided on, and the headers every dashboard answer carries."""
        if self.new_nonce:
            response.set_cookie(CSRF_COOKIE, self.nonce, max_age=_YEAR, **self.cookie_options(same_site="strict"))
        for name, value, options in self.cookies:
            if value:
                response.set_cookie(name, value, **options)
            else:
                response.delete_cookie(name, path=options.get("path", "/"))
        response.headers["Cache-Control"] = "no-store"
        response.headers["Vary"] = "Cookie, Accept-Language"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Content-Security-Policy"] = _CSP
        return response


class Ui:
    """The dashboard's templates and helpers; one per dashboard router (nothing is built at import time)."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("jobdeck.dashboard", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["version"] = __version__
        self.env.filters["duration"] = formatting.format_duration
        self.env.filters["percent"] = formatting.format_percent
        self.env.filters["tojson_attr"] = lambda value: json.dumps(value, ensure_ascii=False)

    async def context(self, request: Request, runtime: Runtime) -> Ctx:
        """The request's context; ``user`` is None when the session cookie is missing, expired or invalid."""
        session = request.cookies.get(SESSION_COOKIE) or None
        user: Principal | None = None
        if session:
            try:
                user = await runtime.auth.authenticate_session(session)
            except AuthError:
                session = None
        nonce = request.cookies.get(CSRF_COOKIE) or ""
        new_nonce = len(nonce) < 16
        if new_nonce:
            nonce = secrets.token_urlsafe(32)
        language = pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
        return Ctx(
            request=request,
            runtime=runtime,
            user=user,
            session=session,
            t=Translator(language),
            now=runtime.clock.now(),
            root=str(request.scope.get("root_path", "")).rstrip("/"),
            nonce=nonce,
            new_nonce=new_nonce,
        )

    def render(self, ctx: Ctx, template: str, status_code: int = 200, **values: Any) -> Response:
        """The page — or only its ``main`` block when a live page re-fetches itself."""
        tmpl = self.env.get_template(template)
        variables = self._variables(ctx, values)
        variables["flash"] = self._take_flash(ctx)
        if ctx.request.headers.get(FRAGMENT_HEADER) == "main" and "main" in tmpl.blocks:
            html = "".join(tmpl.blocks["main"](tmpl.new_context(variables)))
        else:
            html = tmpl.render(variables)
        return ctx.finish(HTMLResponse(html, status_code=status_code))

    def _variables(self, ctx: Ctx, values: Mapping[str, Any]) -> dict[str, Any]:
        t = ctx.t
        tz = ctx.tz
        now = ctx.now
        return {
            "ctx": ctx,
            "t": t,
            "lang": t.language,
            "user": ctx.user,
            "is_admin": ctx.is_admin,
            "root": ctx.root,
            "csrf": ctx.csrf,
            "url": ctx.url,
            "now": now,
            "tz_name": str(tz),
            "tz_offset": formatting.format_offset(now.astimezone(tz)),
            "dt": lambda moment, seconds=True: formatting.format_datetime(moment, tz, seconds=seconds),
            "iso": lambda moment: "" if moment is None else moment.astimezone(tz).isoformat(),
            "rel": lambda moment: formatting.relative_time(moment, now, t),
            "elapsed": lambda since: formatting.format_elapsed(since, now),
            "strings": t.for_script(),
            "path": ctx.request.url.path,
            **values,
        }

    @staticmethod
    def _take_flash(ctx: Ctx) -> dict[str, Any] | None:
        raw = ctx.request.cookies.get(_FLASH_COOKIE)
        if not raw:
            return None
        ctx.set_cookie(_FLASH_COOKIE, "", **ctx.cookie_options())
        try:
            flash = json.loads(base64.urlsafe_b64decode(raw.encode()))
        except (ValueError, binascii.Error):
            return None
        if not isinstance(flash, dict):
            return None
        return {"ok": bool(flash.get("ok")), "message": str(flash.get("message", ""))[:500]}

    @staticmethod
    def wants_json(request: Request) -> bool:
        return "application/json" in request.headers.get("accept", "")

    def answer(
        self,
        ctx: Ctx,
        *,
        ok: bool,
        message: str,
        status: int = 200,
        back: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Response:
        """An action's answer: JSON for the page's script; without script, a redirect back with a flash message
        (success) or a page with the refusal's status (failure)."""
        if self.wants_json(ctx.request):
            body = {"success": ok, "message": message, "data": dict(data or {})}
            return ctx.finish(JSONResponse(body, status_code=status))
        if not ok and status >= 400:
            # A refused plain form post gets a page with the refusal's status, not a redirect that hides it.
            return self.render(ctx, "error.html", status_code=status, status=status, code="refused", message=message)
        flash = base64.urlsafe_b64encode(json.dumps({"ok": ok, "message": message}).encode()).decode()
        ctx.set_cookie(_FLASH_COOKIE, flash, **ctx.cookie_options())
        return ctx.finish(RedirectResponse(back or ctx.url("/"), status_code=303))


def safe_next(ctx: Ctx, target: str | None) -> str:
    """A same-site path to go back to after a form: never another host (no open redirect)."""
    root = ctx.root or ""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ctx.url("/")
    if not root or target == root or target.startswith(root + "/"):
        return target
    return ctx.url("/")
