"""One execution's life — claim → running record → call → close exactly that record — and the pulse that keeps
every local run's record fresh (heartbeats, coalesced progress, log lines, cancel requests from other replicas).
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import json
import logging
import traceback
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from jobdeck.clock import Clock
from jobdeck.engine.context import JobCancelled, JobContext, ProgressBoard, bind_context
from jobdeck.engine.kinds import JobCall, JobInvoker
from jobdeck.engine.options import EngineOptions
from jobdeck.models import Execution, ExecutionStatus, JobSpec, ProgressUpdate
from jobdeck.store.base import Store

__all__ = ["MAX_RETURN_VALUE_BYTES", "Runner", "describe_error", "format_seconds", "render_return_value"]

MAX_RETURN_VALUE_BYTES = 4096
_TRUNCATED = "…[truncated]"
_MAX_TRACEBACK_CHARS = 64_000
_CLOSE_ATTEMPTS = 3
_CLOSE_RETRY_DELAY = 0.5


class _Stop(enum.Enum):
    ESCALATED = "escalated"
    """The cancel grace ran out and the engine cancelled the job's task."""
    SHUTDOWN = "shutdown"
    """The engine is shutting down and stopped the job."""


@dataclass(eq=False, kw_only=True)
class _Run:
    execution: Execution
    ctx: JobContext
    interruptible: bool
    job_task: asyncio.Task[Any]
    life_task: asyncio.Task[None] | None = None
    escalation: asyncio.TimerHandle | None = None
    stop: _Stop | None = None


class Runner:
    """Runs executions in this process and keeps their records up to date.

    Every record the runner opens is closed by it, by id, with the run's real outcome — or, when the runner
    cannot (shutdown with a job that will not stop, a store outage), left for the zombie sweep, which its
    stopped heartbeats make certain.
    """

    def __init__(self, store: Store, *, clock: Clock, options: EngineOptions) -> None:
        self._store = store
        self._clock = clock
        self._options = options
        self._board = ProgressBoard()
        self._runs: dict[str, _Run] = {}
        self._threads: Executor | None = None
        self._accepting = False
        self._flush_lock = asyncio.Lock()
        self._log = logging.getLogger(__name__)

    # -- queries ---------------------------------------------------------------------------------------------

    def running_ids(self) -> list[str]:
        """Ids of the executions running in this process, oldest first."""
        return list(self._runs)

    def live(self, execution_id: str) -> ProgressUpdate | None:
        """The latest in-memory progress of a local run, or None."""
        return self._board.live(execution_id)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self, threads: Executor) -> None:
        """Accept runs; sync jobs go to ``threads``."""
        self._threads = threads
        self._accepting = True

    async def launch(self, spec: JobSpec, invoker: JobInvoker, execution: Execution) -> bool:
        """Claim the run by inserting its ``running`` record, then start it.

        Returns False when another process already claimed this fire (nothing is started).
        """
        if not await self._store.insert_execution(execution):
            return False
        if not self._accepting or self._threads is None:
            # Shutdown began while the claim was in flight: the record must not stay open.
            await self._store.close_execution(
                execution.id,
                status=ExecutionStatus.CANCELLED,
                finished_at=self._clock.now(),
                error_message="jobdeck was shutting down; the run did not start",
            )
            return True
        self._start(invoker, execution, self._threads)
        return True

    def _start(self, invoker: JobInvoker, execution: Execution, threads: Executor) -> None:
        ctx = JobContext(
            execution_id=execution.id,
            job_id=execution.job_id,
            attempt=execution.attempt,
            force=execution.force,
            scheduled_time=execution.scheduled_time,
            kwargs=execution.kwargs,
            board=self._board,
            clock=self._clock,
        )
        self._board.open(execution.id)
        # The job's own task runs in a context where current_context() is this run; worker threads get a copy.
        context = contextvars.copy_context()
        context.run(bind_context, ctx)
        call = JobCall(ctx=ctx, kwargs=execution.kwargs, threads=threads)
        job_task = asyncio.get_running_loop().create_task(
            invoker.invoke(call), name=f"jobdeck:{execution.job_id}:{execution.id}", context=context
        )
        run = _Run(execution=execution, ctx=ctx, interruptible=invoker.interruptible, job_task=job_task)
        self._runs[execution.id] = run
        run.life_task = asyncio.get_running_loop().create_task(self._life(run), name=f"jobdeck-life:{execution.id}")

    async def _life(self, run: _Run) -> None:
        execution_id = run.execution.id
        try:
            # asyncio.wait, not await: cancelling this task (hard shutdown) must not cancel the job's task.
            await asyncio.wait({run.job_task})
            status, fields = self._outcome(run)
            try:
                await self._flush(execution_id)
            except Exception:
                self._log.exception("jobdeck: could not store the final progress of execution %s", execution_id)
            await self._close(execution_id, status, fields)
        finally:
            if run.escalation is not None:
                run.escalation.cancel()
            self._runs.pop(execution_id, None)
            self._board.forget(execution_id)

    async def _close(self, execution_id: str, status: ExecutionStatus, fields: dict[str, Any]) -> None:
        # A few tries ride out a short store outage; the run stays local (and heartbeating) meanwhile. After
        # that the record is left running and, its heartbeats gone, the zombie sweep closes it.
        for attempt in range(_CLOSE_ATTEMPTS):
            try:
                closed = await self._store.close_execution(
                    execution_id, status=status, finished_at=self._clock.now(), **fields
                )
            except Exception:
                if attempt == _CLOSE_ATTEMPTS - 1:
                    self._log.exception("jobdeck: could not close execution %s; leaving it to the sweep", execution_id)
                    return
                self._log.warning("jobdeck: closing execution %s failed; retrying", execution_id, exc_info=True)
                await asyncio.sleep(_CLOSE_RETRY_DELAY * (attempt + 1))
            else:
                if not closed:
                    self._log.info("jobdeck: execution %s was closed elsewhere first; kept that outcome", execution_id)
                return

    def _outcome(self, run: _Run) -> tuple[ExecutionStatus, dict[str, Any]]:
        task = run.job_task
        if task.cancelled():
            if run.stop is _Stop.SHUTDOWN:
                if run.interruptible:
                    return ExecutionStatus.CANCELLED, {"error_message": "cancelled at shutdown"}
                return ExecutionStatus.FAILED, {"error_message": "jobdeck shut down before the run finished"}
            if run.stop is _Stop.ESCALATED:
                grace = format_seconds(self._options.cancel_grace)
                return ExecutionStatus.CANCELLED, {
                    "error_message": f"cancelled: the job did not stop within cancel_grace={grace} s of the "
                    "request, so its task was cancelled"
                }
            return ExecutionStatus.CANCELLED, {"error_message": "the job's task was cancelled"}
        error = task.exception()
        if error is None:
            return ExecutionStatus.SUCCESS, {"return_value": render_return_value(task.result())}
        if isinstance(error, JobCancelled):
            if run.stop is _Stop.SHUTDOWN:
                message = "cancelled at shutdown"
            elif run.ctx.cancel_requested:
                message = "cancelled on request"
            else:
                message = f"cancelled by the job: {error}"
            return ExecutionStatus.CANCELLED, {"error_message": message}
        return ExecutionStatus.FAILED, {
            "error_message": describe_error(error),
            "traceback": _format_traceback(error),
        }

    # -- cancel ----------------------------------------------------------------------------------------------

    def request_cancel(self, execution_id: str) -> bool:
        """Set a local run's cancel flag and, for jobs that can be interrupted, arm the escalation.

        Returns False when the run is not running in this process.
        """
        run = self._runs.get(execution_id)
        if run is None:
            return False
        run.ctx.request_cancel()
        if run.interruptible and run.escalation is None and not run.job_task.done():
            run.escalation = asyncio.get_running_loop().call_later(self._options.cancel_grace, self._escalate, run)
        return True

    def _escalate(self, run: _Run) -> None:
        if not run.job_task.done():
            if run.stop is None:
                run.stop = _Stop.ESCALATED
            run.job_task.cancel()

    # -- pulse: progress, logs, heartbeats -------------------------------------------------------------------

    async def pulse_loop(self) -> None:
        """Forever: flush progress and logs every ``progress_flush_interval``, heartbeat every
        ``heartbeat_interval``. Runs on the loop independently of job code, so a job blocking its worker thread
        still heartbeats. Store errors are logged and retried on the next tick."""
        loop = asyncio.get_running_loop()
        next_flush = loop.time() + self._options.progress_flush_interval
        next_beat = loop.time() + self._options.heartbeat_interval
        while True:
            await asyncio.sleep(max(0.0, min(next_flush, next_beat) - loop.time()))
            if loop.time() >= next_flush:
                next_flush = loop.time() + self._options.progress_flush_interval
                try:
                    await self.flush()
                except Exception:
                    self._log.exception("jobdeck: writing progress failed; will retry")
            if loop.time() >= next_beat:
                next_beat = loop.time() + self._options.heartbeat_interval
                try:
                    await self.beat()
                except Exception:
                    self._log.exception("jobdeck: heartbeat failed; will retry")

    async def flush(self) -> None:
        """Write all pending progress (one ``write_progress`` call) and log lines (one ``append_log`` call)."""
        await self._flush(None)

    async def _flush(self, execution_id: str | None) -> None:
        # One flush at a time: a run closing waits for an in-flight periodic flush that may carry its last
        # progress, so that write lands before the record turns terminal (after which it would be ignored).
        async with self._flush_lock:
            updates, lines = self._board.take(execution_id)
            try:
                if updates:
                    await self._store.write_progress(updates)
                    updates = []
                if lines:
                    await self._store.append_log(lines)
            except BaseException:
                self._board.restore(updates, lines)
                raise

    async def beat(self) -> None:
        """Heartbeat every local run in one write, then pick up what happened to them elsewhere: a cancel asked
        on another replica, or a record closed by an operator (mark-failed) — both stop the local job."""
        ids = self.running_ids()
        if not ids:
            return
        await self._store.heartbeat(ids, self._clock.now())
        records = {e.id: e for e in await self._store.running_executions(host=self._options.host)}
        for execution_id in ids:
            run = self._runs.get(execution_id)
            if run is None or run.ctx.cancel_requested:
                continue
            record = records.get(execution_id)
            if record is None or record.cancel_requested:
                self._log.info("jobdeck: execution %s was cancelled or closed elsewhere; stopping it", execution_id)
                self.request_cancel(execution_id)

    # -- shutdown --------------------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Let runs finish within ``shutdown_grace``, then stop the rest, and close every record.

        Async jobs are cancelled (recorded ``cancelled``). Thread jobs get their cancel flag and ``cancel_grace``
        to notice it; those still going are abandoned and recorded ``failed`` (a thread cannot be killed).
        """
        self._accepting = False
        runs = list(self._runs.values())
        if runs:
            await asyncio.wait(_lives(runs), timeout=self._options.shutdown_grace)
        runs = list(self._runs.values())
        if not runs:
            return
        for run in runs:
            run.stop = _Stop.SHUTDOWN
            run.ctx.request_cancel()
            if run.interruptible:
                run.job_task.cancel()
        threaded = [run for run in runs if not run.interruptible]
        if threaded:
            await asyncio.wait(_lives(threaded), timeout=self._options.cancel_grace)
        for run in runs:
            if not run.interruptible and not run.job_task.done():
                run.job_task.cancel()  # stops waiting for the thread; the thread itself runs on, unobserved
        _, stuck = await asyncio.wait(_lives(runs), timeout=max(self._options.cancel_grace, 1.0))
        if stuck:
            # Async jobs that swallow CancelledError: close their records anyway, then stop waiting for them.
            stuck_ids = [run.execution.id for run in runs if run.life_task in stuck]
            for task in stuck:
                task.cancel()
            await self._store.fail_executions(
                stuck_ids,
                finished_at=self._clock.now(),
                message="jobdeck shut down before the run finished (the job ignored cancellation)",
            )


def _lives(runs: list[_Run]) -> set[asyncio.Task[None]]:
    return {run.life_task for run in runs if run.life_task is not None}


def render_return_value(value: object) -> str | None:
    """A job's return value as stored: JSON text when JSON-serialisable, else ``repr()``; at most 4 KB of UTF-8
    (longer text is cut and ends with ``…[truncated]``); None stays None."""
    if value is None:
        return None
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        text = repr(value)
    return _truncate(text, MAX_RETURN_VALUE_BYTES)


def _truncate(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len(_TRUNCATED.encode("utf-8"))
    # errors="ignore" drops a multi-byte character cut in half at the boundary.
    return data[:room].decode("utf-8", errors="ignore") + _TRUNCATED


def describe_error(error: BaseException) -> str:
    """``"TypeName: message"`` (just the type name when the message is empty)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _format_traceback(error: BaseException) -> str:
    text = "".join(traceback.format_exception(error))
    # Keep the end (where the error is) when a deep recursion makes the text huge.
    return text if len(text) <= _MAX_TRACEBACK_CHARS else "…\n" + text[-_MAX_TRACEBACK_CHARS:]


def format_seconds(value: float) -> str:
    """``60.0 → "60"``, ``0.25 → "0.25"``: durations in messages without a trailing ``.0``."""
    return f"{value:g}"


def merged_kwargs(configured: Mapping[str, Any], run: Mapping[str, Any] | None) -> dict[str, Any]:
    """The kwargs a run is called with: the job's configured ones, overlaid by the run's own."""
    return {**configured, **(run or {})}
