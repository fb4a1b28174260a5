"""Closing runs: a run's end is a callback; one closer task closes the runs that ended in batches (a backlog in
chunks), retries a failing store a few times, hands each closed run on (retries, waiting fires) and has the runner
forget it. Closes can be held while a burst is being claimed and started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from jobdeck.clock import Clock
from jobdeck.engine.options import EngineOptions
from jobdeck.engine.retries import retry_at
from jobdeck.engine.runs import Run, Stop, run_outcome
from jobdeck.models import Execution, ExecutionClose, ExecutionStatus, JobSpec
from jobdeck.store.base import EngineStore

__all__ = ["ClosedCallback", "Closer"]

ClosedCallback = Callable[[JobSpec, Execution, ExecutionStatus, "datetime | None"], None]
"""``(spec, execution, status, retry_at)``: a run of this process was closed (called on the loop)."""

_SAME_END = timedelta(milliseconds=1)
"""Runs ending within this of the previous run's end get its end time (``Closer.end``)."""
_CLOSE_ATTEMPTS = 3
_CLOSE_CHUNK = 2000
"""Runs closed per task when a backlog is closed (see ``_close_ended``): the store writer's batch size."""
_CLOSE_RETRY_DELAY = 0.5


class Closer:
    """Closes the records of the runs that ended, by id, with their outcome.

    ``flush`` writes the pending progress and log lines (they land before a record turns terminal); ``forget``
    tells the runner it is done with a run (closed, or left to the zombie sweep); ``accepting`` says whether the
    runner still takes runs (once it does not, shutdown waits for the closes: they are no longer held);
    ``on_closed`` hears of every run closed here (retries, fires waiting for the job).
    """

    def __init__(
        self,
        store: EngineStore,
        *,
        clock: Clock,
        options: EngineOptions,
        flush: Callable[[], Awaitable[None]],
        forget: Callable[[Run], None],
        accepting: Callable[[], bool],
        on_closed: ClosedCallback | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._options = options
        self._flush = flush
        self._forget = forget
        self._accepting = accepting
        self._on_closed = on_closed
        self._closing_per_job: dict[str, int] = {}
        """Runs of each job whose job ended and whose record is not closed yet (see :meth:`closing_counts`)."""
        self._ending: list[Run] = []
        self._task: asyncio.Task[None] | None = None
        self._close_holds = 0
        self._when_closed: list[Callable[[], None]] = []
        self._last_end: datetime | None = None
        self._log = logging.getLogger(__name__)

    def closing_counts(self) -> dict[str, int]:
        """Runs per job whose job has ended but whose record still says ``running`` (the close is on its way, or
        held while the database refuses writes): the store counts them as running, they are not. The live mapping:
        read it, do not keep or change it."""
        return self._closing_per_job

    def settled(self, run: Run) -> None:
        """The runner forgets ``run``: it no longer counts as closing."""
        if run.ended:
            job_id = run.spec.id
            left = self._closing_per_job[job_id] - 1
            if left:
                self._closing_per_job[job_id] = left
            else:
                del self._closing_per_job[job_id]

    def abandon(self) -> None:
        """Shutdown gave up on the runs still closing: stop the closer task (its runs are failed by the runner)."""
        if self._task is not None:
            self._task.cancel()

    def hold_closes(self) -> None:
        """Close no run until :meth:`release_closes` (as many calls): a burst being claimed and started keeps the
        loop and the store's writer for its claims. Runs ending meanwhile keep their end time (their records get
        it as ``finished_at``) and are closed on release."""
        self._close_holds += 1

    def release_closes(self) -> None:
        """Undo one :meth:`hold_closes`; the last one closes what ended meanwhile."""
        self._close_holds -= 1
        self.close_if_ended()

    @property
    def _closes_held(self) -> bool:
        # Not once shutdown began: it waits for the records of runs that ended to be closed.
        return self._close_holds > 0 and self._accepting()

    def close_if_ended(self) -> None:
        """Start closing the runs that ended, unless closes are held or a close is already under way."""
        if self._ending and self._task is None and not self._closes_held:
            self._task = asyncio.get_running_loop().create_task(self._close_ended(), name="jobdeck-closer")

    def end(self, run: Run) -> None:
        """``run``'s job is over (the runner has stopped counting it as running): close its record soon."""
        if run.ended or run.over:
            return
        run.ended = True
        job_id = run.spec.id
        self._closing_per_job[job_id] = self._closing_per_job.get(job_id, 0) + 1
        now = self._clock.now()
        last = self._last_end
        if last is not None and last <= now < last + _SAME_END:
            now = last  # runs ending together share one instant: their closes convert one timestamp, not one each
        run.ended_at = self._last_end = now
        self._ending.append(run)
        self.close_if_ended()

    def when_closed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the runs that ended so far are closed (at once when none is waiting; if closes
        are held, after their release). A burst is over then (see :mod:`jobdeck.engine.bursts`)."""
        if not self._ending and self._task is None:
            callback()
        else:
            self._when_closed.append(callback)

    def call_when_closed(self) -> None:
        """Call every callback waiting for closes now (shutdown: nothing waits for what is not closed)."""
        callbacks, self._when_closed = self._when_closed, []
        for callback in callbacks:
            callback()

    async def _close_ended(self) -> None:
        # One task closes the runs that ended, in batches: the runs ending while a batch commits form the next one.
        try:
            while self._ending and not self._closes_held:
                await asyncio.sleep(0)  # runs ending in this same turn of the loop join the batch
                runs, self._ending = self._ending, []
                if len(runs) <= _CLOSE_CHUNK:
                    await self._close_runs(runs)
                    continue
                # A backlog (a burst's runs, their closes held while it started): a task per chunk, one per turn of
                # the loop, so the store's writer commits the first chunk while the next ones are being made.
                chunks: list[asyncio.Task[None]] = []
                for offset in range(0, len(runs), _CLOSE_CHUNK):
                    if chunks:
                        await asyncio.sleep(0)
                    chunk = runs[offset : offset + _CLOSE_CHUNK]
                    chunks.append(asyncio.get_running_loop().create_task(self._close_runs(chunk)))
                await asyncio.gather(*chunks)
        finally:
            self._task = None
            if not self._ending:
                self.call_when_closed()
        self.close_if_ended()  # released while the last batch was being closed (the release saw this task running)

    async def _close_runs(self, runs: list[Run]) -> None:
        try:
            now = self._clock.now()
            outcomes = []
            for run in runs:
                status, fields = run_outcome(run, cancel_grace=self._options.cancel_grace)
                ended_at = run.ended_at or now
                retry = None if run.stop is Stop.SHUTDOWN else retry_at(run.spec, run.execution, status, ended_at)
                outcomes.append((run, status, fields, retry, ended_at))
            try:
                # The last progress and log lines of these runs land before their records turn terminal.
                await self._flush()
            except Exception:
                self._log.exception("jobdeck: could not store the final progress of %d execution(s)", len(runs))
            closes = [
                ExecutionClose(
                    execution_id=run.execution.id, status=status, finished_at=ended_at, retry_at=retry, **fields
                )
                for run, status, fields, retry, ended_at in outcomes
            ]
            closed = await self._close(closes)
            for (run, status, _, retry, _), ok in zip(outcomes, closed, strict=True):
                if ok and self._on_closed is not None:
                    try:
                        self._on_closed(run.spec, run.execution, status, retry)
                    except Exception:
                        self._log.exception("jobdeck: after closing execution %s", run.execution.id)
        finally:
            for run in runs:
                self._forget(run)

    async def _close(self, closes: list[ExecutionClose]) -> list[bool]:
        # A few tries ride out a short store outage; the runs stay local (and heartbeating) meanwhile. After that a
        # record is left running and, its heartbeats gone, the zombie sweep closes it.
        results = [False] * len(closes)
        todo = list(range(len(closes)))
        for attempt in range(_CLOSE_ATTEMPTS):
            try:
                answers: list[bool | Exception] = await self._store.close_executions([closes[i] for i in todo])
            except Exception as exc:
                answers = [exc] * len(todo)
            failed: list[tuple[int, Exception]] = []
            for i, answer in zip(todo, answers, strict=True):
                if isinstance(answer, Exception):
                    failed.append((i, answer))
                    continue
                results[i] = answer
                if not answer:
                    self._log.info(
                        "jobdeck: execution %s was closed elsewhere first; kept that outcome", closes[i].execution_id
                    )
            if not failed:
                break
            todo = [i for i, _ in failed]
            if attempt == _CLOSE_ATTEMPTS - 1:
                for i, error in failed:
                    self._log.error(
                        "jobdeck: could not close execution %s; leaving it to the sweep",
                        closes[i].execution_id,
                        exc_info=error,
                    )
                break
            self._log.warning("jobdeck: closing %d execution(s) failed; retrying", len(todo), exc_info=failed[0][1])
            await asyncio.sleep(_CLOSE_RETRY_DELAY * (attempt + 1))
        return results
