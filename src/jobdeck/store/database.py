"""The database a :class:`~jobdeck.store.sql.SqlStore` stands on: :class:`Database`.

One object owns the connection to SQLite or PostgreSQL — the SQLAlchemy engine, the dialect, transactions, the
SQLite fast path (:class:`~jobdeck.store._lane.SqliteLane`), the group-committing writer of execution records (with
its held writes and spool), the WAL checkpointer — and the lifecycle (open, close, ping, write status). The
repositories of :mod:`jobdeck.store.repositories` each receive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import URL, Table, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jobdeck.errors import StoreUnavailable
from jobdeck.store import _engine
from jobdeck.store._checkpoints import AUTOCHECKPOINT_PAGES, WalCheckpointer
from jobdeck.store._lane import CapturingConnection, SqliteLane
from jobdeck.store._writer import CLOSED, GroupCommit, SharedRead
from jobdeck.store.held import Spool, WriteStatus

__all__ = ["Database", "page_total"]

T = TypeVar("T")

INLINE_BUSY_TIMEOUT_MS = 250
"""SQLite busy timeout of the lane of an inline database (the engine's): its calls may block the engine's loop, so
a lock held elsewhere is waited out for a moment, then the writes are held and retried off the loop (``_writer``)."""
CLOSE_WAIT_S = 10.0
"""Seconds :meth:`Database.close` waits for held writes to land before spooling them."""


def _spool_for(url: URL) -> Spool | None:
    """Next to a SQLite file; in the working directory for PostgreSQL; none for an in-memory database."""
    if url.get_backend_name() == "sqlite":
        if _engine.is_memory(url) or (url.database or "").startswith("file:"):
            return None
        path = Path(url.database or "").expanduser().absolute()
        return Spool(path.parent, path.name)
    return Spool(Path.cwd(), f"jobdeck-{url.database or 'postgres'}")


def page_total(offset: int, limit: int, found: int) -> int | None:
    """The total, when the page itself proves it (a partial, non-empty page, or an empty first page)."""
    if found < limit and (found > 0 or offset == 0):
        return offset + found
    return None


class Database:
    """A SQLite (``sqlite+aiosqlite:///path.db``) or PostgreSQL (``postgresql+asyncpg://…``) database.

    Nothing connects before :meth:`open`. ``inline_sqlite``: on a SQLite file, fast-path calls (claims, closes,
    counts) run on the calling thread (see :class:`~jobdeck.store.sql.SqlStore`).

    :raises ConfigError: the URL cannot be parsed or names another database
    """

    def __init__(self, url: str, *, inline_sqlite: bool = False) -> None:
        self.url = _engine.normalize_url(url)
        self.dialect = self.url.get_backend_name()
        """``"sqlite"`` or ``"postgresql"``."""
        self._memory = self.dialect == "sqlite" and _engine.is_memory(self.url)
        self._inline = inline_sqlite and self.dialect == "sqlite" and not self._memory
        self._open_writes = 0
        """Write transactions of :meth:`tx` under way (holding SQLite's write lock across awaits)."""
        self._engine: AsyncEngine | None = None
        self._lane: SqliteLane | None = None
        self._memory_conn: sqlite3.Connection | None = None
        """In-memory SQLite: the one connection the database lives in (borrowed from the pool for fast-path calls)."""
        self._migrated = False
        self._replayed = False
        self._closed = False
        self._open_lock = asyncio.Lock()
        self._checkpointer: WalCheckpointer | None = None
        """SQLite files: checkpoints the WAL after writes, out of their commits (see ``_checkpoints``)."""
        self._on_lost: list[Callable[[], None]] = []
        self.writes = GroupCommit(
            self.tx,
            self.dialect,
            on_lane=self.run_sqlite if self.dialect == "sqlite" else None,
            after_commit=self.wrote,
            spool=_spool_for(self.url),
        )
        """Execution writes (claims, closes, progress, heartbeats, fire marks) are group-committed: see ``_writer``."""
        self.record_reads: list[SharedRead] = []
        """Reads a fire waits for before its record is written (their lag shows in :meth:`write_status`)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_engine.describe(self.url)!r})"

    def on_lost(self, forget: Callable[[], None]) -> None:
        """Call ``forget`` whenever a statement cannot reach the database: what a repository caches from it must
        not answer for it meanwhile."""
        self._on_lost.append(forget)

    def _lost(self) -> None:
        for forget in self._on_lost:
            forget()

    def write_status(self) -> WriteStatus:
        """The execution writer's health: writes failing and held, or waiting long (see ``held``)."""
        return self.writes.status(self.record_reads)

    def insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """The dialect's INSERT, which has ON CONFLICT (DO NOTHING / DO UPDATE)."""
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    @asynccontextmanager
    async def tx(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """One transaction (``write``: one that will write; on SQLite it queues for the write lock up front).
        Failures to reach the database come out as StoreUnavailable."""
        if self._closed:
            raise StoreUnavailable(CLOSED)
        if self._engine is None:
            raise RuntimeError("SqlStore.open() must be awaited before the store is used")
        try:
            conn = await self._engine.connect()
        except Exception as exc:
            self._lost()
            raise _engine.unreachable(exc, self.url) from exc
        try:
            if write:
                self._open_writes += 1
                await _engine.mark_write(conn)
            async with conn.begin():
                yield conn
            if write:
                self.wrote()
        except Exception as exc:
            error = _engine.unavailable(exc, self.url)
            if error is None:
                raise
            self._lost()
            raise error from exc
        finally:
            if write:
                self._open_writes -= 1
            await conn.close()

    async def run_sqlite(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """SQLite: ``work(connection)`` in one call, on the lane's thread or inline (see ``_lane``). ``work``
        manages its own transaction (the connection is in autocommit mode). Failures to reach the database come
        out as StoreUnavailable, as from :meth:`tx`."""
        if self._closed:
            raise StoreUnavailable(CLOSED)
        if self._engine is None:
            raise RuntimeError("SqlStore.open() must be awaited before the store is used")
        try:
            if self._memory:
                return await self._run_in_memory(work)
            assert self._lane is not None
            # Not inline while a write transaction of tx() is open: it holds SQLite's write lock until its next step
            # on this loop, which a call waiting here for that lock would keep from ever coming. Not while writes are
            # held either: a retry waits out the busy timeout, which belongs on the lane's thread.
            inline = not self._open_writes and not self.writes.failing
            return await self._lane.run(work, inline=inline)
        except sqlite3.Error as exc:
            error = _engine.unavailable(sa_exc.DBAPIError.instance(None, None, exc, sqlite3.Error), self.url)
            if error is None:
                raise
            if self._lane is not None:
                self._lane.drop()  # it may be the connection that is broken, or keep a busy timeout of its own
            raise error from exc

    async def _run_in_memory(self, work: Callable[[sqlite3.Connection], T]) -> T:
        # The one connection of an in-memory database cannot be held: borrow it from the pool for this call (so
        # nothing else uses it meanwhile) and run the work here, synchronously.
        assert self._engine is not None
        try:
            conn = await self._engine.connect()
        except Exception as exc:
            raise _engine.unreachable(exc, self.url) from exc
        try:
            await conn.get_raw_connection()
            assert self._memory_conn is not None
            return work(self._memory_conn)
        finally:
            await conn.close()

    def _connect_lane(self) -> sqlite3.Connection:
        """A new connection for the lane, set up as the engine's (see ``_engine``)."""
        assert self._engine is not None
        args, kwargs = self._engine.dialect.create_connect_args(self.url)  # as SQLAlchemy would pass them
        options: dict[str, Any] = {**kwargs, "isolation_level": None, "check_same_thread": False}
        connect: Callable[..., sqlite3.Connection] = sqlite3.connect
        conn = connect(*args, **options)
        timeout = INLINE_BUSY_TIMEOUT_MS if self._inline else _engine.SQLITE_BUSY_TIMEOUT_MS
        conn.execute(f"PRAGMA busy_timeout={timeout}")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        if _engine.checkpointed_file(self.url) is not None:
            conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        return conn

    def _memory_opened(self, conn: sqlite3.Connection) -> None:
        self._memory_conn = conn

    async def open(self) -> None:
        """Connect, bring the schema to the newest revision and replay writes a stopped process spooled."""
        async with self._open_lock:
            if self._closed:
                raise StoreUnavailable(CLOSED)
            if self._engine is None:
                connect_args: dict[str, Any] = {}
                if self._memory:
                    factory = type("MemoryConnection", (CapturingConnection,), {"on_open": self._memory_opened})
                    connect_args = {"factory": factory, "check_same_thread": False}
                elif self.dialect == "sqlite":
                    _engine.prepare_sqlite_file(self.url)
                self._engine = _engine.build_engine(self.url, connect_args=connect_args)
                if self.dialect == "sqlite" and not self._memory:
                    self._lane = SqliteLane(self._connect_lane, inline=self._inline)
            if not self._migrated and self.dialect == "sqlite" and not self._memory:
                try:
                    await _engine.ensure_wal(self._engine)
                except Exception as exc:
                    raise _engine.unreachable(exc, self.url) from exc
            if not self._migrated:
                async with self.tx(write=True) as conn:
                    await _engine.migrate(conn)
                self._migrated = True
            path = _engine.checkpointed_file(self.url)
            if path is not None and self._checkpointer is None:
                self._checkpointer = WalCheckpointer(path)
                self._checkpointer.start()
            if not self._replayed:
                # Before anything runs: claims a dead process held are in the table when start-up recovery looks.
                self._replayed = True
                await self.writes.replay()

    async def close(self) -> None:
        """Let held writes land (or spool them), then release every connection and thread."""
        if not self._closed and self._engine is not None:
            with contextlib.suppress(Exception):  # each write reports its own failure to its caller
                await self.writes.shut(CLOSE_WAIT_S)
        self._closed = True
        if self._lane is not None:
            lane, self._lane = self._lane, None
            with contextlib.suppress(Exception):
                await lane.close()
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()
        self._memory_conn = None
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            await asyncio.to_thread(checkpointer.stop)

    def wrote(self) -> None:
        """A write transaction committed (the checkpointer counts them)."""
        if self._checkpointer is not None:
            self._checkpointer.wrote()

    async def ping(self) -> float:
        """Milliseconds a trivial query takes."""
        started = time.perf_counter()
        async with self.tx() as conn:
            await conn.execute(text("SELECT 1"))
        return (time.perf_counter() - started) * 1000.0
