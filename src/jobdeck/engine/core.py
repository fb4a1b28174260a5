"""The engine: the registry of jobs, and the composition root of the parts that fire, run and close them.

The parts each own their state and get their collaborators here, explicitly: the :class:`Timer` (APScheduler: when
a job is due) hands fires to the :class:`FirePipeline` (claims, overlap gate, bursts), which has the
:class:`Runner` start them on the :class:`Executor` the :class:`ExecutorRegistry` picks for the job's kind; the
runner's :class:`Closer` closes their records and hands failed runs to the :class:`RetryScheduler`; the
:class:`Watchdog` sweeps zombies. The registry of job specs is the engine's own (APScheduler is only the timer), so a
job whose once-schedule has passed, or that is paused, is still listed and can still be triggered by hand.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Literal

from jobdeck.clock import Clock
from jobdeck.engine.executors import ExecutorRegistry
from jobdeck.engine.firing import FirePipeline
from jobdeck.engine.logs import RunLogHandler
from jobdeck.engine.options import EngineOptions
from jobdeck.engine.overlap import OverlapGate
from jobdeck.engine.pauses import PauseTimers
from jobdeck.engine.retries import RetryScheduler
from jobdeck.engine.runner import Runner, merged_kwargs
from jobdeck.engine.scheduler import Timer
from jobdeck.engine.views import Entry, JobView, JobViews, view_of
from jobdeck.engine.watchdog import Watchdog
from jobdeck.errors import InvalidState, JobAlreadyRunning, JobNotFound
from jobdeck.models import (
    Execution,
    ExecutionStatus,
    JobSpec,
    JobState,
    ProgressUpdate,
    Schedule,
    TriggerKind,
)
from jobdeck.schedules import next_fire_time, parse_schedule
from jobdeck.store.base import EngineStore
from jobdeck.store.held import WriteStatus

__all__ = ["Engine", "JobView", "PauseExpiredHandler"]

EngineState = Literal["running", "stopped"]


PauseExpiredHandler = Callable[[str], Awaitable[None]]
"""Called with the job id when a timed pause ends; it persists and applies the resume (the service audits it)."""


class Engine:
    """Runs registered jobs on their schedules and on demand, and records every execution in the store.

    Build it, :meth:`register` jobs (before or after :meth:`start`), ``await start()`` inside the running event
    loop, and ``await shutdown()`` before closing the store. Pause, resume and schedule overrides here are
    in-memory; persisting them is the caller's job (the service does it).

    ``executors`` decides where each kind of job runs (default: :meth:`ExecutorRegistry.default`).
    """

    def __init__(
        self,
        store: EngineStore,
        *,
        clock: Clock,
        options: EngineOptions | None = None,
        executors: ExecutorRegistry | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._options = options if options is not None else EngineOptions()
        self._executors = executors or ExecutorRegistry.default(command_env=self._options.command_env)
        self._entries: dict[str, Entry] = {}
        self._changes = 0
        """Grows with every change of a job's registration, pause or schedule (see :meth:`state_key`)."""
        self._views = JobViews()
        self._runner = Runner(store, clock=clock, options=self._options, on_closed=self._after_run)
        self._watchdog = Watchdog(store, clock=clock, options=self._options, local_ids=self._runner.running_ids)
        self._gate = OverlapGate(
            store,
            clock=clock,
            options=self._options,
            cancel_local=lambda eid, reason: self._runner.request_cancel(eid, reason=reason),
            local_counts=lambda: (self._runner.running_counts(), self._runner.closing_counts()),
        )
        self._pipeline = FirePipeline(
            store,
            clock=clock,
            options=self._options,
            entries=self._entries,
            gate=self._gate,
            runner=self._runner,
            closer=self._runner.closer,
            running=lambda: self.running,
        )
        self._retries = RetryScheduler(clock=clock, start=self._start_retry)
        self._log_handler = RunLogHandler(self._runner.board)
        self._pauses = PauseTimers(
            clock=clock,
            on_end=lambda job_id: self._pipeline.spawn(self._pause_expired(job_id), name=f"jobdeck-unpause:{job_id}"),
        )
        self._on_pause_expired: PauseExpiredHandler | None = None
        self._timer: Timer | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._state: EngineState = "stopped"
        self._log = logging.getLogger(__name__)

    # -- state -----------------------------------------------------------------------------------------------

    @property
    def options(self) -> EngineOptions:
        """The options the engine was built with."""
        return self._options

    @property
    def running(self) -> bool:
        """Whether the engine is started (firing jobs and accepting triggers)."""
        return self._state == "running"

    @property
    def state(self) -> EngineState:
        """``"running"`` or ``"stopped"``."""
        return self._state

    def pending_retries(self) -> list[str]:
        """Ids of the failed attempts whose retry waits in this process."""
        return self._retries.pending

    def local_running(self) -> list[str]:
        """Ids of the executions running in this process, oldest first."""
        return self._runner.running_ids()

    def write_status(self) -> WriteStatus:
        """The health of the engine's store writes (claims, closes …): see :meth:`Store.write_status`."""
        return self._store.write_status()

    def local_running_counts(self) -> dict[str, int]:
        """Runs going on in this process per job id, from claim to the end of their job, without asking the
        store. Safe to call from another thread."""
        return self._runner.running_counts()

    def live_progress(self, execution_id: str) -> ProgressUpdate | None:
        """The latest progress a run in this process reported, fresher than the store between flushes; None for
        runs not going on here."""
        return self._runner.live(execution_id)

    # -- jobs ------------------------------------------------------------------------------------------------

    def register(self, spec: JobSpec, state: JobState | None = None) -> None:
        """Add (or replace) a job. ``state`` is the operator's stored state: its ``paused`` (None → the spec's
        initial ``paused``) and ``schedule_override`` (parsed in the job's timezone) win over the spec.

        A job with ``enabled = False`` is not registered at all.

        :raises InvalidSchedule: the stored schedule override does not parse
        :raises ConfigError: the job's function cannot be imported, or its kind is not supported
        """
        self._changes += 1
        if not spec.enabled:
            self._entries.pop(spec.id, None)
            if self._timer is not None:
                self._timer.remove_job(spec.id)
            return
        override = None
        if state is not None and state.schedule_override:
            override = parse_schedule(state.schedule_override, timezone=spec.timezone)
        paused = state.paused if state is not None and state.paused is not None else spec.paused
        entry = Entry(
            spec=spec,
            executor=self._executors.for_spec(spec),
            override=override,
            paused=paused,
        )
        if state is not None:
            entry.paused_until = state.paused_until if paused else None
            marks = [t for t in (state.last_fire_time, state.updated_at) if t is not None]
            entry.catch_up_after = max(marks) if state.last_fire_time is not None else None
        self._entries[spec.id] = entry
        if self._timer is not None:
            self._schedule(entry)
            self._arm_pause_timer(entry)

    def jobs(self) -> list[JobView]:
        """Every registered job, in registration order. A job's view is the same object as in the previous answer
        while nothing about the job changed (the job list asks after every fire, and one fire moves one job)."""
        if self._timer is None:
            return [self._view(entry) for entry in self._entries.values()]
        return self._views.answer(self._entries, self._timer.next_runs(), made_in=(self._timer, self._changes))

    def paused_count(self) -> int:
        """How many registered jobs are paused (without building every job's view)."""
        return sum(1 for entry in self._entries.values() if entry.paused)

    @property
    def job_count(self) -> int:
        return len(self._entries)

    def state_key(self) -> object:
        """Equal between two calls when :meth:`jobs` would answer the same: no job was added, removed, paused,
        resumed or rescheduled and no next run time moved. Never equal while the timer is stopped (next run times
        then follow the clock)."""
        if self._timer is None:
            return object()
        # Counters rather than the states themselves: the job list asks on every request.
        return (self._timer, self._timer.changes, self._changes)

    def job(self, job_id: str) -> JobView:
        """One registered job.

        :raises JobNotFound: no job has this id
        """
        return self._view(self._entry(job_id))

    async def pause(self, job_id: str, *, until: datetime | None = None) -> None:
        """Stop firing a job on its schedule (manual triggers still work). Idempotent. With ``until`` the pause
        is timed: at that instant the job resumes by itself (through the handler of
        :meth:`set_pause_expired_handler`, which persists and audits it).

        :raises JobNotFound: no job has this id
        """
        entry = self._entry(job_id)
        self._changes += 1
        entry.paused = True
        entry.paused_until = until
        if self._timer is not None:
            self._timer.pause(job_id)
        self._arm_pause_timer(entry)

    async def resume(self, job_id: str) -> None:
        """Fire a paused job again, from its next fire time after now (fires missed while paused are skipped).
        Idempotent.

        :raises JobNotFound: no job has this id
        """
        entry = self._entry(job_id)
        self._changes += 1
        entry.paused = False
        entry.paused_until = None
        entry.catch_up_after = self._clock.now()
        self._arm_pause_timer(entry)
        if self._timer is not None:
            self._timer.resume(job_id)

    def set_pause_expired_handler(self, handler: PauseExpiredHandler) -> None:
        """Who resumes a job whose timed pause ended (the service: it persists and audits the resume). Without
        one the engine persists the resume itself, as actor ``system``."""
        self._on_pause_expired = handler

    def _arm_pause_timer(self, entry: Entry) -> None:
        if self._timer is not None:
            self._pauses.arm(entry.spec.id, entry.paused_until if entry.paused else None)

    async def _pause_expired(self, job_id: str) -> None:
        entry = self._entries.get(job_id)
        if entry is None or not entry.paused or entry.paused_until is None:
            return
        if self._on_pause_expired is not None:
            await self._on_pause_expired(job_id)
        else:
            await self._store.set_paused(job_id, False, at=self._clock.now(), actor="system")
            await self.resume(job_id)

    async def reschedule(self, job_id: str, schedule: Schedule | None) -> None:
        """Use ``schedule`` instead of the configured one; None goes back to the configured schedule. The
        paused state is kept.

        :raises JobNotFound: no job has this id
        """
        entry = self._entry(job_id)
        self._changes += 1
        entry.override = schedule
        if self._timer is not None:
            self._schedule(entry)

    def _entry(self, job_id: str) -> Entry:
        try:
            return self._entries[job_id]
        except KeyError:
            raise JobNotFound(job_id) from None

    def _view(self, entry: Entry) -> JobView:
        if entry.paused:
            next_run = None
        elif self._timer is not None:
            next_run = self._timer.next_run_time(entry.spec.id)
        else:
            next_run = next_fire_time(entry.schedule, after=self._clock.now())
        return view_of(entry, next_run=next_run)

    def _schedule(self, entry: Entry) -> None:
        assert self._timer is not None
        self._timer.set_job(
            entry.spec.id,
            entry.schedule,
            misfire_grace=entry.spec.misfire_grace,
            coalesce=entry.spec.coalesce,
            paused=entry.paused,
        )

    # -- runs ------------------------------------------------------------------------------------------------

    async def trigger(
        self,
        job_id: str,
        *,
        force: bool = False,
        kwargs: Mapping[str, Any] | None = None,
        actor: str,
        execution_id: str | None = None,
    ) -> Execution:
        """Run a job once now, paused or not, without changing anything about the job.

        ``kwargs`` overlay the job's configured kwargs for this run only; ``force`` reaches a ``force``
        parameter of the job and lifts the max_instances check. Returns the new ``running`` record.

        ``execution_id`` (made with :func:`jobdeck.ids.new_id`) names the new record, for callers that must know
        it before the run starts (idempotent triggers).

        :raises JobNotFound: no job has this id
        :raises KwargsInvalid: the merged kwargs do not fit the job's parameters (nothing is started)
        :raises JobAlreadyRunning: ``max_instances`` executions of the job are running (on any replica) and
            ``force`` is false
        :raises InvalidState: the engine is not running
        """
        entry = self._entry(job_id)
        if not self.running:
            raise InvalidState("the jobdeck engine is not running; jobs cannot be triggered")
        spec = entry.spec
        run_kwargs = merged_kwargs(spec.kwargs, kwargs)
        entry.executor.check_kwargs(job_id, run_kwargs)
        if not force:
            running = (await self._store.count_running()).get(job_id, 0)
            if running >= spec.max_instances:
                raise JobAlreadyRunning(job_id, running, spec.max_instances)
        now = self._clock.now()
        execution = self._pipeline.new_execution(
            spec,
            now,
            status=ExecutionStatus.RUNNING,
            scheduled_time=now,
            trigger=TriggerKind.MANUAL,
            triggered_by=actor,
            force=force,
            kwargs=run_kwargs,
            execution_id=execution_id,
        )
        await self._runner.launch(spec, entry.executor, execution)
        return execution

    async def cancel(self, execution_id: str, *, reason: str | None = None) -> None:
        """Stop a run of this process: set its cancel flag now (the job sees :class:`JobCancelled` at its next
        progress or cancel check) and, for async jobs, cancel its task after ``cancel_grace``.

        The caller has already set ``cancel_requested`` in the store; runs on other replicas pick that up at
        their next heartbeat. Unknown or non-local ids are ignored.
        """
        self._runner.request_cancel(execution_id, reason=reason)

    # -- after a run: retries and waiting fires ---------------------------------------------------------------

    def _after_run(
        self, spec: JobSpec, execution: Execution, status: ExecutionStatus, retry_at: datetime | None
    ) -> None:
        self._gate.run_ended(spec.id)
        if retry_at is not None and self.running:
            self._retries.schedule(dataclasses.replace(execution, status=status, retry_at=retry_at))

    async def _start_retry(self, failed: Execution) -> None:
        entry = self._entries.get(failed.job_id)
        if entry is None or not self.running or failed.retry_at is None:
            return
        now = self._clock.now()
        execution = self._pipeline.new_execution(
            entry.spec,
            now,
            status=ExecutionStatus.RUNNING,
            scheduled_time=failed.retry_at,
            trigger=TriggerKind.RETRY,
            triggered_by=failed.triggered_by,
            force=failed.force,
            kwargs=failed.kwargs,
            attempt=failed.attempt + 1,
            retry_of=failed.id,
        )
        await self._runner.launch(entry.spec, entry.executor, execution)

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def scheduling(self) -> bool:
        """Whether this engine fires jobs on their schedules; False for an API-only process (see :meth:`start`)."""
        return self._timer is not None

    async def start(self, *, scheduling: bool = True) -> None:
        """Close what a previous process of this host left running, then start the heartbeat / progress loop, the
        watchdog and (``scheduling``) firing. Call inside the running event loop. Idempotent.

        Without ``scheduling`` the engine runs what is triggered by hand but fires nothing on a schedule (another
        process on the same SQLite file does) until :meth:`start_scheduling`."""
        if self.running:
            return
        await self._watchdog.recover_on_startup(self._clock.now())
        self._threads = ThreadPoolExecutor(max_workers=self._options.max_threads, thread_name_prefix="jobdeck-job")
        self._runner.start(self._threads)
        self._log_handler.install()
        self._gate.reopen()
        loop = asyncio.get_running_loop()
        self._loops = [
            loop.create_task(self._runner.pulse_loop(), name="jobdeck-pulse"),
            loop.create_task(self._watchdog.run(), name="jobdeck-watchdog"),
        ]
        self._state = "running"
        if scheduling:
            await self.start_scheduling()

    async def start_scheduling(self, states: Mapping[str, JobState] | None = None) -> None:
        """Start firing jobs on their schedules, catch up missed fires and wait for pending retries. ``states``
        (the store's, re-read by a process taking over from another) replace the jobs' paused state and overrides
        first. No-op when not running or already scheduling."""
        if not self.running or self._timer is not None:
            return
        # The runtime drops a stored state that cannot apply before it gets here (runtime._usable_states).
        for spec_id, state in (states or {}).items():
            if (entry := self._entries.get(spec_id)) is not None:
                self.register(entry.spec, state)
        timer = Timer(on_fire=self._pipeline.on_fire, on_missed=self._pipeline.on_missed)
        timer.start()
        self._timer = timer
        for entry in self._entries.values():
            self._schedule(entry)
        for entry in self._entries.values():
            self._arm_pause_timer(entry)
            try:
                await self._pipeline.catch_up(entry)
            except Exception:
                self._log.exception("jobdeck: catching up the missed fires of job %s failed", entry.spec.id)
        try:
            for failed in await self._store.pending_retries():
                self._retries.schedule(failed)
        except Exception:
            self._log.exception("jobdeck: could not read the pending retries; they wait for the next start")

    async def shutdown(self) -> None:
        """Stop firing; give running jobs ``shutdown_grace`` to finish; then cancel the rest. Every record this
        process opened is closed: async jobs stopped → ``cancelled`` ("cancelled at shutdown"); thread jobs that
        would not stop → ``failed`` ("jobdeck shut down before the run finished"). Idempotent."""
        if not self.running:
            return
        self._state = "stopped"
        if self._timer is not None:
            self._timer.shutdown()
            self._timer = None
        self._pauses.clear()
        await self._retries.shutdown()
        self._gate.close()
        await self._pipeline.drain(max(1.0, self._options.cancel_grace))
        await self._runner.shutdown()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        try:
            await self._runner.flush()
        except Exception:
            self._log.exception("jobdeck: final progress flush failed")
        if self._threads is not None:
            # Threads of abandoned jobs run on; nothing waits for them.
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None
        self._log_handler.uninstall()

    # -- housekeeping (also called directly by tests and tools) ---------------------------------------------

    async def sweep_zombies(self, now: datetime) -> int:
        """Fail running records whose heartbeat is older than ``zombie_after`` at ``now`` (any host), sparing
        this process's runs. Returns how many were closed."""
        return await self._watchdog.sweep_zombies(now)

    async def recover_on_startup(self, now: datetime) -> int:
        """Fail running records that dead processes of this host left behind. Returns how many were closed."""
        return await self._watchdog.recover_on_startup(now)
