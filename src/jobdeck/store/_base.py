"""The plumbing every part of :class:`~jobdeck.store.sql.SqlStore` stands on: lifecycle, transactions, dialect."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Table, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jobdeck.errors import StoreUnavailable
from jobdeck.store import _engine
from jobdeck.store._checkpoints import WalCheckpointer
from jobdeck.store._writer import CLOSED, GroupCommit, SharedRead
from jobdeck.store.held import Spool, WriteStatus

__all__ = ["SqlBase", "page_total"]

T = TypeVar("T")

INLINE_BUSY_TIMEOUT_MS = 250
"""SQLite busy timeout of the connection an inline store (the engine's) claims and closes on, on its own loop."""
CLOSE_WAIT_S = 10.0
"""Seconds :meth:`SqlBase.close` waits for held writes to land before spooling them."""


def _spool_for(url: Any) -> Spool | None:
    """Next to a SQLite file; in the working directory for PostgreSQL; none for an in-memory database."""
    if url.get_backend_name() == "sqlite":
        if _engine.is_memory(url) or (url.database or "").startswith("file:"):
            return None
        path = Path(url.database).expanduser().absolute()
        return Spool(path.parent, path.name)
    return Spool(Path.cwd(), f"jobdeck-{url.database or 'postgres'}")


def page_total(offset: int, limit: int, found: int) -> int | None:
    """The total, when the page itself proves it (a partial, non-empty page, or an empty first page)."""
    if found < limit and (found > 0 or offset == 0):
        return offset + found
    return None


class SqlBase:
    def __init__(self, url: str, *, inline_sqlite: bool = False) -> None:
        self._url = _engine.normalize_url(url)
        self._dialect = self._url.get_backend_name()
        self._inline = inline_sqlite and self._dialect == "sqlite" and not _engine.is_memory(self._url)
        """:meth:`_in_driver_thread` calls run on the caller's thread (see SqlStore's ``inline_sqlite``)."""
        self._open_writes = 0
        """Write transactions of :meth:`_tx` under way (holding SQLite's write lock across awaits)."""
        self._engine: AsyncEngine | None = None
        self._migrated = False
        self._replayed = False
        self._closed = False
        self._open_lock = asyncio.Lock()
        self._held: tuple[AsyncConnection, Any] | None = None
        """SQLite: the connection (and its aiosqlite connection) :meth:`_in_driver_thread` uses."""
        self._held_lock = asyncio.Lock()
        self._checkpointer: WalCheckpointer | None = None
        """SQLite files: checkpoints the WAL after writes, out of their commits (see ``_checkpoints``)."""
        self._writes = GroupCommit(
            self._tx,
            self._dialect,
            in_driver_thread=self._in_driver_thread if self._dialect == "sqlite" else None,
            after_commit=self._wrote,
            spool=_spool_for(self._url),
        )
        """Execution writes (claims, closes, progress, heartbeats) are group-committed: see ``_writer``."""
        self._record_reads: list[SharedRead] = []
        """Reads a fire waits for before its record is written (their lag shows in :meth:`write_status`)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_engine.describe(self._url)!r})"

    def write_status(self) -> WriteStatus:
        """The execution writer's health: writes failing and held, or waiting long (see ``held``)."""
        return self._writes.status(self._record_reads)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._dialect

    @asynccontextmanager
    async def _tx(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """One transaction (``write``: one that will write; on SQLite it queues for the write lock up front).
        Failures to reach the database come out as StoreUnavailable."""
        if self._closed:
            raise StoreUnavailable(CLOSED)
        if self._engine is None:
            raise RuntimeError("SqlStore.open() must be awaited before the store is used")
        try:
            conn = await self._engine.connect()
        except Exception as exc:
            self._database_lost()
            raise _engine.unreachable(exc, self._url) from exc
        try:
            if write:
                self._open_writes += 1
                await _engine.mark_write(conn)
            async with conn.begin():
                yield conn
            if write:
                self._wrote()
        except Exception as exc:
            error = _engine.unavailable(exc, self._url)
            if error is None:
                raise
            self._database_lost()
            raise error from exc
        finally:
            if write:
                self._open_writes -= 1
            await conn.close()

    def _database_lost(self) -> None:
        """A statement could not reach the database: what is cached from it must not answer for it meanwhile."""

    async def _in_driver_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """SQLite: run ``work(connection)`` on a pooled connection in one call on the driver's thread.

        Every statement through SQLAlchemy and aiosqlite is several hops to that thread and back (cursor, execute,
        fetch, close), each waiting for the GIL while the event loop is busy; a write batch done this way pays for
        one. ``work`` manages its own transaction (the connection is in autocommit mode: see ``_engine``). Failures
        to reach the database come out as StoreUnavailable, as from :meth:`_tx`."""
        if self._closed:
            raise StoreUnavailable(CLOSED)
        if self._engine is None:
            raise RuntimeError("SqlStore.open() must be awaited before the store is used")
        if _engine.is_memory(self._url):
            # The one connection of an in-memory database cannot be held: borrow it for this call.
            try:
                conn = await self._engine.connect()
            except Exception as exc:
                raise _engine.unreachable(exc, self._url) from exc
            try:
                return await self._run_on((await conn.get_raw_connection()).driver_connection, work)
            finally:
                await conn.close()
        held = self._held
        if held is None:
            # One connection is held for these calls: checking one out and returning it (which rolls back) would be
            # two more hops. The driver runs one call at a time, so a call's transaction never interleaves another.
            async with self._held_lock:
                held = self._held
                if held is None:
                    try:
                        conn = await self._engine.connect()
                    except Exception as exc:
                        raise _engine.unreachable(exc, self._url) from exc
                    driver: Any = (await conn.get_raw_connection()).driver_connection
                    if self._inline:
                        # Its calls may block the engine's loop: a lock held elsewhere is waited out for a
                        # moment, then the writes are held and retried off the loop (see _writer).
                        await driver.execute(f"PRAGMA busy_timeout={INLINE_BUSY_TIMEOUT_MS}")
                    held = self._held = (conn, driver)
        try:
            return await self._run_on(held[1], work)
        except StoreUnavailable:
            if self._held is held:
                self._held = None
                with contextlib.suppress(Exception):
                    await held[0].invalidate()  # not back to the pool: it may have its own busy timeout
                with contextlib.suppress(Exception):
                    await held[0].close()
            raise

    async def _run_on(self, driver: Any, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on the thread of ``driver`` (an aiosqlite connection), or here when inline. Inline calls use
        only the held connection, and one at a time (each is synchronous), so they never overlap the driver's.
        Not while a write transaction of :meth:`_tx` is open: it holds SQLite's write lock until its next step on
        this loop, which a call waiting here for that lock would keep from ever coming."""
        try:
            # Not while writes are held: a retry waits out SQLite's busy timeout, on the driver's thread.
            if self._inline and not self._open_writes and not self._writes.failing:
                return work(driver._conn)
            result: T = await driver._execute(work, driver._conn)
            return result
        except sqlite3.Error as exc:
            error = _engine.unavailable(sa_exc.DBAPIError.instance(None, None, exc, sqlite3.Error), self._url)
            if error is None:
                raise
            raise error from exc

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """The dialect's INSERT, which has ON CONFLICT (DO NOTHING / DO UPDATE)."""
        return postgresql.insert(table) if self._dialect == "postgresql" else sqlite.insert(table)

    async def open(self) -> None:
        async with self._open_lock:
            if self._closed:
                raise StoreUnavailable(CLOSED)
            if self._engine is None:
                if self._dialect == "sqlite":
                    _engine.prepare_sqlite_file(self._url)
                self._engine = _engine.build_engine(self._url, any_thread=self._inline)
            if not self._migrated and self._dialect == "sqlite" and not _engine.is_memory(self._url):
                try:
                    await _engine.ensure_wal(self._engine)
                except Exception as exc:
                    raise _engine.unreachable(exc, self._url) from exc
            if not self._migrated:
                async with self._tx(write=True) as conn:
                    await _engine.migrate(conn)
                self._migrated = True
            path = _engine.checkpointed_file(self._url)
            if path is not None and self._checkpointer is None:
                self._checkpointer = WalCheckpointer(path)
                self._checkpointer.start()
            if not self._replayed:
                # Before anything runs: claims a dead process held are in the table when start-up recovery looks.
                self._replayed = True
                await self._writes.replay()

    async def close(self) -> None:
        if not self._closed and self._engine is not None:
            with contextlib.suppress(Exception):  # each write reports its own failure to its caller
                await self._writes.shut(CLOSE_WAIT_S)
        self._closed = True
        if self._held is not None:
            held, self._held = self._held, None
            with contextlib.suppress(Exception):
                await held[0].close()
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            await asyncio.to_thread(checkpointer.stop)

    def _wrote(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.wrote()

    async def ping(self) -> float:
        started = time.perf_counter()
        async with self._tx() as conn:
            await conn.execute(text("SELECT 1"))
        return (time.perf_counter() - started) * 1000.0
