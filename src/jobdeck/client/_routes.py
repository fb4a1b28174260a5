"""Every route of the API as a :class:`Call`, named as the TypeScript client's functions in snake_case."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jobdeck.client._calls import Call, segment
from jobdeck.client._types import (
    AuditPage,
    ExecutionDetail,
    ExecutionPage,
    ExecutionStats,
    ExecutionStatus,
    Healthz,
    Job,
    JobDetail,
    LogPage,
    SchedulePreview,
    SchedulerHealth,
    SchedulerStats,
    Token,
    User,
)
from jobdeck.client._types import Execution as ExecutionData

S = "/api/scheduler"


def _job(job_id: str) -> str:
    return f"{S}/jobs/{segment(job_id)}"


def _run(execution_id: str) -> str:
    return f"{S}/executions/{segment(execution_id)}"


def get_jobs() -> Call[list[Job]]:
    return Call("GET", f"{S}/jobs")


def get_job_detail(job_id: str) -> Call[JobDetail]:
    return Call("GET", _job(job_id))


def pause_job(job_id: str, until: datetime | None) -> Call[Job]:
    return Call("POST", f"{_job(job_id)}/pause", {"until": until})


def resume_job(job_id: str) -> Call[Job]:
    return Call("POST", f"{_job(job_id)}/resume")


def trigger_job(
    job_id: str, force: bool, kwargs: dict[str, Any] | None, idempotency_key: str | None
) -> Call[ExecutionData]:
    body = {"kwargs": kwargs} if kwargs is not None else None
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return Call("POST", f"{_job(job_id)}/trigger", {"force": force}, body, headers)


def get_job_history(job_id: str, limit: int | None, offset: int | None) -> Call[AuditPage]:
    return Call("GET", f"{_job(job_id)}/history", {"limit": limit, "offset": offset})


def get_all_history(
    limit: int | None, offset: int | None, job_id: str | None, status: str | None, action: str | None
) -> Call[AuditPage]:
    params = {"limit": limit, "offset": offset, "job_id": job_id, "status": status, "action": action}
    return Call("GET", f"{S}/history", params)


def get_scheduler_stats() -> Call[SchedulerStats]:
    return Call("GET", f"{S}/stats")


def get_scheduler_health() -> Call[SchedulerHealth]:
    return Call("GET", f"{S}/health")


def update_job_metadata(job_id: str, display_name: str | None, description: str | None) -> Call[Job]:
    body = {"display_name": display_name, "description": description}
    return Call("PUT", f"{_job(job_id)}/metadata", json=body)


def executions_query(
    status: ExecutionStatus | None,
    is_manual: bool | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
    offset: int | None,
) -> dict[str, Any]:
    return {"status": status, "is_manual": is_manual, "since": since, "until": until, "limit": limit, "offset": offset}


def get_job_executions(job_id: str | None, query: dict[str, Any]) -> Call[ExecutionPage]:
    return Call("GET", f"{S}/executions", {"job_id": job_id, **query})


def get_single_job_executions(job_id: str, query: dict[str, Any]) -> Call[ExecutionPage]:
    return Call("GET", f"{_job(job_id)}/executions", query)


def get_job_execution_stats(job_id: str) -> Call[ExecutionStats]:
    return Call("GET", f"{_job(job_id)}/execution-stats")


def cancel_execution(execution_id: str) -> Call[ExecutionData]:
    return Call("POST", f"{_run(execution_id)}/cancel")


def mark_execution_failed(execution_id: str, reason: str | None) -> Call[ExecutionData]:
    return Call("POST", f"{_run(execution_id)}/mark-failed", {"reason": reason})


def delete_execution(execution_id: str) -> Call[None]:
    return Call("DELETE", _run(execution_id))


def get_execution(execution_id: str) -> Call[ExecutionDetail]:
    return Call("GET", _run(execution_id))


def get_execution_log(execution_id: str, after: int | None, limit: int | None) -> Call[LogPage]:
    return Call("GET", f"{_run(execution_id)}/log", {"after": after, "limit": limit})


def update_job_schedule(job_id: str, schedule: str) -> Call[JobDetail]:
    return Call("PUT", f"{_job(job_id)}/schedule", json={"schedule": schedule})


def reset_job_schedule(job_id: str) -> Call[JobDetail]:
    return Call("DELETE", f"{_job(job_id)}/schedule")


def preview_schedule(
    schedule: str, timezone: str | None, language: str | None, count: int | None
) -> Call[SchedulePreview]:
    params = {"schedule": schedule, "timezone": timezone, "language": language, "count": count}
    return Call("GET", f"{S}/schedules/preview", params)


def login(username: str, password: str) -> Call[Token]:
    return Call("POST", "/api/auth/login", json={"username": username, "password": password})


def get_me() -> Call[User]:
    return Call("GET", "/api/auth/me")


def healthz() -> Call[Healthz]:
    return Call("GET", "/healthz", envelope=False)


EVENTS_PATH = f"{S}/events"
