"""The scheduling lock of a SQLite file: one process per database file fires the jobs, the others serve the API.

SQLite is "one host": the claim key keeps two processes from recording one fire twice, but every process that
schedules still fires, catches up and retries on its own. So the first process takes an exclusive ``flock`` on a
lock file next to the database (``jobdeck.db`` → ``jobdeck.db.scheduler.lock``) and schedules; the others find
it held and run API-only, trying again now and then. The OS drops the lock when its holder dies, even by
SIGKILL, so a dead holder never blocks anyone: the next try of a survivor takes it.

PostgreSQL needs no lock (every process schedules; the claim key keeps each fire to one run), nor does in-memory
SQLite (a database of the process's own).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from jobdeck.errors import StoreUnavailable
from jobdeck.store import _engine

__all__ = ["SchedulerLock", "scheduler_lock"]

LOCK_SUFFIX = ".scheduler.lock"


class SchedulerLock:
    """An exclusive, non-blocking ``flock`` on ``path``, held from :meth:`try_acquire` until :meth:`release` or the
    end of the process. Not shared between threads: a lock per process (per runtime)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if no other process (or other runtime of this one) holds it; True when held now.

        :raises StoreUnavailable: the lock file cannot be created (an unwritable folder)
        """
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreUnavailable(f"Cannot create the scheduling lock file {str(self.path)!r}: {exc}") from exc
        try:
            # flock locks belong to the open file description: a second open() in this process conflicts too.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        with contextlib.suppress(OSError):  # who holds it, for an operator looking at the file
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        """Let another process schedule. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def scheduler_lock(database_url: str) -> SchedulerLock | None:
    """The scheduling lock of a SQLite database file; None when every process may schedule (PostgreSQL,
    in-memory SQLite)."""
    url = _engine.normalize_url(database_url)
    if url.get_backend_name() != "sqlite" or _engine.is_memory(url):
        return None
    database = url.database or ""
    if database.startswith("file:"):  # a URI: the path ends at the query
        database = database.removeprefix("file:").split("?", 1)[0]
    path = Path(database).expanduser()
    return SchedulerLock(path.with_name(path.name + LOCK_SUFFIX))
