"""The process's state at the API edge: ``/stats`` and ``/health`` (the original's field names and APScheduler's state
numbers, which its clients type as numbers)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Literal

from pydantic import BaseModel, Field

from jobdeck.service import HealthReport, SchedulerStats

__all__ = ["HealthOut", "HealthStatus", "HealthzOut", "StatsOut", "scheduler_state_number"]


SCHEDULER_STATES = {"stopped": 0, "running": 1, "paused": 2}
"""The scheduler's state as the original's clients read it: APScheduler's numbers (STATE_STOPPED, …)."""
SchedulerStateName = Literal["stopped", "running", "paused"]
# A number, as the original's scheduler.ts types it (a literal union would not take a client's `number`).
_STATE_DESCRIPTION = "As in APScheduler: 0 stopped, 1 running, 2 paused"


def scheduler_state_number(name: str) -> int:
    """``"running"`` → 1 (an unknown name counts as stopped)."""
    return SCHEDULER_STATES.get(name, 0)


SchedulingRole = Literal["scheduler", "api-only"]
"""A process's part in scheduling."""


class StatsOut(BaseModel):
    total_jobs: int
    running_jobs: int = Field(description="Jobs that are not paused")
    paused_jobs: int
    executing: int = Field(description="Executions running now")
    scheduler_running: bool
    scheduler_state: int = Field(ge=0, le=2, description=_STATE_DESCRIPTION)
    scheduler_state_name: SchedulerStateName = Field(description="scheduler_state as a word")
    executions_24h: dict[str, int]
    scheduling: bool = Field(description="Whether this process fires jobs on their schedules (see role)")
    role: SchedulingRole = Field(
        description="scheduler, or api-only: another process schedules the jobs of this SQLite file; this one "
        "serves the API and dashboard and runs manual triggers, and takes over when that process exits"
    )

    @classmethod
    def of(cls, s: SchedulerStats) -> StatsOut:
        return cls(
            total_jobs=s.total_jobs,
            running_jobs=s.running_jobs,
            paused_jobs=s.paused_jobs,
            executing=s.executing,
            scheduler_running=s.scheduler_running,
            scheduler_state=scheduler_state_number(s.scheduler_state),
            scheduler_state_name=_state_name(s.scheduler_state),
            executions_24h=dict(s.executions_24h),
            scheduling=s.scheduling,
            role="scheduler" if s.scheduling else "api-only",
        )


def _state_name(name: str) -> SchedulerStateName:
    return "running" if name == "running" else "paused" if name == "paused" else "stopped"


class StoreHealthOut(BaseModel):
    ok: bool
    latency_ms: float | None
    error: str | None


HealthStatus = Literal["healthy", "degraded", "stopped"]


class WritesHealthOut(BaseModel):
    """The record writes of this process (claims, closes, progress), as the writer sees them."""

    ok: bool = Field(description="false while writes fail and are held, or wait long (a locked database)")
    waiting: int = Field(description="writes not yet committed")
    held: int = Field(description="writes the database refused, retried until they land")
    spooled: int = Field(description="held writes also kept in the spool file (survive a crash)")
    oldest_unwritten_age_s: float | None = Field(description="seconds the oldest uncommitted write has waited")


class HealthOut(BaseModel):
    status: HealthStatus
    running: bool
    state: int = Field(ge=0, le=2, description=_STATE_DESCRIPTION)
    state_name: SchedulerStateName = Field(description="state as a word")
    timestamp: datetime
    store: StoreHealthOut
    uptime_s: float
    version: str
    scheduling: bool = Field(description="Whether this process fires jobs on their schedules (see role)")
    role: SchedulingRole = Field(description="scheduler, or api-only (another process schedules this SQLite file)")
    reason: str | None = Field(default=None, description="why the status is not healthy")
    writes: WritesHealthOut | None = None

    @classmethod
    def of(cls, h: HealthReport, tz: tzinfo) -> HealthOut:
        return cls(
            status=h.status,
            running=h.running,
            state=scheduler_state_number(h.state),
            state_name=_state_name(h.state),
            timestamp=h.timestamp.astimezone(tz),
            store=StoreHealthOut(ok=h.store_ok, latency_ms=h.store_latency_ms, error=h.store_error),
            uptime_s=h.uptime_s,
            version=h.version,
            scheduling=h.scheduling,
            role="scheduler" if h.scheduling else "api-only",
            reason=h.reason,
            writes=WritesHealthOut(
                ok=h.writes.ok,
                waiting=h.writes.waiting,
                held=h.writes.held,
                spooled=h.writes.spooled,
                oldest_unwritten_age_s=h.writes.oldest_age_s,
            ),
        )


class HealthzOut(BaseModel):
    """The unauthenticated probe's answer: nothing but the status."""

    status: HealthStatus
