"""The SQLite fast path's own connection and thread: :class:`SqliteLane`.

Every statement through SQLAlchemy and aiosqlite is several hops to the driver's thread and back; the calls that
run on every fire (a batch of claims and closes, the count of running executions) are instead one function run on
one ``sqlite3.Connection`` that this lane owns, on the lane's one thread (or, inline, on the caller's thread).
See docs/performance.md, "The store".
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["CapturingConnection", "SqliteLane"]

T = TypeVar("T")


class CapturingConnection(sqlite3.Connection):
    """A ``sqlite3.Connection`` that hands itself to ``on_open`` (a ``factory`` for ``sqlite3.connect``): how the
    lane of an in-memory database learns the one connection the database lives in."""

    on_open: Callable[[sqlite3.Connection], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.on_open is not None:
            self.on_open(self)


class SqliteLane:
    """One ``sqlite3.Connection`` in autocommit mode and the one thread that runs work on it.

    ``connect`` opens the connection (on the lane's thread) at the first call, and again after :meth:`drop`.
    ``inline``: calls may run on the caller's thread instead (see :meth:`run`).
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, inline: bool = False) -> None:
        self._connect = connect
        self._inline = inline
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._on_thread = 0
        """Calls submitted to the thread and not finished: an inline call waits its turn behind them."""

    def _thread(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobdeck-sqlite")
        return self._executor

    async def run(self, work: Callable[[sqlite3.Connection], T], *, inline: bool = False) -> T:
        """``work(connection)``; on the caller's thread when the lane is inline, ``inline`` is true and nothing
        runs on the lane's thread (the connection is used by one call at a time), else on the lane's thread.
        Errors of ``work`` (``sqlite3.Error`` among them) come out as they are."""
        if inline and self._inline and not self._on_thread and self._conn is not None:
            return work(self._conn)
        self._on_thread += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread(), self._call, work)
        finally:
            self._on_thread -= 1

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._conn = self._connect()
        return work(self._conn)

    def drop(self) -> None:
        """Forget the connection (closed on the lane's thread); the next call opens a new one."""
        if self._conn is not None and self._executor is not None:
            self._executor.submit(self._drop_now)
        elif self._conn is not None:
            self._drop_now()

    def _drop_now(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    async def close(self) -> None:
        """Close the connection and stop the thread (waiting for the call under way, if any)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, self._drop_now)
            executor.shutdown(wait=False)
        else:
            self._drop_now()
