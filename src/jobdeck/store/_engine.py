"""Engine plumbing for :class:`~jobdeck.store.sql.SqlStore`: URL handling, per-dialect connection setup, turning
"cannot reach the database" into :class:`~jobdeck.errors.StoreUnavailable`, and running migrations safely."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, event, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from jobdeck.errors import ConfigError, StoreUnavailable
from jobdeck.store._checkpoints import AUTOCHECKPOINT_PAGES
from jobdeck.store.migrations import upgrade_connection

__all__ = [
    "WRITE",
    "build_engine",
    "describe",
    "ensure_wal",
    "mark_write",
    "migrate",
    "normalize_url",
    "prepare_sqlite_file",
    "unavailable",
    "unreachable",
]

WRITE = "jobdeck_write"
"""Execution option: on SQLite, start the transaction with ``BEGIN IMMEDIATE`` (take the write lock up front)."""

SQLITE_BUSY_TIMEOUT_MS = 5000
WAL_ATTEMPTS, WAL_RETRY_S = 250, 0.02  # about the busy timeout in all
PG_CONNECT_TIMEOUT_S = 10
MIGRATION_LOCK_KEY = 0x6A6F626465636B  # "jobdeck": the advisory lock serialising concurrent first starts


def normalize_url(url: str) -> URL:
    """The URL with its async driver (``sqlite+aiosqlite``, ``postgresql+asyncpg``) filled in."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        # The message of ArgumentError quotes the whole URL, password included: do not chain it.
        raise ConfigError("the database URL cannot be parsed", field="database_url") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise ConfigError(
        f"unsupported database {backend!r}: use sqlite+aiosqlite:///path.db or postgresql+asyncpg://…",
        field="database_url",
    )


def describe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or "mode=memory" in (url.database or "")


def checkpointed_file(url: URL) -> str | None:
    """The path of a SQLite file whose WAL the store checkpoints itself (see ``_checkpoints``): a plain file path,
    not an in-memory database or a ``file:`` URI (those keep SQLite's own checkpoints)."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or is_memory(url) or database.startswith("file:"):
        return None
    return str(Path(database).expanduser())


def prepare_sqlite_file(url: URL) -> None:
    """Create the folder of a SQLite file when it does not exist yet."""
    database = url.database or ""
    if is_memory(url) or database.startswith("file:"):
        return
    try:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(f"Cannot create the folder of the SQLite database {database!r}: {exc}") from exc


def build_engine(url: URL, *, connect_args: dict[str, Any] | None = None) -> AsyncEngine:
    """The engine of ``url``; ``connect_args`` (SQLite) go to ``sqlite3.connect``."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, connect_args=connect_args or {})
    connect_args = {}
    if "timeout" not in url.query:
        connect_args["timeout"] = PG_CONNECT_TIMEOUT_S
    # pre_ping: after a PostgreSQL restart the next call gets a fresh connection instead of a 503.
    return create_async_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_engine(url: URL, *, connect_args: dict[str, Any]) -> AsyncEngine:
    memory = is_memory(url)
    checkpointed = checkpointed_file(url) is not None
    if memory:
        # An in-memory database lives as long as its one connection: keep exactly one, and queue for it.
        engine = create_async_engine(
            url, poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0, connect_args=connect_args
        )
    else:
        engine = create_async_engine(url, connect_args=connect_args)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take transactions out of the driver's hands (it would BEGIN lazily and commit before DDL) and emit our own
        # BEGIN in _on_begin: reads see one snapshot, DDL is transactional, writes take the lock up front.
        dbapi_connection.isolation_level = None
        # WAL is a property of the file, set once by ensure_wal() when the store opens.
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if checkpointed:  # a WalCheckpointer thread does it, out of the commits (see _checkpoints)
            cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # BEGIN IMMEDIATE for writers: a deferred transaction that reads and then writes can fail with SQLITE_BUSY
        # without waiting for busy_timeout; an immediate one queues for the write lock instead.
        write = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


async def ensure_wal(engine: AsyncEngine) -> None:
    """Put a SQLite file in WAL mode (it stays so). Retried while locked: the switch needs the file to itself and
    gives up at once, without the busy timeout, when concurrent first starts hold it."""
    for attempt in range(WAL_ATTEMPTS):
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection  # the aiosqlite connection, outside SQLAlchemy's transactions
            try:
                async with driver.execute("PRAGMA journal_mode") as cursor:
                    if str((await cursor.fetchone())[0]).lower() == "wal":
                        return
                async with driver.execute("PRAGMA journal_mode=WAL") as cursor:
                    await cursor.fetchone()  # the mode now in force: not WAL where the file system cannot share memory
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                    raise
        await asyncio.sleep(WAL_RETRY_S)


def unavailable(exc: BaseException, url: URL) -> StoreUnavailable | None:
    """The StoreUnavailable that ``exc`` (raised by a statement) means, or None when it is some other failure (a
    bug, a constraint)."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return unreachable(exc, url)
        return None
    if isinstance(exc, OSError | sa_exc.TimeoutError):
        return unreachable(exc, url)
    return None


def unreachable(exc: BaseException, url: URL) -> StoreUnavailable:
    """``exc`` stopped us from getting a connection (refused, unknown host, wrong credentials, missing database,
    unwritable file …): the store cannot be reached. The message names the URL without its password."""
    reason = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    detail = str(reason).strip() or type(reason).__name__
    if url.password:
        detail = detail.replace(str(url.password), "***")
    return StoreUnavailable(f"Cannot reach the database {describe(url)}: {detail}")


async def migrate(conn: AsyncConnection) -> None:
    """Bring the schema to the newest revision inside the transaction of ``conn`` (on SQLite a BEGIN IMMEDIATE one,
    on PostgreSQL one holding an advisory lock): concurrent first starts queue, and the later ones find the schema
    already at head."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    await conn.run_sync(upgrade_connection)


async def mark_write(conn: AsyncConnection) -> None:
    """Make the next transaction of ``conn`` a write transaction (on SQLite: BEGIN IMMEDIATE)."""
    if conn.dialect.name == "sqlite":
        await conn.execution_options(**{WRITE: True})
