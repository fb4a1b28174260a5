"""What a running job sees: :class:`JobContext`, :func:`update_job_progress` and :class:`JobCancelled`.

Progress and log calls never touch the database: they record the update in the engine's in-memory
:class:`ProgressBoard`, which the engine's flush loop writes in batches. That keeps them cheap enough to call in a
tight loop and safe to call from both coroutines and worker threads.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import deque
from collections.abc import Callable, Generator, Mapping
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from jobdeck.clock import Clock
from jobdeck.models import LogLine, ProgressUpdate

__all__ = [
    "JobCancelled",
    "JobContext",
    "ProgressBoard",
    "current_context",
    "update_job_progress",
]

# The one module-level object of the engine: which run the current task or thread belongs to. Sync jobs get a
# copy of the task's context in their worker thread, so the lookup works there too.
_CURRENT: ContextVar[JobContext | None] = ContextVar("jobdeck_current_job", default=None)

_MAX_PENDING_LOG_LINES = 10_000
MAX_LOG_LINE_CHARS = 8192
"""A longer log message is cut (and ends with ``…[truncated]``)."""


class JobCancelled(Exception):
    """Raised inside a job at its next progress / cancel check once cancellation was requested.

    Let it propagate: the run is then recorded ``cancelled``. A job may also raise it itself to stop early.
    """

    def __init__(self, message: str = "cancellation was requested") -> None:
        super().__init__(message)


class Checkpoint:
    """What :meth:`JobContext.progress` returns: awaiting it yields to the event loop once.

    It is a plain awaitable, not a coroutine, so calling ``ctx.progress(...)`` without ``await`` from sync code
    is fine (no "coroutine was never awaited" warning), while ``await ctx.progress(...)`` in async code gives
    the loop a chance to run heartbeats and cancellation between steps of a busy job.
    """

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        # A bare yield inside a Task means "reschedule me on the next loop iteration", like asyncio.sleep(0).
        yield


class ProgressBoard:
    """This process's live progress and pending log lines, by execution id. Thread-safe.

    ``live`` holds the merged latest progress of every open run (served to readers between flushes); ``pending``
    holds what has not been written yet, merged per execution so a flush writes at most one update each.
    Updates for runs that are not open (finished, or never started here) are dropped.
    """

    def __init__(self, *, max_log_lines: int = 2000, max_log_bytes: int = 512 * 1024) -> None:
        self._lock = threading.Lock()
        self._open: set[str] = set()
        self._live: dict[str, ProgressUpdate] = {}
        self._pending: dict[str, ProgressUpdate] = {}
        self._logs: list[LogLine] = []
        self._seq: dict[str, int] = {}
        self._max_log_lines = max_log_lines
        self._max_log_bytes = max_log_bytes
        self._budgets: dict[str, _LogBudget] = {}
        self._trims: dict[str, tuple[int, str]] = {}

    def open(self, execution_id: str) -> None:
        """Start accepting updates for a run."""
        with self._lock:
            self._open.add(execution_id)

    def forget(self, execution_id: str) -> None:
        """Drop everything about a run (after its record was closed)."""
        with self._lock:
            self._open.discard(execution_id)
            self._live.pop(execution_id, None)
            self._pending.pop(execution_id, None)
            self._seq.pop(execution_id, None)
            self._budgets.pop(execution_id, None)
            self._trims.pop(execution_id, None)
            self._logs = [line for line in self._logs if line.execution_id != execution_id]

    def record(self, update: ProgressUpdate) -> None:
        """Merge an update into the live and pending values: its non-None fields win."""
        with self._lock:
            if update.execution_id not in self._open:
                return
            self._live[update.execution_id] = _merge(self._live.get(update.execution_id), update)
            self._pending[update.execution_id] = _merge(self._pending.get(update.execution_id), update)

    def add_log(self, execution_id: str, *, at: datetime, level: str, message: str) -> None:
        """Queue one log line; ``seq`` increases per execution from 1.

        Each run's log is bounded (``max_log_lines`` lines, ``max_log_bytes`` bytes of messages): beyond that the
        oldest lines are dropped, and a trim (with a note of what was dropped) is queued for :meth:`take_trims`.
        """
        if len(message) > MAX_LOG_LINE_CHARS:
            message = message[:MAX_LOG_LINE_CHARS] + "…[truncated]"
        with self._lock:
            if execution_id not in self._open:
                return
            seq = self._seq.get(execution_id, 0) + 1
            self._seq[execution_id] = seq
            self._logs.append(LogLine(execution_id=execution_id, seq=seq, at=at, level=level, message=message))
            budget = self._budgets.setdefault(execution_id, _LogBudget())
            budget.add(seq, len(message.encode("utf-8")))
            if budget.over(self._max_log_lines, self._max_log_bytes):
                budget.shrink(self._max_log_lines, self._max_log_bytes)
                first = budget.first_seq()
                self._trims[execution_id] = (first, budget.note(self._max_log_lines, self._max_log_bytes))
                # Pending lines that fell out of the window are never written at all.
                self._logs = [ln for ln in self._logs if ln.execution_id != execution_id or ln.seq >= first]
            if len(self._logs) > _MAX_PENDING_LOG_LINES:
                # Only reachable while the store is down for long: keep memory bounded, lose the oldest lines.
                del self._logs[: len(self._logs) - _MAX_PENDING_LOG_LINES]

    def live(self, execution_id: str) -> ProgressUpdate | None:
        """The merged latest progress of an open run, or None."""
        with self._lock:
            return self._live.get(execution_id)

    def take(self, execution_id: str | None = None) -> tuple[list[ProgressUpdate], list[LogLine]]:
        """Remove and return what is pending: everything, or only one execution's."""
        with self._lock:
            if execution_id is None:
                updates, self._pending = list(self._pending.values()), {}
                lines, self._logs = self._logs, []
                return updates, lines
            update = self._pending.pop(execution_id, None)
            lines = [line for line in self._logs if line.execution_id == execution_id]
            if lines:
                self._logs = [line for line in self._logs if line.execution_id != execution_id]
            return ([update] if update else []), lines

    def take_trims(self) -> dict[str, tuple[int, str]]:
        """Remove and return the queued log trims: execution id → (first seq to keep, note)."""
        with self._lock:
            trims, self._trims = self._trims, {}
            return trims

    def restore_trims(self, trims: dict[str, tuple[int, str]]) -> None:
        """Put back trims a failed write took (a newer trim of the same run wins)."""
        with self._lock:
            for execution_id, trim in trims.items():
                if execution_id in self._open:
                    self._trims.setdefault(execution_id, trim)

    def restore(self, updates: list[ProgressUpdate], lines: list[LogLine]) -> None:
        """Put back what a failed write took, under anything newer that arrived meanwhile."""
        with self._lock:
            for old in updates:
                if old.execution_id in self._open:
                    newer = self._pending.get(old.execution_id)
                    self._pending[old.execution_id] = _merge(old, newer) if newer else old
            kept = [line for line in lines if line.execution_id in self._open]
            self._logs = kept + self._logs


class _LogBudget:
    """The sizes of the lines a run's log keeps, oldest first, and what was dropped."""

    __slots__ = ("bytes", "dropped_bytes", "dropped_lines", "lines")

    def __init__(self) -> None:
        self.lines: deque[tuple[int, int]] = deque()
        self.bytes = 0
        self.dropped_lines = 0
        self.dropped_bytes = 0

    def add(self, seq: int, size: int) -> None:
        self.lines.append((seq, size))
        self.bytes += size

    def over(self, max_lines: int, max_bytes: int) -> bool:
        return len(self.lines) > max_lines or (self.bytes > max_bytes and len(self.lines) > 1)

    def shrink(self, max_lines: int, max_bytes: int) -> None:
        while self.over(max_lines, max_bytes):
            _, size = self.lines.popleft()
            self.bytes -= size
            self.dropped_lines += 1
            self.dropped_bytes += size

    def first_seq(self) -> int:
        return self.lines[0][0]

    def note(self, max_lines: int, max_bytes: int) -> str:
        kb = self.dropped_bytes / 1024
        return (
            f"[jobdeck] {self.dropped_lines} earlier line{'' if self.dropped_lines == 1 else 's'} ({kb:.1f} KB) "
            f"dropped: a run's log keeps its last {max_lines} lines / {max_bytes // 1024} KB"
        )


def _merge(base: ProgressUpdate | None, update: ProgressUpdate) -> ProgressUpdate:
    if base is None:
        return update
    changes = {
        name: value
        for name in ("progress", "message", "current_item", "total_items", "processed_items")
        if (value := getattr(update, name)) is not None
    }
    return dataclasses.replace(base, at=update.at, **changes)


class JobContext:
    """The handle a job receives (parameter named ``ctx`` or annotated ``JobContext``) to report and to listen.

    ``progress()`` / ``log()`` / ``check_cancelled()`` work the same from ``async def`` jobs and from sync jobs
    running in a worker thread.
    """

    def __init__(
        self,
        *,
        execution_id: str,
        job_id: str,
        attempt: int,
        force: bool,
        scheduled_time: datetime,
        kwargs: Mapping[str, Any],
        board: ProgressBoard,
        clock: Clock,
    ) -> None:
        self.execution_id = execution_id
        self.job_id = job_id
        self.attempt = attempt
        self.force = force
        self.scheduled_time = scheduled_time
        self.kwargs = kwargs
        self._board = board
        self._clock = clock
        # A plain flag: set once, on the loop; worker threads only read it (an attribute read is atomic), so an
        # Event (a lock and a condition per run) would buy nothing but allocations on every run.
        self._cancelled = False
        self._on_cancel: list[Callable[[], None]] | None = None

    def __repr__(self) -> str:
        return f"JobContext(job_id={self.job_id!r}, execution_id={self.execution_id!r}, attempt={self.attempt})"

    @property
    def cancel_requested(self) -> bool:
        """Whether someone asked this run to stop."""
        return self._cancelled

    def request_cancel(self) -> None:
        """Set the cancel flag (the engine calls this, on the loop; jobs should raise :class:`JobCancelled`
        instead). The first call runs the callbacks registered with :meth:`on_cancel`."""
        if self._cancelled:
            return
        self._cancelled = True
        for callback in self._on_cancel or ():
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the loop) when cancellation is requested — at once if it already was. Job kinds
        that cannot check the flag themselves (commands) stop their work from here."""
        if self._cancelled:
            callback()
        elif self._on_cancel is None:
            self._on_cancel = [callback]
        else:
            self._on_cancel.append(callback)

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelled` if cancellation was requested; otherwise do nothing.

        :raises JobCancelled: cancellation was requested
        """
        if self._cancelled:
            raise JobCancelled()

    def progress(
        self,
        progress: float | None = None,
        message: str | None = None,
        *,
        current_item: object = None,
        total_items: int | None = None,
        processed_items: int | None = None,
    ) -> Checkpoint:
        """Report progress (0–100) and check for cancellation. Usable with or without ``await``.

        When ``progress`` is None but ``processed_items`` and ``total_items`` are given, the percentage is
        computed from them. Fields left None keep their previous value. Nothing is written to the database
        here; the engine flushes the latest value about once a second.

        :raises JobCancelled: cancellation was requested
        """
        self.check_cancelled()
        if progress is None and processed_items is not None and total_items:
            progress = 100.0 * processed_items / total_items
        if progress is not None:
            progress = min(100.0, max(0.0, float(progress)))
        self._board.record(
            ProgressUpdate(
                execution_id=self.execution_id,
                at=self._clock.now(),
                progress=progress,
                message=message,
                current_item=None if current_item is None else str(current_item),
                total_items=total_items,
                processed_items=processed_items,
            )
        )
        return Checkpoint()

    def log(self, message: str, level: str = "info") -> None:
        """Append a line to this run's log (stored with the execution, shown in its detail and followed live
        through ``GET /api/scheduler/executions/{id}/log``)."""
        self._board.add_log(self.execution_id, at=self._clock.now(), level=level, message=str(message))

    @property
    def logger(self) -> logging.Logger:
        """A standard logger for this job (``jobdeck.job.<job_id>``, level INFO): its records go to the run's
        log, like those of any logger used inside the run."""
        logger = logging.getLogger(f"jobdeck.job.{self.job_id}")
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
        return logger

    def uses(self, board: ProgressBoard) -> bool:
        """Whether this run reports to ``board`` (the engine's log handler routes only its own runs)."""
        return self._board is board


def current_context() -> JobContext | None:
    """The context of the run the calling code belongs to (task or worker thread), or None outside a run."""
    return _CURRENT.get()


def update_job_progress(
    progress: float | None = None,
    message: str | None = None,
    *,
    current_item: object = None,
    total_items: int | None = None,
    processed_items: int | None = None,
) -> Checkpoint:
    """Report progress of the current run, without needing the context object (the original system's API).

    Same behaviour as :meth:`JobContext.progress`; ``await`` is optional.

    :raises JobCancelled: cancellation was requested
    :raises RuntimeError: called outside a jobdeck run
    """
    ctx = _CURRENT.get()
    if ctx is None:
        raise RuntimeError(
            "update_job_progress() was called outside a jobdeck run; it only works in code called by a job "
            "(the job function itself, or anything it calls in the same task or thread)"
        )
    return ctx.progress(
        progress,
        message,
        current_item=current_item,
        total_items=total_items,
        processed_items=processed_items,
    )


def bind_context(ctx: JobContext) -> None:
    """Make ``ctx`` the current run of the calling contextvars context (used when starting a run)."""
    _CURRENT.set(ctx)
