"""Helpers for testing code built on jobdeck (and jobdeck itself): a whole jobdeck on an in-memory store, a
controllable clock and event waits.

Your jobs, the API and the dashboard, without a database file or server::

    deck = memory_deck()

    @deck.job("hello", schedule="every 1h")
    async def hello(ctx: JobContext) -> str:
        return "hi"

    async with app_client(memory_app(deck)) as client:  # started, and signed in as admin
        run = (await client.post("/api/scheduler/jobs/hello/trigger")).json()["data"]
        done = await wait_for_execution(deck.runtime.store, run["id"], lambda e: e.status.is_terminal, timeout=3)

Wait for what you expect, with a deadline, instead of sleeping and hoping.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from jobdeck.clock import Clock, ensure_utc
from jobdeck.errors import ExecutionNotFound
from jobdeck.models import Execution
from jobdeck.store.base import ReadStore
from jobdeck.store.memory import MEMORY_URL

if TYPE_CHECKING:  # the app's modules are imported when an app is built, not with these helpers
    import httpx
    from fastapi import FastAPI

    from jobdeck.api.app import JobDeck
    from jobdeck.config import Settings

__all__ = [
    "TEST_ADMIN_PASSWORD",
    "FrozenClock",
    "app_client",
    "memory_app",
    "memory_deck",
    "memory_settings",
    "wait_for_execution",
    "wait_until",
]

TEST_ADMIN_PASSWORD = "jobdeck-test-admin"  # a test app's only: in memory, gone with the process
"""The password of the ``admin`` user of an app built on :func:`memory_settings`."""
_TEST_SECRET_KEY = "jobdeck-test-secret-key-of-at-least-32-bytes"

T = TypeVar("T")


class FrozenClock:
    """A :class:`~jobdeck.clock.Clock` that only moves when told to. Thread-safe.

    >>> clock = FrozenClock(datetime(2026, 3, 6, 9, 30, tzinfo=UTC))
    >>> clock.advance(90)  # seconds, or a timedelta
    """

    def __init__(self, at: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = ensure_utc(at) if at is not None else datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        """The frozen instant, aware UTC."""
        with self._lock:
            return self._now

    def set(self, at: datetime) -> None:
        """Jump to ``at`` (aware; converted to UTC).

        :raises ValueError: ``at`` is naive
        """
        value = ensure_utc(at)
        with self._lock:
            self._now = value

    def advance(self, by: float | timedelta) -> datetime:
        """Move forward by ``by`` (seconds or a timedelta) and return the new instant."""
        delta = by if isinstance(by, timedelta) else timedelta(seconds=by)
        with self._lock:
            self._now += delta
            return self._now


async def wait_until(
    probe: Callable[[], Awaitable[T]],
    predicate: Callable[[T], bool],
    *,
    timeout: float,  # noqa: ASYNC109 — a polling deadline is the point of this helper
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Call ``probe`` until ``predicate`` holds for its result, and return that result.

    :raises AssertionError: the deadline passed; the message shows the last value seen
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: T | None = None
    seen = False
    while True:
        last = await probe()
        seen = True
        if predicate(last):
            return last
        if loop.time() >= deadline:
            break
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout} s; last value seen: {last!r}" if seen else what)


async def wait_for_execution(
    store: ReadStore,
    execution_id: str,
    predicate: Callable[[Execution], bool],
    timeout: float = 5.0,  # noqa: ASYNC109 — a polling deadline is the point of this helper
    *,
    interval: float = 0.02,
) -> Execution:
    """Poll an execution until ``predicate`` holds, and return it. A record that does not exist yet is waited
    for too.

    :raises AssertionError: the deadline passed; the message shows the last record seen (or that none was)
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Execution | None = None
    while True:
        try:
            last = await store.get_execution(execution_id)
        except ExecutionNotFound:
            last = None
        if last is not None and predicate(last):
            return last
        if loop.time() >= deadline:
            break
        await asyncio.sleep(interval)
    seen = repr(last) if last is not None else "no such execution"
    raise AssertionError(
        f"execution {execution_id} did not reach the expected state within {timeout} s; last seen: {seen}"
    )


def memory_settings(**overrides: Any) -> Settings:
    """Settings for a jobdeck on a :class:`~jobdeck.store.memory.MemoryStore`: ``memory://``, the engine on the
    caller's event loop, the ``admin`` password :data:`TEST_ADMIN_PASSWORD`, a fixed secret key, UTC; ``overrides``
    set any other field (keyword arguments of :class:`~jobdeck.config.Settings`)."""
    from jobdeck.config import Settings

    values: dict[str, Any] = {
        "database_url": MEMORY_URL,
        "engine_thread": False,
        "admin_password": TEST_ADMIN_PASSWORD,
        "secret_key": _TEST_SECRET_KEY,
        "timezone": "UTC",
    }
    return Settings(**{**values, **overrides})


def memory_deck(settings: Settings | None = None, *, clock: Clock | None = None) -> JobDeck:
    """A :class:`~jobdeck.JobDeck` on a fresh in-memory store, to register jobs on (``@deck.job``); ``settings``
    default to :func:`memory_settings`, and their database is ``memory://`` whatever they say."""
    from jobdeck.api.app import JobDeck

    chosen = memory_settings() if settings is None else settings
    return JobDeck(chosen.model_copy(update={"database_url": MEMORY_URL}), clock=clock)


def memory_app(deck: JobDeck | None = None, *, settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """The whole jobdeck app (API, probes, dashboard; engine and service started by its lifespan) serving ``deck``,
    or a new :func:`memory_deck` of ``settings`` and ``clock``. Start it with :func:`app_client`, or any ASGI
    server."""
    from jobdeck.api.app import create_app

    return create_app(deck=deck if deck is not None else memory_deck(settings, clock=clock))


@contextlib.asynccontextmanager
async def app_client(
    app: FastAPI,
    *,
    username: str | None = "admin",
    password: str = TEST_ADMIN_PASSWORD,
    base_url: str = "http://jobdeck.test",
) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan (jobdeck starts, and stops at the end) and yield an :class:`httpx.AsyncClient` that
    calls it in-process, on this event loop, signed in as ``username`` (None: not signed in).

    :raises AssertionError: the sign-in was refused
    """
    import httpx

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            if username is not None:
                answer = await client.post("/api/auth/login", json={"username": username, "password": password})
                if answer.status_code != 200:
                    raise AssertionError(f"signing in as {username!r} was refused: {answer.status_code} {answer.text}")
                client.headers["Authorization"] = f"Bearer {answer.json()['data']['access_token']}"
            yield client
