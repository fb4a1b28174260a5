"""Reads shared by concurrent callers (:class:`SharedRead`), for the store's hottest reads."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from jobdeck.store.held import LAG_S

__all__ = ["SharedRead"]


class SharedRead:
    """Concurrent calls of one read share a query: a call made while the query runs waits for the next one, which
    starts after that call began — so every caller sees every write committed before it asked, as with a query of
    its own, while a burst of callers costs a few queries instead of one each."""

    def __init__(self, fetch: Callable[[], Awaitable[Any]], *, watched: str | None = None) -> None:
        self._fetch = fetch
        self._watched = watched
        """What the read is for, when its lag matters to health (see :meth:`waiting_since`); logged when slow."""
        self._since: float | None = None
        self._lagging = False
        self._next: asyncio.Future[Any] | None = None
        self._busy = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    async def __call__(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._busy and self._loop is not None and not self._loop.is_closed():
                return await self._fetch()  # another loop's store use: no sharing across loops
            self._loop, self._next, self._busy = loop, None, False
        if self._next is None:
            self._next = loop.create_future()
            if not self._busy:
                self._busy = True
                self._task = loop.create_task(self._pump(), name="jobdeck-shared-read")
        return await asyncio.shield(self._next)

    def waiting_since(self) -> float | None:
        """``time.monotonic()`` when the query under way began (None: none is)."""
        return self._since

    def _lag(self) -> None:
        if self._since is not None and not self._lagging:
            self._lagging = True
            logging.getLogger(__name__).warning(
                "jobdeck: the database has not answered the %s for %.0f s: it is busy or locked", self._watched, LAG_S
            )

    async def _fetch_watched(self) -> Any:
        self._since = time.monotonic()
        lag = asyncio.get_running_loop().call_later(LAG_S, self._lag)
        try:
            return await self._fetch()
        finally:
            lag.cancel()
            self._since = None
            if self._lagging:
                self._lagging = False
                logging.getLogger(__name__).warning("jobdeck: the database answers the %s again", self._watched)

    async def _pump(self) -> None:
        fetch = self._fetch if self._watched is None else self._fetch_watched
        try:
            while self._next is not None:
                future, self._next = self._next, None
                try:
                    result = await fetch()
                except Exception as exc:
                    future.set_exception(exc)
                    future.exception()  # retrieved: no "never retrieved" warning when every caller went away
                else:
                    future.set_result(result)
        finally:
            self._busy = False
