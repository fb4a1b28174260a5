"""SchedulerService: every use case of the control plane, and the audit trail of operator actions."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from jobdeck.audit import AuditTrail
from jobdeck.clock import Clock
from jobdeck.engine import EngineHandle
from jobdeck.errors import ExecutionNotFound, ExecutionNotRunning, InvalidInput, StoreUnavailable
from jobdeck.events import EventBus
from jobdeck.ids import new_id
from jobdeck.job_list import JobList, job_summary
from jobdeck.models import (
    AuditAction,
    AuditEntry,
    AuditQuery,
    Execution,
    ExecutionQuery,
    ExecutionStats,
    ExecutionStatus,
    LogLine,
    Page,
    Principal,
    Role,
)
from jobdeck.readmodels import (
    HealthReport,
    JobOverview,
    JobSummary,
    SchedulePreview,
    SchedulerStats,
    TriggerResult,
    judge_health,
)
from jobdeck.schedules import LATEST, load_timezone, next_fire_times, validated_schedule
from jobdeck.store.base import ServiceStore
from jobdeck.store.held import WriteStatus

__all__ = [
    "HealthReport",
    "JobOverview",
    "JobSummary",
    "SchedulePreview",
    "SchedulerService",
    "SchedulerStats",
    "TriggerResult",
]

SYSTEM = Principal(username="system", role=Role.ADMIN, via="system")
"""The actor of what jobdeck does by itself (a timed pause ending)."""
IDEMPOTENCY_TTL = timedelta(hours=24)
"""How long an ``Idempotency-Key`` of a trigger is remembered."""

_NEXT_RUN_COUNT = 5


class SchedulerService:
    """The use cases behind the API, the dashboard and the CLI. Every change is audited, failures included."""

    def __init__(
        self, *, store: ServiceStore, engine: EngineHandle, clock: Clock, version: str, events: EventBus | None = None
    ) -> None:
        self._store = store
        self._engine = engine
        self._clock = clock
        self.audit = AuditTrail(store, clock)
        """Operator actions outside the job use cases (sign-in, users, tokens) are recorded here too."""
        self._version = version
        self._started_at = clock.now()
        self.jobs = JobList(engine=engine, store=store, bus=events or EventBus(clock))
        """The job list's read model: the one cache of the job summaries and their rendered rows."""
        engine.set_pause_expired_handler(self._end_timed_pause)

    # -- jobs ------------------------------------------------------------------------------------------------

    async def list_jobs(self) -> list[JobSummary]:
        """Every registered job, in registration order (from the job list's read model, :attr:`jobs`)."""
        return list(await self.jobs.summaries())

    async def get_job(self, job_id: str) -> JobSummary:
        """One job with its next fire times.

        :raises JobNotFound: no job has this id
        """
        view = self._engine.job(job_id)
        metadata = (await self._store.job_metadata()).get(job_id)
        running = (await self.jobs.running_counts()).get(job_id, 0)
        summary = job_summary(view, metadata, running)
        after = self._clock.now()
        times: tuple[datetime, ...] = ()
        if not view.paused:
            times = tuple(next_fire_times(view.schedule, after=after, count=_NEXT_RUN_COUNT))
        return dataclasses.replace(summary, next_run_times=times)

    async def jobs_overview(self) -> list[JobOverview]:
        """Every job with its execution figures (counts, success rate, durations, last run)."""
        return [JobOverview(job=job, stats=await self._store.execution_stats(job.id)) for job in await self.list_jobs()]

    def preview_schedule(
        self, expression: str, *, timezone: str = "UTC", count: int = _NEXT_RUN_COUNT
    ) -> SchedulePreview:
        """Parse a schedule string and compute its next fire times from now, changing nothing.

        :raises InvalidInput: ``timezone`` is unknown (field ``timezone``)
        :raises InvalidSchedule: the expression cannot be parsed, or not computed from now (field ``schedule``):
            the same check as :meth:`update_schedule`
        """
        try:
            load_timezone(timezone)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="timezone") from None
        now = self._clock.now()
        schedule = validated_schedule(expression, timezone=timezone, now=now, count=max(count, _NEXT_RUN_COUNT))
        times = next_fire_times(schedule, after=now, count=count)
        return SchedulePreview(schedule=schedule, next_run_times=tuple(times))

    async def pause_job(self, job_id: str, *, actor: Principal, until: datetime | None = None) -> None:
        """Pause a job; persisted, so it survives restarts. Idempotent. With ``until`` the pause is timed: the
        job resumes by itself at that instant (also after a restart), audited with actor ``system``.

        :raises JobNotFound: no job has this id
        :raises InvalidInput: ``until`` is naive, not in the future or past :data:`~jobdeck.schedules.LATEST`
            (field ``until``)
        """
        details = {"until": until.isoformat()} if until is not None else None
        async with self.audit.action(AuditAction.PAUSE, actor.username, job_id=job_id, details=details):
            self._engine.job(job_id)
            now = self._clock.now()
            if until is not None and (until.tzinfo is None or until <= now or until > LATEST):
                reason = f"until must be a future instant with a UTC offset, before {LATEST.date()}"
                raise InvalidInput(f"{reason}, got {until.isoformat()}", field="until")
            until = until.astimezone(UTC) if until is not None else None
            await self._store.set_paused(job_id, True, at=now, actor=actor.username, until=until)
            await self._engine.pause(job_id, until=until)

    async def _end_timed_pause(self, job_id: str) -> None:
        paused_until = self._engine.job(job_id).paused_until
        details = {"reason": "timed pause ended", "paused_until": paused_until.isoformat() if paused_until else None}
        async with self.audit.action(AuditAction.RESUME, SYSTEM.username, job_id=job_id, details=details):
            await self._store.set_paused(job_id, False, at=self._clock.now(), actor=SYSTEM.username)
            await self._engine.resume(job_id)

    async def resume_job(self, job_id: str, *, actor: Principal) -> None:
        """Resume a job; persisted. Idempotent.

        :raises JobNotFound: no job has this id
        """
        async with self.audit.action(AuditAction.RESUME, actor.username, job_id=job_id):
            self._engine.job(job_id)
            await self._store.set_paused(job_id, False, at=self._clock.now(), actor=actor.username)
            await self._engine.resume(job_id)

    async def trigger_job(
        self,
        job_id: str,
        *,
        actor: Principal,
        force: bool = False,
        kwargs: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Execution:
        """Run a job once now, paused or not, changing nothing about the job. ``kwargs`` are checked against the
        job's parameters first. With ``idempotency_key`` a repeated request (same job and key, within 24 h)
        returns the run the first one started instead of starting another.

        :raises JobNotFound: no job has this id
        :raises KwargsInvalid: the kwargs do not fit the job's parameters (422, naming the parameter)
        :raises JobAlreadyRunning: max_instances runs are going and ``force`` is false
        """
        result = await self.trigger_job_idempotent(
            job_id, actor=actor, force=force, kwargs=kwargs, idempotency_key=idempotency_key
        )
        return result.execution

    async def trigger_job_idempotent(
        self,
        job_id: str,
        *,
        actor: Principal,
        force: bool = False,
        kwargs: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> TriggerResult:
        """:meth:`trigger_job`, telling whether the answer is a replay of an earlier request with the same key."""
        if idempotency_key is None:
            return TriggerResult(execution=await self._trigger(job_id, actor, force, kwargs, None))
        self._engine.job(job_id)
        now = self._clock.now()
        mine = new_id(now)
        bound = await self._store.claim_idempotency_key(
            job_id, idempotency_key, mine, at=now, not_before=now - IDEMPOTENCY_TTL
        )
        if bound != mine:
            return TriggerResult(execution=await self._first_run(bound), replayed=True)
        try:
            return TriggerResult(execution=await self._trigger(job_id, actor, force, kwargs, mine))
        except BaseException:
            await self._store.release_idempotency_key(job_id, idempotency_key, mine)
            raise

    async def _trigger(
        self,
        job_id: str,
        actor: Principal,
        force: bool,
        kwargs: Mapping[str, Any] | None,
        execution_id: str | None,
    ) -> Execution:
        details: dict[str, Any] = {"force": force}
        if kwargs:
            details["kwargs"] = dict(kwargs)
        async with self.audit.action(AuditAction.TRIGGER, actor.username, job_id=job_id, details=details) as audit:
            execution = await self._engine.trigger(
                job_id, force=force, kwargs=kwargs, actor=actor.username, execution_id=execution_id
            )
            audit["execution_id"] = execution.id
        return execution

    async def _first_run(self, execution_id: str) -> Execution:
        # The first request may still be between claiming the key and inserting its record: wait briefly.
        for _ in range(100):
            try:
                return self._with_live_progress(await self._store.get_execution(execution_id))
            except ExecutionNotFound:
                await asyncio.sleep(0.05)
        return self._with_live_progress(await self._store.get_execution(execution_id))

    async def update_metadata(
        self, job_id: str, *, display_name: str | None, description: str | None, actor: Principal
    ) -> JobSummary:
        """Edit a job's display name and description: None leaves a field, ``""`` clears it.

        :raises JobNotFound: no job has this id
        """
        details = {k: v for k, v in (("display_name", display_name), ("description", description)) if v is not None}
        async with self.audit.action(AuditAction.UPDATE_METADATA, actor.username, job_id=job_id, details=details):
            self._engine.job(job_id)
            await self._store.update_metadata(
                job_id, display_name=display_name, description=description, at=self._clock.now(), actor=actor.username
            )
        return await self.get_job(job_id)

    async def update_schedule(self, job_id: str, expression: str, *, actor: Principal) -> JobSummary:
        """Override a job's schedule (validated, persisted, audited).

        :raises JobNotFound: no job has this id
        :raises InvalidSchedule: the expression cannot be parsed, or its fire times cannot be computed from now
            (a huge interval, a date out of range, a once-time that has passed); nothing is saved
        """
        async with self.audit.action(
            AuditAction.UPDATE_SCHEDULE, actor.username, job_id=job_id, details={"schedule": expression}
        ):
            spec = self._engine.job(job_id).spec
            schedule = validated_schedule(expression, timezone=spec.timezone, now=self._clock.now())
            await self._store.set_schedule_override(job_id, expression, at=self._clock.now(), actor=actor.username)
            await self._engine.reschedule(job_id, schedule)
        return await self.get_job(job_id)

    async def reset_schedule(self, job_id: str, *, actor: Principal) -> JobSummary:
        """Revert a job to its configured schedule.

        :raises JobNotFound: no job has this id
        """
        async with self.audit.action(AuditAction.RESET_SCHEDULE, actor.username, job_id=job_id):
            self._engine.job(job_id)
            await self._store.set_schedule_override(job_id, None, at=self._clock.now(), actor=actor.username)
            await self._engine.reschedule(job_id, None)
        return await self.get_job(job_id)

    # -- executions ------------------------------------------------------------------------------------------

    async def list_executions(self, query: ExecutionQuery) -> Page[Execution]:
        """Executions matching the query, newest first; running ones carry their live progress.

        :raises JobNotFound: ``query.job_id`` names no job and has no recorded executions
        """
        page = await self._store.list_executions(query)
        if query.job_id is not None and page.total == 0:
            self._engine.job(query.job_id)
        return dataclasses.replace(page, items=[self._with_live_progress(e) for e in page.items])

    async def get_execution_log(
        self, execution_id: str, *, after: int = 0, limit: int = 200
    ) -> tuple[Execution, list[LogLine]]:
        """An execution's log lines with ``seq > after`` (oldest first, at most ``limit``); with ``after=0`` the
        newest ``limit`` lines. Poll with the last ``seq`` seen to follow a running execution's log.

        :raises ExecutionNotFound: no execution has this id
        """
        execution = self._with_live_progress(await self._store.get_execution(execution_id))
        return execution, await self._store.read_log(execution_id, after=after, limit=limit)

    async def retry_chain(self, execution_id: str) -> list[Execution]:
        """Every attempt linked to the execution by retries, first attempt first.

        :raises ExecutionNotFound: no execution has this id
        """
        return await self._store.retry_chain(execution_id)

    async def get_execution(self, execution_id: str) -> tuple[Execution, list[LogLine]]:
        """One execution with the tail of its log.

        :raises ExecutionNotFound: no execution has this id
        """
        execution = self._with_live_progress(await self._store.get_execution(execution_id))
        return execution, await self._store.read_log(execution_id, limit=200)

    def _with_live_progress(self, execution: Execution) -> Execution:
        if execution.status is not ExecutionStatus.RUNNING:
            return execution
        live = self._engine.live_progress(execution.id)
        if live is None or live.at <= execution.updated_at:
            return execution
        changes: dict[str, Any] = {
            name: value
            for name, value in (
                ("progress", live.progress),
                ("progress_message", live.message),
                ("current_item", live.current_item),
                ("total_items", live.total_items),
                ("processed_items", live.processed_items),
            )
            if value is not None
        }
        return dataclasses.replace(execution, updated_at=live.at, **changes)

    async def execution_stats(self, job_id: str) -> ExecutionStats:
        """Counts, success rate and durations of a job's executions.

        :raises JobNotFound: no job has this id
        """
        self._engine.job(job_id)
        return await self._store.execution_stats(job_id)

    async def cancel_execution(self, execution_id: str, *, actor: Principal) -> Execution:
        """Ask a running execution to stop (the job sees JobCancelled at its next progress call).

        :raises ExecutionNotFound: no execution has this id
        :raises ExecutionNotRunning: it has finished already
        """
        async with self.audit.action(AuditAction.CANCEL, actor.username, execution_id=execution_id) as audit:
            execution = await self._store.request_cancel(execution_id, self._clock.now())
            audit["job_id"] = execution.job_id
            await self._engine.cancel(execution_id)
        return execution

    async def mark_failed(self, execution_id: str, *, reason: str | None, actor: Principal) -> Execution:
        """Close a running execution as failed (for a run an operator knows is stuck).

        :raises ExecutionNotFound: no execution has this id
        :raises ExecutionNotRunning: it has finished already
        """
        message = reason or f"marked failed by {actor.username}"
        async with self.audit.action(
            AuditAction.MARK_FAILED, actor.username, execution_id=execution_id, details={"reason": message}
        ) as audit:
            execution = await self._store.get_execution(execution_id)
            audit["job_id"] = execution.job_id
            closed = await self._store.close_execution(
                execution_id, status=ExecutionStatus.FAILED, finished_at=self._clock.now(), error_message=message
            )
            if not closed:
                current = await self._store.get_execution(execution_id)
                raise ExecutionNotRunning(execution_id, current.status.value)
            # A local run keeps going until it notices; make it stop soon rather than work for nothing.
            await self._engine.cancel(execution_id)
        return await self._store.get_execution(execution_id)

    async def delete_execution(self, execution_id: str, *, actor: Principal) -> None:
        """Delete a finished execution record.

        :raises ExecutionNotFound: no execution has this id
        :raises ExecutionStillRunning: it is running
        """
        async with self.audit.action(AuditAction.DELETE_EXECUTION, actor.username, execution_id=execution_id) as audit:
            execution = await self._store.get_execution(execution_id)
            audit["job_id"] = execution.job_id
            await self._store.delete_execution(execution_id)

    # -- history, stats, health -----------------------------------------------------------------------------

    async def job_history(self, job_id: str, *, limit: int, offset: int) -> Page[AuditEntry]:
        """Audit entries about one job, newest first."""
        page = await self._store.list_audit(AuditQuery(job_id=job_id, limit=limit, offset=offset))
        if page.total == 0:
            self._engine.job(job_id)
        return page

    async def history(self, query: AuditQuery) -> Page[AuditEntry]:
        """Audit entries of every job, newest first."""
        return await self._store.list_audit(query)

    async def stats(self) -> SchedulerStats:
        """Figures for the whole scheduler."""
        total, paused = self._engine.job_count, self._engine.paused_count()
        running = await self._store.count_running()
        counts = await self._store.status_counts(since=self._clock.now() - timedelta(hours=24))
        return SchedulerStats(
            total_jobs=total,
            running_jobs=total - paused,
            paused_jobs=paused,
            executing=sum(running.values()),
            scheduler_running=self._engine.running,
            scheduler_state=self._engine.state,
            executions_24h={status.value: counts.get(status, 0) for status in ExecutionStatus},
            scheduling=self._engine.scheduling,
        )

    async def health(self) -> HealthReport:
        """Whether the scheduler runs, the store answers and record writes land. ``degraded`` as soon as writes
        fail (held) or wait long, with the reason and the age of the oldest unwritten record — as the writers
        saw them, no query. Never raises."""
        now = self._clock.now()
        latency: float | None = None
        error: str | None = None
        try:
            latency = await self._store.ping()
        except StoreUnavailable as exc:
            error = exc.message
        # The API's store and the engine's (its own on the engine's thread, else the same one): the worse.
        writes = WriteStatus.worst(self._engine.write_status(), self._store.write_status())
        status, reason = judge_health(running=self._engine.running, store_error=error, writes=writes)
        return HealthReport(
            status=status,
            running=self._engine.running,
            state=self._engine.state,
            timestamp=now,
            store_ok=error is None,
            store_latency_ms=None if latency is None else round(latency, 3),
            store_error=error,
            uptime_s=round((now - self._started_at).total_seconds(), 3),
            version=self._version,
            scheduling=self._engine.scheduling,
            reason=reason,
            writes=writes,
        )
