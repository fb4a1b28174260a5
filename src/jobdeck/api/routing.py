"""EnvelopeRoute: jobdeck's routes answer errors in the envelope even when a host app has its own handlers."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobdeck.api.envelope import handle_error
from jobdeck.errors import JobdeckError

__all__ = ["EnvelopeRoute"]


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
