"""Persistence: the :class:`Store` protocols, their SQL implementation (SQLite and PostgreSQL) and the in-memory one.

Importing this package connects to nothing; :meth:`SqlStore.open` does. :func:`open_store` picks the implementation a
URL names (``memory://``: :class:`MemoryStore`).
"""

from __future__ import annotations

from jobdeck.store._lock import SchedulerLock
from jobdeck.store.base import Store
from jobdeck.store.factory import describe_database, is_in_memory, open_store, scheduler_lock
from jobdeck.store.memory import MemoryStore
from jobdeck.store.sql import SqlStore, sqlite_file, upgrade

__all__ = [
    "MemoryStore",
    "SchedulerLock",
    "SqlStore",
    "Store",
    "describe_database",
    "is_in_memory",
    "open_store",
    "scheduler_lock",
    "sqlite_file",
    "upgrade",
]
