"""Pydantic models of the HTTP edge: request bodies and response ``data`` shapes, built from domain objects.

Field names keep the original system's (``_id``, ``timestamp``, ``misfire_grace_time`` …) so its clients work.
Every datetime is rendered in the display timezone, with its offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict

from jobdeck.models import (
    AuditEntry,
    AuditOutcome,
    Execution,
    ExecutionStats,
    ExecutionStatus,
    LogLine,
    Principal,
    Role,
    TriggerKind,
)
from jobdeck.service import JobSummary

__all__ = [
    "AuditOut",
    "AuditPage",
    "ExecutionDetailOut",
    "ExecutionOut",
    "ExecutionPage",
    "ExecutionStatsOut",
    "IsoDatetime",
    "JobDetailOut",
    "JobOut",
    "JobRowRenderer",
    "LogLineOut",
    "LogPageOut",
    "LoginIn",
    "MetadataIn",
    "ScheduleIn",
    "TokenOut",
    "TriggerIn",
    "UserOut",
    "render_jobs",
]


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _iso_only(value: Any) -> Any:
    """Refuse a bare number where a date-time is expected (pydantic would read it as a Unix timestamp)."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError("expected an ISO 8601 date-time with an offset, e.g. 2026-03-06T15:58:00+08:00")
    return value


IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_only)]
"""An aware date-time written as ISO 8601 text (as the OpenAPI ``date-time`` format says), never a number."""


def _local(value: datetime | None, tz: tzinfo) -> datetime | None:
    return None if value is None else value.astimezone(tz)


# -- requests ------------------------------------------------------------------------------------------------


class TriggerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kwargs: dict[str, Any] | None = Field(default=None, description="Keyword arguments for this run only")


class MetadataIn(BaseModel):
    display_name: str | None = Field(default=None, max_length=200, description='"" clears the field; null leaves it')
    description: str | None = Field(default=None, max_length=2000, description='"" clears the field; null leaves it')


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schedule: str = Field(min_length=1, max_length=200, examples=["*/5 9-15 * * 1-5", "18:00", "every 5m"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


# -- responses -----------------------------------------------------------------------------------------------


class JobOut(BaseModel):
    id: str
    name: str
    display_name: str | None
    description: str | None
    trigger: str
    schedule: str
    configured_schedule: str
    schedule_overridden: bool
    timezone: str
    next_run_time: datetime | None
    paused: bool
    tags: list[str]
    kind: str
    running: int
    paused_until: datetime | None = Field(default=None, description="When a timed pause ends by itself")

    @classmethod
    def of(cls, job: JobSummary, tz: tzinfo) -> JobOut:
        return cls(**_job_fields(job, tz))


class _JobRow(TypedDict):
    """JobOut's fields as a dict, rendered without validation (the values come from the domain, not a client)."""

    id: str
    name: str
    display_name: str | None
    description: str | None
    trigger: str
    schedule: str
    configured_schedule: str
    schedule_overridden: bool
    timezone: str
    next_run_time: datetime | None
    paused: bool
    tags: list[str]
    kind: str
    running: int
    paused_until: datetime | None


class _JobsEnvelope(TypedDict):
    success: bool
    data: list[_JobRow]
    message: str
    timestamp: datetime
    request_id: str


_JOB_ROW = TypeAdapter(_JobRow)
_JOBS_ENVELOPE = TypeAdapter(_JobsEnvelope)
_EMPTY_DATA = b'"data":[]'


@dataclass(frozen=True, kw_only=True, slots=True)
class JobRowRenderer:
    """Renders a job's row of the job list (:class:`JobOut`'s JSON) in the display timezone ``tz``, by pydantic's
    serializer without the validation — the same bytes as validating and serializing ``JobOut`` (the values come
    from the domain, not a client). A :class:`~jobdeck.job_list.RowRenderer`: the read model keeps its rows."""

    tz: tzinfo

    def __call__(self, job: JobSummary, /) -> bytes:
        return _JOB_ROW.dump_json(_job_fields(job, self.tz))


def render_jobs(data: bytes, envelope: dict[str, Any]) -> bytes:
    """The JSON of ``Envelope[list[JobOut]]`` with ``data``, the job list's rows rendered already
    (:meth:`~jobdeck.job_list.JobList.rendered` with a :class:`JobRowRenderer`)."""
    head = _JOBS_ENVELOPE.dump_json({**envelope, "data": []})  # type: ignore[typeddict-item]
    # "success" comes first, so the first '"data":[]' is the envelope's key.
    return head.replace(_EMPTY_DATA, b'"data":' + data, 1)


def _job_fields(job: JobSummary, tz: tzinfo) -> _JobRow:
    spec = job.spec
    return {
        "id": spec.id,
        "name": spec.func.rpartition(":")[2] or spec.id,
        "display_name": job.display_name,
        "description": job.description,
        "trigger": f"{job.active_schedule.kind.value}[{job.schedule}]",
        "schedule": job.schedule,
        "configured_schedule": job.configured_schedule,
        "schedule_overridden": job.schedule_overridden,
        "timezone": spec.timezone,
        "next_run_time": _local(job.next_run_time, tz),
        "paused": job.paused,
        "tags": list(spec.tags),
        "kind": spec.kind.value,
        "running": job.running,
        "paused_until": _local(job.paused_until, tz),
    }


class JobDetailOut(JobOut):
    # extra="forbid" also keeps pydantic's mypy plugin from adding **kwargs, which clashes with the field.
    model_config = ConfigDict(extra="forbid")

    func: str
    args: list[Any]
    kwargs: dict[str, Any]
    misfire_grace_time: float
    max_instances: int
    coalesce: bool
    timeout: float | None
    retries: int
    next_run_times: list[datetime]
    retry_backoff: float = Field(default=30.0, description="Seconds before the first retry (doubling after)")
    retry_backoff_max: float = Field(default=3600.0, description="Cap of the retry backoff, in seconds")
    overlap: str = Field(default="skip", description="skip | queue | allow | replace")
    target: str = Field(default="", description="What the job runs: module:function, the command, or METHOD url")
    command: list[str] | None = Field(default=None, description="A command job's argv (null for other kinds)")
    http: dict[str, Any] | None = Field(default=None, description="An HTTP job's request (null for other kinds)")
    parameters: dict[str, Any] | None = Field(
        default=None,
        description="JSON schema of the kwargs a manual run may pass (Python jobs); trigger validates against it",
    )

    @classmethod
    def of(cls, job: JobSummary, tz: tzinfo) -> JobDetailOut:
        spec = job.spec
        command = None
        if spec.command is not None:
            command = list(spec.command.argv) if not spec.command.shell else ["/bin/sh", "-c", spec.command.describe()]
        http = None
        if spec.http is not None:
            h = spec.http
            http = {"method": h.method, "url": h.url, "expect_status": list(h.expect_status), "timeout": h.timeout}
        return cls(
            **_job_fields(job, tz),
            func=spec.func,
            args=[],
            kwargs=dict(spec.kwargs),
            misfire_grace_time=spec.misfire_grace,
            max_instances=spec.max_instances,
            coalesce=spec.coalesce,
            timeout=spec.timeout,
            retries=spec.retries,
            next_run_times=[t.astimezone(tz) for t in job.next_run_times],
            retry_backoff=spec.retry_backoff,
            retry_backoff_max=spec.retry_backoff_max,
            overlap=spec.overlap_policy.value,
            target=spec.target,
            command=command,
            http=http,
            parameters=dict(job.parameters) if job.parameters is not None else None,
        )


class ExecutionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    id: str
    legacy_id: str = Field(serialization_alias="_id", validation_alias="_id", description="Same as id, for old clients")
    job_id: str
    job_name: str
    status: ExecutionStatus
    scheduled_time: datetime
    timestamp: datetime = Field(description="When the run started (= started_at)")
    started_at: datetime
    finished_at: datetime | None
    updated_at: datetime
    execution_time: float | None = Field(description="Seconds from start to finish; null while running")
    delay: float | None = Field(description="Seconds from the scheduled time to the start")
    is_manual: bool
    triggered_by: str | None
    trigger: TriggerKind
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
    heartbeat_at: datetime | None
    retry_at: datetime | None = Field(default=None, description="On a failed attempt that will be retried: when")

    @classmethod
    def of(cls, e: Execution, tz: tzinfo) -> ExecutionOut:
        return cls(**_execution_fields(e, tz))


def _execution_fields(e: Execution, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": e.id,
        "legacy_id": e.id,
        "job_id": e.job_id,
        "job_name": e.job_name,
        "status": e.status,
        "scheduled_time": e.scheduled_time.astimezone(tz),
        "timestamp": e.started_at.astimezone(tz),
        "started_at": e.started_at.astimezone(tz),
        "finished_at": _local(e.finished_at, tz),
        "updated_at": e.updated_at.astimezone(tz),
        "execution_time": e.execution_time,
        "delay": e.delay,
        "is_manual": e.is_manual,
        "triggered_by": e.triggered_by,
        "trigger": e.trigger,
        "attempt": e.attempt,
        "retry_of": e.retry_of,
        "force": e.force,
        "kwargs": dict(e.kwargs),
        "return_value": e.return_value,
        "error_message": e.error_message,
        "traceback": e.traceback,
        "progress": e.progress,
        "progress_message": e.progress_message,
        "current_item": e.current_item,
        "total_items": e.total_items,
        "processed_items": e.processed_items,
        "cancel_requested": e.cancel_requested,
        "host": e.host,
        "pid": e.pid,
        "heartbeat_at": _local(e.heartbeat_at, tz),
        "retry_at": _local(e.retry_at, tz),
    }


class LogLineOut(BaseModel):
    seq: int
    at: datetime
    level: str
    message: str


class RetryLinkOut(BaseModel):
    id: str
    attempt: int
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    error_message: str | None
    retry_at: datetime | None


class ExecutionDetailOut(ExecutionOut):
    log: list[LogLineOut] = Field(description="The tail of the run's log, oldest first")
    retry_chain: list[RetryLinkOut] = Field(
        default_factory=list,
        description="Every attempt linked to this one by retries (retry_of), first attempt first; [] without retries",
    )

    @classmethod
    def with_log(
        cls, e: Execution, lines: list[LogLine], tz: tzinfo, chain: list[Execution] | None = None
    ) -> ExecutionDetailOut:
        log = [_log_line(ln, tz) for ln in lines]
        links = [
            RetryLinkOut(
                id=a.id,
                attempt=a.attempt,
                trigger=a.trigger.value,
                status=a.status.value,
                started_at=a.started_at.astimezone(tz),
                finished_at=_local(a.finished_at, tz),
                error_message=a.error_message,
                retry_at=_local(a.retry_at, tz),
            )
            for a in (chain or [])
            if len(chain or []) > 1
        ]
        return cls(**_execution_fields(e, tz), log=log, retry_chain=links)


def _log_line(line: LogLine, tz: tzinfo) -> LogLineOut:
    return LogLineOut(seq=line.seq, at=line.at.astimezone(tz), level=line.level, message=line.message)


class LogPageOut(BaseModel):
    execution_id: str
    status: str = Field(description="The execution's status now; stop polling once it is not running")
    lines: list[LogLineOut] = Field(description="Oldest first")
    last_seq: int = Field(description="Pass as `after` to get only newer lines (the `after` given when none)")

    @classmethod
    def of(cls, e: Execution, lines: list[LogLine], after: int, tz: tzinfo) -> LogPageOut:
        last = max((ln.seq for ln in lines), default=after)
        return cls(execution_id=e.id, status=e.status.value, lines=[_log_line(ln, tz) for ln in lines], last_seq=last)


class ExecutionPage(BaseModel):
    items: list[ExecutionOut]
    total: int
    limit: int
    offset: int


class LastExecutionOut(BaseModel):
    status: ExecutionStatus
    timestamp: datetime
    execution_time: float | None


class ExecutionStatsOut(BaseModel):
    job_id: str
    total: int
    success: int
    failed: int
    missed: int
    cancelled: int
    skipped: int
    running: int
    success_rate: float = Field(description="Percent of finished runs that succeeded")
    avg_execution_time: float | None
    p50_execution_time: float | None
    p95_execution_time: float | None
    last_execution: LastExecutionOut | None

    @classmethod
    def of(cls, job_id: str, s: ExecutionStats, tz: tzinfo) -> ExecutionStatsOut:
        last = s.last_execution
        return cls(
            job_id=job_id,
            total=s.total,
            success=s.success,
            failed=s.failed,
            missed=s.missed,
            cancelled=s.cancelled,
            skipped=s.skipped,
            running=s.running,
            success_rate=s.success_rate,
            avg_execution_time=s.avg_execution_time,
            p50_execution_time=s.p50_execution_time,
            p95_execution_time=s.p95_execution_time,
            last_execution=None
            if last is None
            else LastExecutionOut(
                status=last.status, timestamp=last.started_at.astimezone(tz), execution_time=last.execution_time
            ),
        )


class AuditOut(BaseModel):
    id: str
    timestamp: datetime
    actor: str
    action: str
    job_id: str | None
    execution_id: str | None
    status: AuditOutcome
    error_message: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, a: AuditEntry, tz: tzinfo) -> AuditOut:
        return cls(
            id=a.id,
            timestamp=a.timestamp.astimezone(tz),
            actor=a.actor,
            action=a.action,
            job_id=a.job_id,
            execution_id=a.execution_id,
            status=a.status,
            error_message=a.error_message,
            details=dict(a.details),
        )


class AuditPage(BaseModel):
    history: list[AuditOut]
    total: int
    limit: int
    offset: int


class TokenOut(BaseModel):
    access_token: str
    token_type: str
    expires_in: int


class UserOut(BaseModel):
    username: str
    role: Role
    via: str = Field(description="password (a signed-in user) or token (an API token)")

    @classmethod
    def of(cls, p: Principal) -> UserOut:
        return cls(username=p.username, role=p.role, via=p.via)
