"""The shapes of the API's ``data``, as typed dicts.

Why typed dicts and not dataclasses: they are the JSON exactly as the server sends it (the same field names as the
OpenAPI document and the TypeScript client, ``_id`` included), cost nothing to build, print as JSON for ``--json``
as they are, and a field the server adds later never breaks an older client. mypy still checks every key read.
Times are ISO 8601 strings with the server's display offset; :func:`parse_time` turns one into an aware datetime.
``tests/clients`` checks each of these against the server's OpenAPI document, so they cannot drift silently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypedDict

__all__ = [
    "AuditEntry",
    "AuditPage",
    "ChangeEvent",
    "Execution",
    "ExecutionDetail",
    "ExecutionPage",
    "ExecutionStats",
    "ExecutionStatus",
    "HealthStatus",
    "Healthz",
    "Job",
    "JobDetail",
    "LastExecution",
    "LogLine",
    "LogPage",
    "RetryLink",
    "SchedulePreview",
    "SchedulerHealth",
    "SchedulerState",
    "SchedulerStateName",
    "SchedulerStats",
    "StoreHealth",
    "Token",
    "User",
    "WritesHealth",
    "parse_time",
]

ExecutionStatus = Literal["running", "success", "failed", "cancelled", "missed", "skipped"]
HealthStatus = Literal["healthy", "degraded", "stopped"]
SchedulingRole = Literal["scheduler", "api-only"]
"""A process's part in scheduling: api-only when another process schedules the jobs of its SQLite file."""
TERMINAL_STATUSES: frozenset[str] = frozenset({"success", "failed", "cancelled", "missed", "skipped"})


def parse_time(value: str) -> datetime:
    """An API time (ISO 8601 with offset) as an aware datetime."""
    return datetime.fromisoformat(value)


class Job(TypedDict):
    id: str
    name: str
    display_name: str | None
    description: str | None
    trigger: str
    schedule: str
    configured_schedule: str
    schedule_overridden: bool
    timezone: str
    next_run_time: str | None
    paused: bool
    tags: list[str]
    kind: str
    running: int
    paused_until: str | None


class JobDetail(Job):
    func: str
    args: list[Any]
    kwargs: dict[str, Any]
    misfire_grace_time: float
    max_instances: int
    coalesce: bool
    timeout: float | None
    retries: int
    next_run_times: list[str]
    target: str
    command: list[str] | None
    http: dict[str, Any] | None
    parameters: dict[str, Any] | None
    overlap: str
    retry_backoff: float
    retry_backoff_max: float


class Execution(TypedDict):
    """One execution. ``_id`` (the same as ``id``) is kept for the original system's clients."""

    id: str
    _id: str
    job_id: str
    job_name: str
    status: ExecutionStatus
    scheduled_time: str
    timestamp: str
    started_at: str
    finished_at: str | None
    updated_at: str
    execution_time: float | None
    delay: float | None
    is_manual: bool
    triggered_by: str | None
    trigger: Literal["schedule", "manual", "retry"]
    attempt: int
    retry_of: str | None
    force: bool
    kwargs: dict[str, Any]
    return_value: str | None
    error_message: str | None
    traceback: str | None
    progress: float | None
    progress_message: str | None
    current_item: str | None
    total_items: int | None
    processed_items: int | None
    cancel_requested: bool
    host: str | None
    pid: int | None
    heartbeat_at: str | None
    retry_at: str | None


class LogLine(TypedDict):
    seq: int
    at: str
    level: str
    message: str


class RetryLink(TypedDict):
    id: str
    attempt: int
    trigger: str
    status: str
    started_at: str
    finished_at: str | None
    error_message: str | None
    retry_at: str | None


class ExecutionDetail(Execution):
    log: list[LogLine]
    retry_chain: list[RetryLink]


class LogPage(TypedDict):
    execution_id: str
    status: str
    lines: list[LogLine]
    last_seq: int


class ExecutionPage(TypedDict):
    items: list[Execution]
    total: int
    limit: int
    offset: int


class AuditEntry(TypedDict):
    id: str
    timestamp: str
    actor: str
    action: str
    job_id: str | None
    execution_id: str | None
    status: Literal["success", "failed"]
    error_message: str | None
    details: dict[str, Any]


class AuditPage(TypedDict):
    history: list[AuditEntry]
    total: int
    limit: int
    offset: int


class LastExecution(TypedDict):
    status: ExecutionStatus
    timestamp: str
    execution_time: float | None


class ExecutionStats(TypedDict):
    job_id: str
    total: int
    success: int
    failed: int
    missed: int
    cancelled: int
    skipped: int
    running: int
    success_rate: float
    avg_execution_time: float | None
    p50_execution_time: float | None
    p95_execution_time: float | None
    last_execution: LastExecution | None


SchedulerState = Literal[0, 1, 2]
SchedulerStateName = Literal["stopped", "running", "paused"]


class SchedulerStats(TypedDict):
    total_jobs: int
    running_jobs: int
    paused_jobs: int
    executing: int
    scheduler_running: bool
    scheduler_state: SchedulerState
    """As in APScheduler: 0 stopped, 1 running, 2 paused."""
    scheduler_state_name: SchedulerStateName
    executions_24h: dict[str, int]
    scheduling: bool
    role: SchedulingRole


class StoreHealth(TypedDict):
    ok: bool
    latency_ms: float | None
    error: str | None


class WritesHealth(TypedDict):
    ok: bool
    """False while record writes fail (held, retried) or wait long (a locked database)."""
    waiting: int
    held: int
    spooled: int
    oldest_unwritten_age_s: float | None


class SchedulerHealth(TypedDict):
    status: HealthStatus
    running: bool
    state: SchedulerState
    """As in APScheduler: 0 stopped, 1 running, 2 paused."""
    state_name: SchedulerStateName
    timestamp: str
    store: StoreHealth
    uptime_s: float
    version: str
    scheduling: bool
    role: SchedulingRole
    reason: str | None
    """Why the status is not healthy."""
    writes: WritesHealth | None


class Healthz(TypedDict):
    status: HealthStatus


class Token(TypedDict):
    access_token: str
    token_type: str
    expires_in: int


class User(TypedDict):
    username: str
    role: Literal["viewer", "admin"]
    via: str


class SchedulePreview(TypedDict):
    valid: bool
    error: str | None
    schedule: str
    timezone: str
    kind: str
    description: str
    next_run_times: list[str]


class ChangeEvent(TypedDict):
    """A ``change`` event of the events stream: what changed (ids), never the new values."""

    kind: str
    action: str
    at: str
    job_id: str | None
    execution_ids: list[str]
    status: str | None
