"""Persistence: the :class:`Store` protocol and its SQL implementation (SQLite and PostgreSQL).

Importing this package connects to nothing; :meth:`SqlStore.open` does.
"""

from __future__ import annotations

from jobdeck.store._lock import SchedulerLock, scheduler_lock
from jobdeck.store.base import Store
from jobdeck.store.sql import SqlStore, describe_database, is_in_memory, sqlite_file, upgrade

__all__ = [
    "SchedulerLock",
    "SqlStore",
    "Store",
    "describe_database",
    "is_in_memory",
    "scheduler_lock",
    "sqlite_file",
    "upgrade",
]
