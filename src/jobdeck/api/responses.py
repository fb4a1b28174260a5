"""OpenAPI declarations of the error responses a route can give, all in the error envelope."""

from __future__ import annotations

from typing import Any

from jobdeck.api.envelope import ErrorEnvelope

__all__ = ["errors"]

_DESCRIPTIONS = {
    400: "Bad request",
    401: "Not signed in, or the token is invalid or expired",
    403: "Signed in, but this action needs the admin role",
    404: "No job or execution has this id",
    409: "The target is in the wrong state (already running, not running, finished)",
    422: "Invalid input; data.errors names each field and its problem",
    503: "The store (database) cannot be reached",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` mapping for a route: each listed status, plus 422, described by the error envelope."""
    return {
        status: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[status]} for status in sorted({*statuses, 422})
    }
