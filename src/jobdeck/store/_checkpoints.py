"""WAL checkpoints of a SQLite file off the write path.

SQLite's own checkpoints run inside a commit, holding up every other write for milliseconds (docs/performance.md).
The store's connections checkpoint by themselves only past :data:`AUTOCHECKPOINT_PAGES` (a bound on the WAL should
the checkpointer fall behind), and a :class:`WalCheckpointer` thread runs a passive checkpoint — one that waits for
no lock and holds up no writer — shortly after writes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

__all__ = ["AUTOCHECKPOINT_PAGES", "CHECKPOINT_PAUSE", "WalCheckpointer"]

AUTOCHECKPOINT_PAGES = 10_000
"""WAL pages past which a commit of the store's connections checkpoints by itself (SQLite's default: 1,000)."""
CHECKPOINT_PAUSE = 0.1
"""Seconds between two checkpoints while writes go on."""


class WalCheckpointer:
    """Checkpoints the WAL of the SQLite file at ``path`` on a thread of its own, with a connection of its own:
    :meth:`wrote` (from any thread) asks for one; asks arriving while one runs, or within :data:`CHECKPOINT_PAUSE`
    after it, are served by the next."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._asked = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobdeck-wal-checkpoint", daemon=True)
        self._log = logging.getLogger(__name__)

    def start(self) -> None:
        self._thread.start()

    def wrote(self) -> None:
        """A write transaction committed: checkpoint soon."""
        self._asked.set()

    def stop(self) -> None:
        """Stop the thread (a checkpoint under way finishes first) and close its connection."""
        self._stopping.set()
        self._asked.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                self._asked.wait()
                if self._stopping.is_set():
                    return
                self._asked.clear()
                try:
                    if connection is None:
                        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # the next commit's ask retries; the WAL stays bounded meanwhile
                    self._log.warning("jobdeck: checkpointing %s failed: %s", self._path, exc)
                if self._stopping.wait(CHECKPOINT_PAUSE):
                    return
        finally:
            if connection is not None:
                connection.close()
