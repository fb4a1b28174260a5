"""Which store a database URL names: :func:`open_store` builds it (without connecting: ``open()`` does)."""

from __future__ import annotations

from jobdeck.store._lock import SchedulerLock
from jobdeck.store._lock import scheduler_lock as _sql_scheduler_lock
from jobdeck.store.base import Store
from jobdeck.store.memory import MEMORY_URL, MemoryStore, is_memory_url
from jobdeck.store.sql import SqlStore
from jobdeck.store.sql import describe_database as _sql_describe
from jobdeck.store.sql import is_in_memory as _sql_in_memory

__all__ = ["MEMORY_URL", "describe_database", "is_in_memory", "open_store", "scheduler_lock"]


def open_store(url: str, *, inline_sqlite: bool = False) -> Store:
    """A :class:`~jobdeck.store.memory.MemoryStore` for ``memory://``, else a :class:`~jobdeck.store.sql.SqlStore`
    on the SQLAlchemy URL (``inline_sqlite``: see SqlStore; a MemoryStore has no use for it).

    :raises ConfigError: the URL cannot be parsed or names another database
    """
    if is_memory_url(url):
        return MemoryStore()
    return SqlStore(url, inline_sqlite=inline_sqlite)


def is_in_memory(url: str) -> bool:
    """Whether the database of ``url`` lives in one process's memory (``memory://`` or in-memory SQLite): a second
    store on the URL (another process's, or the engine thread's) would see another, empty, database.

    :raises ConfigError: the URL cannot be parsed or names another database
    """
    return is_memory_url(url) or _sql_in_memory(url)


def scheduler_lock(url: str) -> SchedulerLock | None:
    """The scheduling lock of the database of ``url``: a SQLite file's; None when every process may schedule
    (PostgreSQL, in-memory databases)."""
    return None if is_memory_url(url) else _sql_scheduler_lock(url)


def describe_database(url: str) -> str:
    """``url`` as it may be shown: the driver filled in, the password hidden (``memory://`` as it is).

    :raises ConfigError: the URL cannot be parsed or names another database
    """
    return MEMORY_URL if is_memory_url(url) else _sql_describe(url)
