"""The HTTP executor: one request per run with httpx; the status decides the outcome, the body is kept (truncated).

Success is a status among ``expect_status`` (any 2xx when empty). The run's return value is
``{"status": …, "body": …}`` (the body cut to 2 KB); the request and the response's status line and body (cut to
the same size) also go to the run's log. Another status fails the run with the status and the body's start.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from jobdeck.engine.executors.base import JobCall, JobFailure, UntypedExecutor
from jobdeck.models import HttpTarget

__all__ = ["HttpExecutor"]

MAX_BODY_CHARS = 2048


class HttpExecutor(UntypedExecutor):
    """Sends a :class:`HttpTarget`'s request. A run's kwargs, when any, are sent as query parameters."""

    def __init__(self, target: HttpTarget, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._target = target
        self._transport = transport

    async def invoke(self, call: JobCall) -> Any:
        target = self._target
        ctx = call.ctx
        params = {name: _query_value(value) for name, value in call.kwargs.items()}
        content = None
        headers = dict(target.headers)
        if target.json is not None:
            content = json.dumps(target.json).encode("utf-8")
            headers.setdefault("content-type", "application/json")
        elif target.body is not None:
            content = target.body.encode("utf-8")
            headers.setdefault("content-type", "text/plain; charset=utf-8")
        ctx.log(f"[jobdeck] {target.method} {target.url}", level="info")
        try:
            async with httpx.AsyncClient(timeout=target.timeout, transport=self._transport) as client:
                response = await client.request(
                    target.method, target.url, params=params or None, headers=headers, content=content
                )
        except httpx.TimeoutException as exc:
            raise JobFailure(f"{target.method} {target.url}: no response within {target.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise JobFailure(f"{target.method} {target.url} failed: {type(exc).__name__}: {exc}") from exc
        body = _cut(response.text)
        elapsed = response.elapsed.total_seconds()
        ctx.log(f"[jobdeck] HTTP {response.status_code} {response.reason_phrase} in {elapsed:.3f} s", level="info")
        if body:
            ctx.log(body, level="info")
        expected = target.expect_status
        if (response.status_code in expected) if expected else response.is_success:
            return {"status": response.status_code, "body": body}
        wanted = ", ".join(str(code) for code in expected) if expected else "2xx"
        raise JobFailure(
            f"HTTP {response.status_code} from {target.method} {target.url} (expected {wanted})"
            + (f": {body[:300]}" if body else ""),
            detail=body or None,
        )


def _cut(text: str) -> str:
    return text if len(text) <= MAX_BODY_CHARS else text[:MAX_BODY_CHARS] + "…[truncated]"


def _query_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
