"""Pages about jobs: the overview (figures and the jobs table) and one job's page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from jobdeck.dashboard.views import SORT_KEYS, duration_chart, filter_rows, job_row, schedule_words, sort_rows
from jobdeck.dashboard.web import Ctx, Ui
from jobdeck.errors import JobdeckError
from jobdeck.models import ExecutionQuery
from jobdeck.web import RuntimeDep, status_for

__all__ = ["routes"]

Text = Annotated[str, Query(max_length=200)]


def routes(ui: Ui) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", name="dashboard_overview")
    async def overview(
        request: Request,
        runtime: RuntimeDep,
        q: Text = "",
        state: Text = "",
        tag: Text = "",
        sort: Text = "id",
        order: Text = "asc",
    ) -> Response:
        ctx = await ui.context(request, runtime)
        if ctx.user is None:
            return ctx.login_redirect()
        service = runtime.service
        try:
            overviews = await service.jobs_overview()
            stats = await service.stats()
        except JobdeckError as exc:
            return error_page(ui, ctx, exc)
        health = await service.health()
        rows = [job_row(o.job, o, ctx.t.language) for o in overviews]
        sort = sort if sort in SORT_KEYS else "id"
        descending = order == "desc"
        shown = sort_rows(filter_rows(rows, query=q, state=state, tag=tag), sort, descending)
        return ui.render(
            ctx,
            "overview.html",
            rows=shown,
            total_rows=len(rows),
            tags=sorted({t for row in rows for t in row.tags}),
            stats=stats,
            failures_24h=stats.executions_24h.get("failed", 0),
            health=health,
            filters={"q": q, "state": state, "tag": tag, "sort": sort, "order": "desc" if descending else "asc"},
        )

    @router.get("/jobs/{job_id}", name="dashboard_job")
    async def job_page(request: Request, runtime: RuntimeDep, job_id: Annotated[str, Path(max_length=64)]) -> Response:
        ctx = await ui.context(request, runtime)
        if ctx.user is None:
            return ctx.login_redirect()
        service = runtime.service
        try:
            job = await service.get_job(job_id)
            stats = await service.execution_stats(job_id)
            runs = await service.list_executions(ExecutionQuery(job_id=job_id, limit=50))
            history = await service.job_history(job_id, limit=20, offset=0)
        except JobdeckError as exc:
            return error_page(ui, ctx, exc)
        spec = job.spec
        return ui.render(
            ctx,
            "job.html",
            job=job,
            spec=spec,
            row=job_row(job, None, ctx.t.language),
            configured_words=schedule_words(job.configured_schedule, spec.timezone, ctx.t.language),
            stats=stats,
            chart=duration_chart(runs.items),
            runs=runs.items[:20],
            runs_total=runs.total,
            history=history.items,
            history_total=history.total,
        )

    return router


def error_page(ui: Ui, ctx: Ctx, exc: JobdeckError) -> Response:
    """A page explaining what went wrong (unknown id, store down), with the status the API would give."""
    status = status_for(exc)
    return ui.render(ctx, "error.html", status_code=status, status=status, code=exc.code, message=exc.message)
