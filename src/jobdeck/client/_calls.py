"""Every route as a request description, shared by the sync and async clients (which only send them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from jobdeck.errors import (
    AuthError,
    Forbidden,
    InvalidInput,
    InvalidState,
    JobdeckError,
    NotFound,
    StoreUnavailable,
    TooManyAttempts,
    error_from_code,
)

T = TypeVar("T")

__all__ = ["NO_BODY", "Call", "ServerUnreachable", "error_of", "unwrap"]

NO_BODY: Any = object()

# The status → class of an answer whose code the error tree does not know (kept in step with
# jobdeck.api.envelope.STATUS_BY_ERROR by a test; importing it would drag FastAPI into every client).
_BY_STATUS: dict[int, type[JobdeckError]] = {
    401: AuthError,
    403: Forbidden,
    404: NotFound,
    409: InvalidState,
    422: InvalidInput,
    429: TooManyAttempts,
    503: StoreUnavailable,
}


class ServerUnreachable(JobdeckError):
    """No answer from the server (connection refused, timeout, DNS): the client's own error."""

    code = "server_unreachable"


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request; ``T`` is the type of the envelope's ``data`` it answers with."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = NO_BODY
    headers: dict[str, str] = field(default_factory=dict)
    envelope: bool = True
    """False for the probes outside /api (``/healthz``), which answer a bare object."""

    def query(self) -> dict[str, str]:
        """The query parameters that are set, rendered as the API reads them."""
        rendered: dict[str, str] = {}
        for key, value in self.params.items():
            if value is None:
                continue
            if isinstance(value, bool):
                rendered[key] = "true" if value else "false"
            elif isinstance(value, datetime):
                rendered[key] = value.isoformat()
            else:
                rendered[key] = str(value)
        return rendered

    def request(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        kwargs: dict[str, Any] = {"params": self.query(), "headers": self.headers}
        if self.json is not NO_BODY:
            kwargs["json"] = self.json
        return client.build_request(self.method, self.path, **kwargs)


def segment(value: str) -> str:
    """A path segment, escaped."""
    return quote(value, safe="")


def error_of(response: httpx.Response) -> JobdeckError:
    """The jobdeck error an error answer stands for, with ``status``, ``request_id`` and ``data`` attached."""
    request_id = response.headers.get("x-request-id")
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    fallback = _BY_STATUS.get(response.status_code, JobdeckError)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        error = error_from_code(str(body.get("code") or fallback.code), body["message"], fallback=fallback)
        request_id = body.get("request_id") or request_id
        data = body.get("data")
    else:
        text = response.text.strip()[:200]
        message = f"HTTP {response.status_code}" + (f": {text}" if text else "")
        error = error_from_code(fallback.code, message, fallback=fallback)
        data = None
    error.http_status = response.status_code
    error.request_id = request_id
    error.data = data
    if isinstance(error, TooManyAttempts) and isinstance(data, dict):
        error.retry_after = int(data.get("retry_after") or response.headers.get("retry-after") or 0)
    return error


def unwrap(response: httpx.Response, *, envelope: bool = True) -> Any:
    """The envelope's ``data`` of a success answer (the whole body for a probe: ``envelope=False``).

    :raises JobdeckError: the class of the tree the answer's ``code`` names (``status``, ``request_id`` and
        ``data`` attached); a plain JobdeckError when the answer is not an envelope at all
    """
    if not envelope and response.status_code in (200, 503):
        return response.json()
    if response.is_error:
        raise error_of(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("success") is not True or "data" not in body:
        error = JobdeckError(f"{response.request.method} {response.request.url.path}: the answer is not an envelope")
        error.http_status = response.status_code
        error.request_id = response.headers.get("x-request-id")
        error.data = None
        raise error
    return body["data"]


def unreachable(base_url: str, exc: httpx.TransportError) -> ServerUnreachable:
    return ServerUnreachable(f"cannot reach jobdeck at {base_url}: {exc.__class__.__name__}: {exc}".rstrip(": "))
