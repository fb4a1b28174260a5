"""Persistence: the :class:`Store` protocol and its SQL implementation (SQLite and PostgreSQL).

Importing this package connects to nothing; :meth:`SqlStore.open` does.
"""

from __future__ import annotations

from jobdeck.store._lock import SchedulerLock, scheduler_lock
from jobdeck.store.base import Store
from jobdeck.store.sql import SqlStore, is_in_memory, upgrade

__all__ = ["SchedulerLock", "SqlStore", "Store", "is_in_memory", "scheduler_lock", "upgrade"]
