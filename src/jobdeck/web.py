"""What the API and the dashboard share over HTTP: the runtime behind a request, the status of an error and the
caller's address. It sits below both, so neither of them imports the other."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from jobdeck.errors import (
    AuthError,
    Forbidden,
    InvalidInput,
    InvalidState,
    JobdeckError,
    NotFound,
    StoreUnavailable,
    TooManyAttempts,
)
from jobdeck.runtime import Runtime

__all__ = ["STATUS_BY_ERROR", "RuntimeDep", "client_address", "get_runtime", "status_for"]

STATUS_BY_ERROR: dict[type[JobdeckError], int] = {
    NotFound: 404,
    InvalidState: 409,
    InvalidInput: 422,
    AuthError: 401,
    Forbidden: 403,
    TooManyAttempts: 429,
    StoreUnavailable: 503,
}


def status_for(error: JobdeckError) -> int:
    """The HTTP status of a jobdeck error: the entry of its nearest class in STATUS_BY_ERROR."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def client_address(request: Request) -> str:
    """The client's address: the socket's peer. Behind a reverse proxy, uvicorn puts the proxy's
    ``X-Forwarded-For`` here only when the proxy is trusted (``--forwarded-allow-ips`` / ``FORWARDED_ALLOW_IPS``)."""
    return request.client.host if request.client is not None else "unknown"


async def get_runtime(request: Request) -> Runtime:
    """The runtime the application's lifespan started (``JobDeck.lifespan`` stores it on ``app.state``)."""
    # async although it awaits nothing: FastAPI runs a plain function dependency in its thread pool, a thread
    # hop per request.
    runtime = getattr(request.app.state, "jobdeck", None)
    if runtime is None:
        raise StoreUnavailable("jobdeck is not running: add JobDeck.lifespan to the application")
    assert isinstance(runtime, Runtime)
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
