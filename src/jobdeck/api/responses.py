"""OpenAPI declarations of the error responses a route can give, all in the error envelope.

Routes declare what only they know (``errors(404, 409)``); :func:`install_openapi` adds what their dependencies
imply — 401 for a signed-in user, 403 for an admin, 503 for the runtime, 422 for any input — and replaces FastAPI's
default ``HTTPValidationError`` with the envelope, so the document tells the truth for routes added later too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant

from jobdeck.api.envelope import ErrorEnvelope, iter_api_routes

__all__ = ["errors", "implied_statuses", "install_openapi"]

_DESCRIPTIONS = {
    400: "Bad request: the body cannot be read (not UTF-8, or not the declared content type)",
    401: "Not signed in, or the token is invalid or expired",
    403: "Signed in, but this action needs the admin role",
    404: "No job or execution has this id",
    409: "The target is in the wrong state (already running, not running, finished)",
    422: "Invalid input; data.errors names each field and its problem",
    429: "Too many failed sign-ins: wait the seconds of Retry-After (also data.retry_after)",
    503: "The store (database) cannot be reached",
}

_ERROR_REF = "#/components/schemas/ErrorEnvelope"
_FASTAPI_DEFAULTS = ("HTTPValidationError", "ValidationError")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` mapping for a route: each listed status, plus 422, described by the error envelope."""
    return {
        status: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[status]} for status in sorted({*statuses, 422})
    }


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def implied_statuses(dependant: Dependant, operation: dict[str, Any]) -> set[int]:
    """The error statuses a route's dependencies and inputs can give, whatever its own code does.

    401 when it takes credentials (its operation names a security scheme) or needs an admin, 403 when it needs an
    admin, 503 when it needs the runtime, 422 when it has any parameter or body, 400 when it has a body (one that
    cannot even be decoded is refused before validation).
    """
    from jobdeck.api.deps import admin_principal, get_runtime

    calls = set(_calls(dependant))
    statuses = {status for call, status in ((admin_principal, 403), (get_runtime, 503)) if call in calls}
    if operation.get("security") or admin_principal in calls:
        statuses.add(401)
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.add(422)
    if operation.get("requestBody"):
        statuses.add(400)
    return statuses


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _ERROR_REF}}}


def _tidy(schema: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorEnvelope" not in components:
        definitions = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(definitions.pop("$defs", {}))
        components["ErrorEnvelope"] = definitions
    for path, methods, route in iter_api_routes(app):
        if not route.include_in_schema:
            continue
        operations = schema.get("paths", {}).get(path, {})
        for method in sorted(methods):
            operation = operations.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(implied_statuses(route.dependant, operation)):
                response = responses.setdefault(str(status), {"description": _DESCRIPTIONS[status]})
                content = response.get("content", {}).get("application/json", {})
                if not content.get("schema") or content["schema"].get("$ref", "").endswith("/HTTPValidationError"):
                    response["content"] = _error_content()
                    response["description"] = _DESCRIPTIONS[status]
    for name in _FASTAPI_DEFAULTS:
        components.pop(name, None)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` declare every error response in the envelope (see the module docstring)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _tidy(generate(), app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
