"""One execution's life — claim → running record → the executor's call → close exactly that record (by the
runner's :class:`~jobdeck.engine.closing.Closer`) — and the pulse that keeps every local run's record fresh
(heartbeats, coalesced progress, log lines, cancel requests from other replicas).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
from concurrent.futures import Executor as ThreadPool
from datetime import datetime
from typing import Any

from jobdeck.clock import Clock
from jobdeck.engine.closing import ClosedCallback, Closer
from jobdeck.engine.context import JobContext, ProgressBoard, bind_context
from jobdeck.engine.executors import Executor, JobCall
from jobdeck.engine.options import EngineOptions
from jobdeck.engine.outcome import (
    MAX_RETURN_VALUE_BYTES,
    describe_error,
    format_duration,
    format_seconds,
    merged_kwargs,
    render_return_value,
)
from jobdeck.engine.runs import Run, Stop
from jobdeck.models import (
    Execution,
    ExecutionClose,
    ExecutionStatus,
    JobSpec,
    OverlapPolicy,
    ProgressUpdate,
    TriggerKind,
)
from jobdeck.store.base import EngineStore

__all__ = [
    "MAX_RETURN_VALUE_BYTES",
    "ClosedCallback",
    "Runner",
    "describe_error",
    "format_seconds",
    "merged_kwargs",
    "render_return_value",
]

STILL_RUNNING = "cancel requested, still running"
"""The progress message of a thread job that did not stop within the cancel grace (it cannot be killed)."""


def _late_claim(spec: JobSpec, execution: Execution, now: datetime) -> str | None:
    """Why a scheduled fire whose claim committed at ``now`` must not run, or None: the claim came beyond the
    misfire grace. Only under the policies that never make a fire wait (``skip``, ``allow``), where that means
    the database kept the claim (or the claim of the job's previous fire) waiting."""
    late = (now - execution.scheduled_time).total_seconds()
    if late <= spec.misfire_grace:  # the usual case, first: one subtraction per fire
        return None
    if late <= spec.misfire_grace + (spec.jitter or 0.0):
        return None
    if execution.trigger is not TriggerKind.SCHEDULE or spec.overlap_policy not in _UNWAITED:
        return None
    return (
        f"missed: claimed {late:.0f} s after its fire time, beyond the misfire grace "
        f"({format_seconds(spec.misfire_grace)} s), as the database kept the claim waiting; not run"
    )


_UNWAITED = (OverlapPolicy.SKIP, OverlapPolicy.ALLOW)


class Runner:
    """Runs executions in this process and keeps their records up to date.

    Every record the runner opens is closed by it, by id, with the run's real outcome — or, when the runner
    cannot (shutdown with a job that will not stop, a store outage), left for the zombie sweep, which its
    stopped heartbeats make certain.
    """

    def __init__(
        self, store: EngineStore, *, clock: Clock, options: EngineOptions, on_closed: ClosedCallback | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._options = options
        self._board = ProgressBoard(max_log_lines=options.log_max_lines, max_log_bytes=options.log_max_bytes)
        self._runs: dict[str, Run] = {}
        self._running_per_job: dict[str, int] = {}
        """Runs of each job from their claim until their job ends (see :meth:`running_counts`)."""
        self._closer = Closer(
            store,
            clock=clock,
            options=options,
            flush=self.flush,
            forget=self._forget,
            accepting=lambda: self._accepting,
            on_closed=on_closed,
        )
        self._forgotten = asyncio.Event()
        """Set whenever a run is forgotten (shutdown waits on it)."""
        self._threads: ThreadPool | None = None
        self._accepting = False
        self._flush_lock = asyncio.Lock()
        self._log = logging.getLogger(__name__)

    # -- queries ---------------------------------------------------------------------------------------------

    def running_ids(self) -> list[str]:
        """Ids of the executions running in this process, oldest first."""
        return list(self._runs)

    def running_counts(self) -> dict[str, int]:
        """Runs going on in this process per job id (jobs with none are absent): counted from their claim's
        commit until their job ends, so a record seen closed is no longer counted. Safe from another thread (the
        copy is one step under the GIL)."""
        return dict(self._running_per_job)

    def closing_counts(self) -> dict[str, int]:
        """Runs of this process per job whose job has ended but whose record still says ``running``: see
        :meth:`Closer.closing_counts`."""
        return self._closer.closing_counts()

    @property
    def closer(self) -> Closer:
        """What closes this runner's records (a burst holds its closes while it starts)."""
        return self._closer

    def live(self, execution_id: str) -> ProgressUpdate | None:
        """The latest in-memory progress of a local run, or None."""
        return self._board.live(execution_id)

    @property
    def board(self) -> ProgressBoard:
        """Where this process's runs report progress and log lines."""
        return self._board

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self, threads: ThreadPool) -> None:
        """Accept runs; sync jobs go to ``threads``."""
        self._threads = threads
        self._accepting = True

    async def launch(self, spec: JobSpec, executor: Executor, execution: Execution, *, catch_up: bool = False) -> bool:
        """Claim the run by inserting its ``running`` record, then start it.

        Returns False when another process already claimed this fire (nothing is started).

        A scheduled fire whose claim lands later than its misfire grace (the database held the write) does not
        run: its record is closed ``missed`` saying why — unless it is a ``catch_up`` run, late on purpose.
        """
        if not await self._store.insert_execution(execution):
            return False
        late = None if catch_up else _late_claim(spec, execution, self._clock.now())
        if late is not None:
            await self._close_missed([(execution, late)])
            return True
        if not self._accepting or self._threads is None:
            # Shutdown began while the claim was in flight: the record must not stay open.
            await self._store.close_execution(
                execution.id,
                status=ExecutionStatus.CANCELLED,
                finished_at=self._clock.now(),
                error_message="jobdeck was shutting down; the run did not start",
            )
            return True
        self._start(spec, executor, execution, self._threads)
        return True

    async def launch_many(self, launches: list[tuple[JobSpec, Executor, Execution]]) -> None:
        """:meth:`launch` for several runs, claimed together. A run whose claim could not be written is logged
        and dropped (its fire is lost, as a single launch's would be); the others start."""
        results = await self._store.insert_executions([execution for _, _, execution in launches])
        now = self._clock.now()
        missed: list[tuple[Execution, str]] = []
        for (spec, executor, execution), written in zip(launches, results, strict=True):
            if written is True and (late := _late_claim(spec, execution, now)) is not None:
                missed.append((execution, late))
            elif isinstance(written, Exception):
                self._log.error(
                    "jobdeck: could not claim the fire %s of job %s; it is lost",
                    execution.scheduled_time.isoformat(),
                    execution.job_id,
                    exc_info=written,
                )
            elif written and (not self._accepting or self._threads is None):
                try:
                    await self._store.close_execution(
                        execution.id,
                        status=ExecutionStatus.CANCELLED,
                        finished_at=self._clock.now(),
                        error_message="jobdeck was shutting down; the run did not start",
                    )
                except Exception:
                    self._log.exception("jobdeck: could not close %s; leaving it to the sweep", execution.id)
            elif written:
                assert self._threads is not None
                self._start(spec, executor, execution, self._threads)
        if missed:
            await self._close_missed(missed)

    async def _close_missed(self, late: list[tuple[Execution, str]]) -> None:
        now = self._clock.now()
        closes = [
            ExecutionClose(execution_id=e.id, status=ExecutionStatus.MISSED, finished_at=now, error_message=message)
            for e, message in late
        ]
        for (execution, message), result in zip(late, await self._store.close_executions(closes), strict=True):
            if isinstance(result, Exception):
                self._log.error("jobdeck: could not close %s as missed; leaving it to the sweep", execution.id)
            else:
                self._log.warning("jobdeck: job %s: %s", execution.job_id, message)

    def _start(self, spec: JobSpec, executor: Executor, execution: Execution, threads: ThreadPool) -> None:
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
        loop = asyncio.get_running_loop()
        job_task = loop.create_task(
            executor.invoke(call), name=f"jobdeck:{execution.job_id}:{execution.id}", context=context
        )
        run = Run(spec=spec, execution=execution, ctx=ctx, interruptible=executor.interruptible, job_task=job_task)
        self._runs[execution.id] = run
        self._running_per_job[spec.id] = self._running_per_job.get(spec.id, 0) + 1
        if spec.timeout is not None:
            run.timers = [loop.call_later(spec.timeout, self._time_out, run)]
        # No task of its own waits for the job: its end is a callback, and closing is batched (see _close_ended).
        job_task.add_done_callback(functools.partial(self._job_done, run))

    def _job_done(self, run: Run, task: asyncio.Task[Any]) -> None:
        if not task.cancelled():
            task.exception()  # retrieved: a job abandoned earlier may end later, with nobody awaiting it
        self._end(run)

    def _end(self, run: Run) -> None:
        if run.ended or run.over:
            return
        self._uncount(run)
        self._closer.end(run)

    def _uncount(self, run: Run) -> None:
        if run.counted:
            run.counted = False
            job_id = run.spec.id
            left = self._running_per_job[job_id] - 1
            if left:
                self._running_per_job[job_id] = left
            else:
                del self._running_per_job[job_id]

    def _forget(self, run: Run) -> None:
        if run.over:
            return
        run.over = True
        self._uncount(run)
        self._closer.settled(run)
        for timer in [*(run.timers or ()), run.escalation]:
            if timer is not None:
                timer.cancel()
        execution_id = run.execution.id
        if self._runs.get(execution_id) is run:
            del self._runs[execution_id]
        self._board.forget(execution_id)
        self._forgotten.set()

    # -- cancel ----------------------------------------------------------------------------------------------

    def request_cancel(self, execution_id: str, *, reason: str | None = None) -> bool:
        """Set a local run's cancel flag (a command gets SIGTERM now) and arm the escalation: after
        ``cancel_grace`` an interruptible job's task is cancelled (a command's process group gets SIGKILL); a
        thread job is reported "cancel requested, still running" until it returns. ``reason`` goes into the
        record's message.

        Returns False when the run is not running in this process.
        """
        run = self._runs.get(execution_id)
        if run is None:
            return False
        if reason is not None and run.cancel_reason is None and not run.ctx.cancel_requested:
            run.cancel_reason = reason
        run.ctx.request_cancel()
        if run.escalation is None and not run.job_task.done():
            run.escalation = asyncio.get_running_loop().call_later(self._options.cancel_grace, self._escalate, run)
        return True

    def _time_out(self, run: Run) -> None:
        if run.job_task.done():
            return
        assert run.spec.timeout is not None
        run.timed_out = True
        run.ctx.log(f"[jobdeck] timed out after {format_duration(run.spec.timeout)}: stopping the run", "error")
        self.request_cancel(run.execution.id, reason=f"timeout {format_duration(run.spec.timeout)}")

    def _escalate(self, run: Run) -> None:
        if run.job_task.done():
            return
        if not run.interruptible:
            # Python cannot stop a thread: say so where operators look, and wait for the job to return.
            run.ctx.log(f"[jobdeck] {STILL_RUNNING}: the job runs in a thread and ignores the cancel flag", "warning")
            self._board.record(
                ProgressUpdate(execution_id=run.execution.id, at=self._clock.now(), message=STILL_RUNNING)
            )
            return
        if run.stop is None:
            run.stop = Stop.ESCALATED
        run.job_task.cancel()
        # A job that swallows CancelledError gets one more grace, then its record is closed without it.
        give_up = asyncio.get_running_loop().call_later(self._options.cancel_grace, self._give_up, run)
        run.timers = [*(run.timers or ()), give_up]

    def _give_up(self, run: Run) -> None:
        if not run.job_task.done():
            self._end(run)

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
                    lines = []
            except BaseException:
                self._board.restore(updates, lines)
                raise
            trims = self._board.take_trims()
            try:
                for trimmed_id, (keep_from, note) in list(trims.items()):
                    await self._store.trim_log(trimmed_id, keep_from_seq=keep_from, note=note, at=self._clock.now())
                    del trims[trimmed_id]
            except BaseException:
                self._board.restore_trims(trims)
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
        try:
            await self._stop_runs()
        finally:
            # Whatever was not closed is left to the sweep: nothing waits for it any more (see when_closed).
            self._closer.call_when_closed()

    async def _stop_runs(self) -> None:
        self._accepting = False
        self._closer.close_if_ended()  # runs held for a burst's sake are closed now
        runs = list(self._runs.values())
        if runs:
            await self._wait_over(runs, self._options.shutdown_grace)
        runs = list(self._runs.values())
        if not runs:
            return
        for run in runs:
            run.stop = Stop.SHUTDOWN
            run.ctx.request_cancel()
            if run.interruptible:
                run.job_task.cancel()
        threaded = [run for run in runs if not run.interruptible]
        if threaded:
            await self._wait_over(threaded, self._options.cancel_grace)
        for run in runs:
            if not run.interruptible and not run.job_task.done():
                run.job_task.cancel()  # stops waiting for the thread; the thread itself runs on, unobserved
        stuck = await self._wait_over(runs, max(self._options.cancel_grace, 1.0))
        if stuck:
            # Async jobs that swallow CancelledError (or closes the store would not take): close their records
            # anyway, then stop waiting for them.
            if any(run.ended for run in stuck):
                self._closer.abandon()
            for run in stuck:
                self._forget(run)
            await self._store.fail_executions(
                [run.execution.id for run in stuck],
                finished_at=self._clock.now(),
                message="jobdeck shut down before the run finished (the job ignored cancellation)",
            )

    async def _wait_over(self, runs: list[Run], timeout: float) -> list[Run]:  # noqa: ASYNC109
        """Wait until the runner is done with ``runs`` or ``timeout`` passed; the runs it is not done with."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = [run for run in runs if not run.over]
            if not left or loop.time() >= deadline:
                return left
            self._forgotten.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._forgotten.wait(), deadline - loop.time())
