"""What SchedulerService answers with: frozen read models combining configuration, operator state and runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jobdeck.models import Execution, ExecutionStats, JobSpec, Schedule
from jobdeck.store.held import WriteStatus

__all__ = [
    "HealthReport",
    "JobOverview",
    "JobSummary",
    "SchedulePreview",
    "SchedulerStats",
    "TriggerResult",
    "judge_health",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class JobSummary:
    """A job as operators see it: configuration, operator overrides, metadata and what runs now."""

    spec: JobSpec
    schedule: str
    """The schedule expression in effect (the operator's override, else the configured one)."""
    active_schedule: Schedule
    configured_schedule: str
    schedule_overridden: bool
    paused: bool
    next_run_time: datetime | None
    display_name: str | None
    description: str | None
    running: int
    next_run_times: tuple[datetime, ...] = ()
    paused_until: datetime | None = None
    """When a timed pause ends by itself."""
    parameters: Mapping[str, Any] | None = None
    """The JSON schema of the job's kwargs (Python jobs), or None."""

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(frozen=True, kw_only=True, slots=True)
class TriggerResult:
    """What a trigger started — or, for a repeated ``Idempotency-Key``, the run the first request started."""

    execution: Execution
    replayed: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class JobOverview:
    """A job with the figures of its runs, for an overview table."""

    job: JobSummary
    stats: ExecutionStats


@dataclass(frozen=True, kw_only=True, slots=True)
class SchedulePreview:
    """A schedule string checked without changing anything: the parsed schedule and its next fire times."""

    schedule: Schedule
    next_run_times: tuple[datetime, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class SchedulerStats:
    total_jobs: int
    running_jobs: int
    """Jobs that are not paused (the original's meaning)."""
    paused_jobs: int
    executing: int
    scheduler_running: bool
    scheduler_state: str
    executions_24h: Mapping[str, int] = field(default_factory=dict)
    scheduling: bool = True
    """False in an API-only process: another process schedules this SQLite file's jobs."""


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthReport:
    status: str
    """healthy | degraded (store unreachable, or record writes failing or lagging) | stopped (scheduler not
    running)."""
    running: bool
    state: str
    timestamp: datetime
    store_ok: bool
    store_latency_ms: float | None
    uptime_s: float
    version: str
    store_error: str | None = None
    scheduling: bool = True
    """False in an API-only process: another process schedules this SQLite file's jobs."""
    reason: str | None = None
    """Why the status is not ``healthy`` (None when it is)."""
    writes: WriteStatus = field(default_factory=WriteStatus)
    """This process's record writes (the worse of its writers): not ``ok`` while they fail (held) or wait long."""


def judge_health(*, running: bool, store_error: str | None, writes: WriteStatus) -> tuple[str, str | None]:
    """``(status, reason)``: ``stopped`` when the scheduler is not running, ``degraded`` while the store does not
    answer or record writes fail or lag, else ``healthy`` (no reason)."""
    if not running:
        return "stopped", "the scheduler is not running"
    if store_error is not None:
        return "degraded", store_error
    if not writes.ok:
        return "degraded", writes.reason
    return "healthy", None
