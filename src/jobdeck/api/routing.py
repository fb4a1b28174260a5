"""EnvelopeRoute: jobdeck's routes answer errors in the envelope even when a host app has its own handlers.
TrailingSlashRouter: ``/jobs/`` answers as ``/jobs`` does, without a redirect."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobdeck.api.envelope import handle_error
from jobdeck.errors import JobdeckError

__all__ = ["EnvelopeRoute", "TrailingSlashRouter"]


class EnvelopeRoute(APIRoute):
    """Turns the errors a jobdeck route raises into the error envelope before the host app sees them."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def envelope_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except (JobdeckError, RequestValidationError, StarletteHTTPException) as exc:
                return await handle_error(request, exc)

        return envelope_errors


class TrailingSlashRouter(APIRouter):
    """Registers every route a second time with a trailing slash, left out of the OpenAPI document.

    Clients of the original system call some paths with a slash (``/api/scheduler/jobs/``); Starlette's answer, a
    307 to the other spelling, is a status no route declares and a second round trip (which some clients do not
    follow for POST). Both spellings answer the same, in an app of jobdeck's or in a host app.
    """

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, endpoint, **kwargs)
        if path and not path.endswith("/"):
            super().add_api_route(path + "/", endpoint, **{**kwargs, "include_in_schema": False})
