"""/api/scheduler/*: the original system's 17 endpoints, plus one execution, schedule override and revert."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Depends, Header, Path, Query, Request, Response

from jobdeck.api.deps import AdminUser, CurrentUser, Offset, RuntimeDep, ServiceDep
from jobdeck.api.envelope import Envelope, ok
from jobdeck.api.responses import errors
from jobdeck.api.routing import EnvelopeRoute, TrailingSlashRouter
from jobdeck.api.schemas import (
    AuditOut,
    AuditPage,
    ExecutionDetailOut,
    ExecutionOut,
    ExecutionPage,
    ExecutionStatsOut,
    IsoDatetime,
    JobDetailOut,
    JobOut,
    JobRowRenderer,
    LogPageOut,
    MetadataIn,
    ScheduleIn,
    TriggerIn,
    render_jobs,
)
from jobdeck.api.schemas_status import HealthOut, StatsOut
from jobdeck.models import AuditEntry, AuditOutcome, AuditQuery, ExecutionQuery, ExecutionStatus, Page
from jobdeck.runtime import Runtime

__all__ = ["router"]

router = TrailingSlashRouter(prefix="/api/scheduler", tags=["scheduler"], route_class=EnvelopeRoute)

JobId = Annotated[str, Path(min_length=1, max_length=64, description="The job's id")]
ExecutionId = Annotated[str, Path(min_length=1, max_length=64, description="The execution's id")]
ExecutionLimit = Annotated[int, Query(ge=1, le=200, description="Page size, 1–200")]
StatusFilter = Annotated[ExecutionStatus | None, Query(description="Only executions in this status")]
ManualFilter = Annotated[bool | None, Query(description="true: manual runs only; false: scheduled runs only")]
Since = Annotated[IsoDatetime | None, Query(description="Started at or after (ISO 8601 with offset)")]
Until = Annotated[IsoDatetime | None, Query(description="Started before (ISO 8601 with offset)")]

READ = errors(401, 503)
READ_ONE = errors(401, 404, 503)
CHANGE = errors(401, 403, 404, 503)


@router.get("/jobs", response_model=Envelope[list[JobOut]], responses=READ, operation_id="getJobs")
async def get_jobs(request: Request, runtime: RuntimeDep, user: CurrentUser) -> Response:
    """Every job with its schedule, next run, state and how many runs are going."""
    # The read model keeps the rows rendered; response_model still describes them in the OpenAPI document.
    data = await runtime.service.jobs.rendered(JobRowRenderer(tz=runtime.display_tz))
    body = render_jobs(data, ok(request))
    return Response(body, media_type="application/json")


@router.get("/jobs/{job_id}", response_model=Envelope[JobDetailOut], responses=READ_ONE, operation_id="getJobDetail")
async def get_job_detail(request: Request, job_id: JobId, runtime: RuntimeDep, user: CurrentUser) -> dict[str, object]:
    """One job with its configuration and next five fire times."""
    job = await runtime.service.get_job(job_id)
    return ok(request, JobDetailOut.of(job, runtime.display_tz))


@router.post("/jobs/{job_id}/pause", response_model=Envelope[JobOut], responses=CHANGE, operation_id="pauseJob")
async def pause_job(
    request: Request,
    job_id: JobId,
    runtime: RuntimeDep,
    user: AdminUser,
    until: Annotated[
        IsoDatetime | None,
        Query(description="Timed pause: the job resumes by itself at this instant (ISO 8601 with offset, future)"),
    ] = None,
) -> dict[str, object]:
    """Pause a job. Persisted (survives restarts); idempotent. With `until` it resumes by itself then."""
    await runtime.service.pause_job(job_id, actor=user, until=until)
    job = await runtime.service.get_job(job_id)
    message = f"Job {job_id} paused" + (f" until {until.isoformat()}" if until is not None else "")
    return ok(request, JobOut.of(job, runtime.display_tz), message)


@router.post("/jobs/{job_id}/resume", response_model=Envelope[JobOut], responses=CHANGE, operation_id="resumeJob")
async def resume_job(request: Request, job_id: JobId, runtime: RuntimeDep, user: AdminUser) -> dict[str, object]:
    """Resume a paused job. Persisted; idempotent."""
    await runtime.service.resume_job(job_id, actor=user)
    job = await runtime.service.get_job(job_id)
    return ok(request, JobOut.of(job, runtime.display_tz), f"Job {job_id} resumed")


@router.post(
    "/jobs/{job_id}/trigger",
    response_model=Envelope[ExecutionOut],
    responses=errors(401, 403, 404, 409, 503),
    operation_id="triggerJob",
)
async def trigger_job(
    request: Request,
    job_id: JobId,
    runtime: RuntimeDep,
    user: AdminUser,
    force: Annotated[bool, Query(description="Start even if max_instances runs are going; passed to the job")] = False,
    body: Annotated[TriggerIn | None, Body()] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="A repeated request with the same key (per job, within 24 h) returns the first run",
        ),
    ] = None,
) -> dict[str, object]:
    """Run a job once now, paused or not, without changing the job. 409 while max_instances runs are going;
    422 (naming the parameter) when `kwargs` do not fit the job's `parameters` schema."""
    result = await runtime.service.trigger_job_idempotent(
        job_id,
        actor=user,
        force=force,
        kwargs=body.kwargs if body is not None else None,
        idempotency_key=idempotency_key,
    )
    message = f"Job {job_id} triggered"
    if result.replayed:
        message = f"Job {job_id} was already triggered with this Idempotency-Key; this is that run"
    return ok(request, ExecutionOut.of(result.execution, runtime.display_tz), message)


@router.put(
    "/jobs/{job_id}/metadata", response_model=Envelope[JobOut], responses=CHANGE, operation_id="updateJobMetadata"
)
async def update_job_metadata(
    request: Request, job_id: JobId, body: MetadataIn, runtime: RuntimeDep, user: AdminUser
) -> dict[str, object]:
    """Edit the display name and description: "" clears a field, null or absent leaves it."""
    job = await runtime.service.update_metadata(
        job_id, display_name=body.display_name, description=body.description, actor=user
    )
    return ok(request, JobOut.of(job, runtime.display_tz), "Metadata updated")


@router.put(
    "/jobs/{job_id}/schedule", response_model=Envelope[JobDetailOut], responses=CHANGE, operation_id="updateJobSchedule"
)
async def update_job_schedule(
    request: Request, job_id: JobId, body: ScheduleIn, runtime: RuntimeDep, user: AdminUser
) -> dict[str, object]:
    """Override the job's schedule (validated and persisted)."""
    job = await runtime.service.update_schedule(job_id, body.schedule, actor=user)
    return ok(request, JobDetailOut.of(job, runtime.display_tz), f"Schedule of {job_id} set to {body.schedule!r}")


@router.delete(
    "/jobs/{job_id}/schedule", response_model=Envelope[JobDetailOut], responses=CHANGE, operation_id="resetJobSchedule"
)
async def reset_job_schedule(
    request: Request, job_id: JobId, runtime: RuntimeDep, user: AdminUser
) -> dict[str, object]:
    """Revert the job to its configured schedule."""
    job = await runtime.service.reset_schedule(job_id, actor=user)
    return ok(request, JobDetailOut.of(job, runtime.display_tz), f"Schedule of {job_id} reverted")


@router.get(
    "/jobs/{job_id}/history", response_model=Envelope[AuditPage], responses=READ_ONE, operation_id="getJobHistory"
)
async def get_job_history(
    request: Request,
    job_id: JobId,
    runtime: RuntimeDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size, 1–100")] = 20,
    offset: Offset = 0,
) -> dict[str, object]:
    """Operator actions on one job, newest first."""
    page = await runtime.service.job_history(job_id, limit=limit, offset=offset)
    return ok(request, _audit_page(page, runtime))


@router.get("/history", response_model=Envelope[AuditPage], responses=READ, operation_id="getAllHistory")
async def get_all_history(
    request: Request,
    runtime: RuntimeDep,
    user: CurrentUser,
    limit: ExecutionLimit = 50,
    offset: Offset = 0,
    job_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[AuditOutcome | None, Query(description="success or failed")] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, object]:
    """Every operator action, newest first."""
    page = await runtime.service.history(
        AuditQuery(job_id=job_id, status=status, action=action, limit=limit, offset=offset)
    )
    return ok(request, _audit_page(page, runtime))


def _audit_page(page: Page[AuditEntry], runtime: Runtime) -> AuditPage:
    items = [AuditOut.of(entry, runtime.display_tz) for entry in page.items]
    return AuditPage(history=items, total=page.total, limit=page.limit, offset=page.offset)


async def _execution_page(runtime: Runtime, query: ExecutionQuery) -> ExecutionPage:
    page = await runtime.service.list_executions(query)
    items = [ExecutionOut.of(e, runtime.display_tz) for e in page.items]
    return ExecutionPage(items=items, total=page.total, limit=page.limit, offset=page.offset)


class ExecutionFilters:
    """The filters and page of an executions list, shared by the all-jobs and one-job routes."""

    def __init__(
        self,
        status: StatusFilter = None,
        is_manual: ManualFilter = None,
        since: Since = None,
        until: Until = None,
        limit: ExecutionLimit = 50,
        offset: Offset = 0,
    ) -> None:
        self.status, self.is_manual, self.since, self.until = status, is_manual, since, until
        self.limit, self.offset = limit, offset

    def query(self, job_id: str | None) -> ExecutionQuery:
        return ExecutionQuery(
            job_id=job_id,
            status=self.status,
            is_manual=self.is_manual,
            since=self.since,
            until=self.until,
            limit=self.limit,
            offset=self.offset,
        )


ExecutionFiltersDep = Annotated[ExecutionFilters, Depends()]


@router.get(
    "/executions",
    response_model=Envelope[ExecutionPage],
    responses=errors(401, 404, 503),  # 404: a job_id filter naming no job (and no recorded runs)
    operation_id="getJobExecutions",
)
async def get_job_executions(
    request: Request,
    runtime: RuntimeDep,
    user: CurrentUser,
    *,
    job_id: Annotated[str | None, Query(max_length=64)] = None,
    filters: ExecutionFiltersDep,
) -> dict[str, object]:
    """Executions of every job (or one), newest first, with the total count."""
    return ok(request, await _execution_page(runtime, filters.query(job_id)))


@router.get(
    "/jobs/{job_id}/executions",
    response_model=Envelope[ExecutionPage],
    responses=READ_ONE,
    operation_id="getSingleJobExecutions",
)
async def get_single_job_executions(
    request: Request,
    job_id: JobId,
    runtime: RuntimeDep,
    user: CurrentUser,
    filters: ExecutionFiltersDep,
) -> dict[str, object]:
    """Executions of one job, newest first, with the total count."""
    return ok(request, await _execution_page(runtime, filters.query(job_id)))


@router.get(
    "/executions/{execution_id}",
    response_model=Envelope[ExecutionDetailOut],
    responses=READ_ONE,
    operation_id="getExecution",
)
async def get_execution(
    request: Request, execution_id: ExecutionId, runtime: RuntimeDep, user: CurrentUser
) -> dict[str, object]:
    """One execution with every field, the tail of its log and its retry chain."""
    execution, log = await runtime.service.get_execution(execution_id)
    chain = await runtime.service.retry_chain(execution_id) if execution.retry_of or execution.retry_at else None
    return ok(request, ExecutionDetailOut.with_log(execution, log, runtime.display_tz, chain))


@router.get(
    "/executions/{execution_id}/log",
    response_model=Envelope[LogPageOut],
    responses=READ_ONE,
    operation_id="getExecutionLog",
)
async def get_execution_log(
    request: Request,
    execution_id: ExecutionId,
    runtime: RuntimeDep,
    user: CurrentUser,
    after: Annotated[
        int, Query(ge=0, le=2**53, description="Only lines with seq > after; 0: the newest `limit` lines")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many lines, 1–1000")] = 200,
) -> dict[str, object]:
    """The run's log, incrementally: pass the `last_seq` of the previous answer as `after` to get new lines."""
    execution, lines = await runtime.service.get_execution_log(execution_id, after=after, limit=limit)
    return ok(request, LogPageOut.of(execution, lines, after, runtime.display_tz))


@router.get(
    "/jobs/{job_id}/execution-stats",
    response_model=Envelope[ExecutionStatsOut],
    responses=READ_ONE,
    operation_id="getJobExecutionStats",
)
async def get_job_execution_stats(
    request: Request, job_id: JobId, runtime: RuntimeDep, user: CurrentUser
) -> dict[str, object]:
    """Counts per status, success rate and run-time percentiles of one job."""
    stats = await runtime.service.execution_stats(job_id)
    return ok(request, ExecutionStatsOut.of(job_id, stats, runtime.display_tz))


@router.get("/stats", response_model=Envelope[StatsOut], responses=READ, operation_id="getSchedulerStats")
async def get_scheduler_stats(request: Request, service: ServiceDep, user: CurrentUser) -> dict[str, object]:
    """Figures for the whole scheduler."""
    return ok(request, StatsOut.of(await service.stats()))


@router.get("/health", response_model=Envelope[HealthOut], responses=READ, operation_id="getSchedulerHealth")
async def get_scheduler_health(request: Request, runtime: RuntimeDep, user: CurrentUser) -> dict[str, object]:
    """Whether the scheduler runs and the store answers."""
    return ok(request, HealthOut.of(await runtime.service.health(), runtime.display_tz))


@router.post(
    "/executions/{execution_id}/cancel",
    response_model=Envelope[ExecutionOut],
    responses=errors(401, 403, 404, 409, 503),
    operation_id="cancelExecution",
)
async def cancel_execution(
    request: Request, execution_id: ExecutionId, runtime: RuntimeDep, user: AdminUser
) -> dict[str, object]:
    """Ask a running execution to stop; 409 when it is not running."""
    execution = await runtime.service.cancel_execution(execution_id, actor=user)
    return ok(request, ExecutionOut.of(execution, runtime.display_tz), "Cancellation requested")


@router.post(
    "/executions/{execution_id}/mark-failed",
    response_model=Envelope[ExecutionOut],
    responses=errors(401, 403, 404, 409, 503),
    operation_id="markExecutionFailed",
)
async def mark_execution_failed(
    request: Request,
    execution_id: ExecutionId,
    runtime: RuntimeDep,
    user: AdminUser,
    reason: Annotated[str | None, Query(max_length=500, description="Recorded as the error message")] = None,
) -> dict[str, object]:
    """Close a running execution as failed; 409 when it is not running."""
    execution = await runtime.service.mark_failed(execution_id, reason=reason, actor=user)
    return ok(request, ExecutionOut.of(execution, runtime.display_tz), "Execution marked failed")


@router.delete(
    "/executions/{execution_id}",
    response_model=Envelope[None],
    responses=errors(401, 403, 404, 409, 503),
    operation_id="deleteExecution",
)
async def delete_execution(
    request: Request, execution_id: ExecutionId, service: ServiceDep, user: AdminUser
) -> dict[str, object]:
    """Delete a finished execution record; 409 while it runs."""
    await service.delete_execution(execution_id, actor=user)
    return ok(request, None, "Execution deleted")
