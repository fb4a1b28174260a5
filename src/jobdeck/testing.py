"""Helpers for testing code built on jobdeck (and jobdeck itself): a controllable clock and event waits.

Wait for what you expect, with a deadline, instead of sleeping and hoping::

    done = await wait_for_execution(store, run.id, lambda e: e.status.is_terminal, timeout=3)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from jobdeck.clock import ensure_utc
from jobdeck.errors import ExecutionNotFound
from jobdeck.models import Execution
from jobdeck.store.base import Store

__all__ = ["FrozenClock", "wait_for_execution", "wait_until"]

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
    store: Store,
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
