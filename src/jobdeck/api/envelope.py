"""The response envelope, and the single place that maps errors to HTTP status codes."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from fastapi import FastAPI, Request
from fastapi import routing as fastapi_routing
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobdeck.errors import (
    Forbidden,
    InvalidInput,
    JobdeckError,
    TooManyAttempts,
)
from jobdeck.models import AuditAction
from jobdeck.web import STATUS_BY_ERROR, client_address, status_for  # shared with the dashboard

__all__ = [
    "STATUS_BY_ERROR",
    "Envelope",
    "ErrorEnvelope",
    "RequestIdMiddleware",
    "allowed_methods",
    "client_address",
    "handle_error",
    "install_error_handlers",
    "iter_api_routes",
    "ok",
    "status_for",
]

log = logging.getLogger("jobdeck.api")

T = TypeVar("T")


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_IDS = random.Random()
"""Request ids must be unique, not secret: a seeded generator of our own spares a system call per request."""
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_IDS.seed)  # forked workers (gunicorn --preload) must not repeat ids

_REASONS = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


class Envelope(BaseModel, Generic[T]):
    """Every successful response: ``{success, data, message, timestamp, request_id}``."""

    success: bool = True
    data: T
    message: str = ""
    timestamp: datetime
    request_id: str


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class ErrorData(BaseModel):
    errors: list[FieldError] | None = None
    retry_after: int | None = Field(default=None, description="429: seconds to wait, as in Retry-After")


class ErrorEnvelope(BaseModel):
    """Every error response: the envelope with ``success: false``, a machine-readable ``code`` and ``detail``."""

    success: bool = False
    data: ErrorData | None = None
    message: str
    detail: str = Field(description="The same as message, for clients written for FastAPI's defaults")
    code: str
    timestamp: datetime
    request_id: str


def new_request_id() -> str:
    """16 hex digits."""
    return f"{_IDS.getrandbits(64):016x}"


def request_id_of(request: Request) -> str:
    """The request's id: set by RequestIdMiddleware, or made here when jobdeck is embedded without it."""
    request_id = request.scope.get("jobdeck.request_id")
    if request_id is None:
        request_id = request.scope["jobdeck.request_id"] = new_request_id()
    return str(request_id)


def ok(request: Request, data: Any = None, message: str = "") -> dict[str, Any]:
    """A success envelope for the route's response model to validate and render."""
    return {
        "success": True,
        "data": data,
        "message": message,
        "timestamp": datetime.now(UTC),
        "request_id": request_id_of(request),
    }


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    data: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {
        "success": False,
        "data": data,
        "message": message,
        "detail": message,
        "code": code,
        "timestamp": datetime.now(UTC).isoformat(),
        "request_id": request_id_of(request),
    }
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers or None)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:] or parts
    return ".".join(parts) or "body"


async def _on_jobdeck_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, JobdeckError)
    status = status_for(exc)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    data: dict[str, Any] | None = None
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidInput) and exc.field:
        data = {"errors": [{"field": exc.field, "message": exc.message, "type": exc.code}]}
    if isinstance(exc, TooManyAttempts):
        data = {"retry_after": exc.retry_after}
        headers["Retry-After"] = str(exc.retry_after)
    if status in (401, 403) and request.method not in _SAFE_METHODS and not request.url.path.endswith("/auth/login"):
        await _audit_refused(request, exc, status)
    return error_response(request, status, exc.code, exc.message, data, headers)


async def _audit_refused(request: Request, exc: JobdeckError, status: int) -> None:
    """A refused attempt at a change, rolled up per (actor, address) like failed sign-ins (sign-in audits its own)."""
    runtime = getattr(request.app.state, "jobdeck", None)
    audit = getattr(getattr(runtime, "service", None), "audit", None)
    if audit is None:
        return
    actor = (exc.actor if isinstance(exc, Forbidden) else None) or "anonymous"
    details = {"status": status, "method": request.method, "path": request.url.path}
    await audit.roll_up(
        AuditAction.ACCESS_DENIED, actor, address=client_address(request), error=exc.message, details=details
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        field = _field_name(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            field = "body"
        errors.append({"field": field, "message": str(err.get("msg", "invalid")), "type": str(err.get("type", ""))})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return error_response(request, 422, "validation_error", f"Invalid request: {summary}", {"errors": errors})


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _REASONS.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Every method the path answers (RFC 9110), not only those of the first route that matched it.
        allowed = allowed_methods(request.app, request.url.path)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    return error_response(request, exc.status_code, code, str(exc.detail), headers=headers)


def iter_api_routes(app: Any) -> Iterator[tuple[str, set[str], Any]]:
    """``(path template, methods, route)`` of every APIRoute an app serves, through included routers too.

    FastAPI ≥ 0.160 keeps included routers nested (``fastapi.routing.iter_route_contexts`` walks them, and its
    contexts proxy the route with the full path); older versions list the routes flat.
    """
    contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    routes = contexts(app.routes) if contexts is not None else app.routes
    for route in routes:
        original = getattr(route, "original_route", route)
        if isinstance(original, APIRoute) and route.path_format:
            yield str(route.path_format), set(route.methods or ()), route


def allowed_methods(app: Any, path: str) -> list[str]:
    """The methods of every route whose path template matches ``path``, sorted."""
    methods: set[str] = set()
    for template, route_methods, _ in iter_api_routes(app):
        if compile_path(template)[0].match(path):
            methods |= route_methods
    return sorted(methods)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, request_id_of(request))
    return error_response(request, 500, "internal_error", "Internal server error; the request id is in the server log")


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    """The error envelope for any exception, with the status its class maps to."""
    if isinstance(exc, JobdeckError):
        return await _on_jobdeck_error(request, exc)
    if isinstance(exc, RequestValidationError):
        return await _on_validation_error(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return await _on_http_error(request, exc)
    return await _on_unexpected(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the envelope; nothing but the envelope ever reaches a client."""
    app.add_exception_handler(JobdeckError, _on_jobdeck_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


class RequestIdMiddleware:
    """Gives each request an id (the caller's ``X-Request-ID`` when sane) and echoes it in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else new_request_id()
        scope["jobdeck.request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode("latin-1"))]
                # nosniff: a browser must never run a response (a run's log, a JSON body) as another type.
                if not any(name.lower() == b"x-content-type-options" for name, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)
