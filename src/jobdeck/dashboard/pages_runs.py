"""Pages about runs and actions: the executions list, one execution, and the audit trail."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from jobdeck.dashboard.pages_jobs import error_page
from jobdeck.dashboard.web import Ui
from jobdeck.errors import JobdeckError
from jobdeck.models import AuditAction, AuditOutcome, AuditQuery, ExecutionQuery, ExecutionStatus
from jobdeck.web import RuntimeDep

__all__ = ["PAGE_SIZES", "parse_local", "routes"]

Text = Annotated[str, Query(max_length=64)]
PageNo = Annotated[int, Query(ge=1, le=100_000)]
PAGE_SIZES = (25, 50, 100)


def parse_local(value: str, tz: tzinfo) -> datetime | None:
    """A ``datetime-local`` input (``2026-03-06T15:58``) read in the display timezone; None if empty or malformed."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def _pages(total: int, page: int, per: int) -> dict[str, int]:
    last = max(1, -(-total // per))
    page = min(page, last)
    return {"page": page, "last": last, "per": per, "total": total, "first_item": (page - 1) * per + 1 if total else 0,
            "last_item": min(total, page * per)}  # fmt: skip


def routes(ui: Ui) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/executions", name="dashboard_executions")
    async def executions_page(
        request: Request,
        runtime: RuntimeDep,
        job: Text = "",
        status: Text = "",
        trigger: Text = "",
        since: Text = "",
        until: Text = "",
        page: PageNo = 1,
        per: PageNo = 50,
    ) -> Response:
        ctx = await ui.context(request, runtime)
        if ctx.user is None:
            return ctx.login_redirect()
        per = per if per in PAGE_SIZES else 50
        statuses = [s.value for s in ExecutionStatus]
        query = ExecutionQuery(
            job_id=job or None,
            status=ExecutionStatus(status) if status in statuses else None,
            is_manual={"manual": True, "scheduled": False}.get(trigger),
            since=parse_local(since, ctx.tz),
            until=parse_local(until, ctx.tz),
            limit=per,
            offset=(page - 1) * per,
        )
        try:
            result = await runtime.service.list_executions(query)
            jobs = await runtime.service.list_jobs()
        except JobdeckError as exc:
            return error_page(ui, ctx, exc)
        filters = {"job": job, "status": status, "trigger": trigger, "since": since, "until": until, "per": per}
        return ui.render(
            ctx,
            "executions.html",
            executions=result.items,
            pages=_pages(result.total, page, per),
            page_sizes=PAGE_SIZES,
            job_ids=[j.id for j in jobs],
            statuses=statuses,
            filters=filters,
        )

    @router.get("/executions/{execution_id}", name="dashboard_execution")
    async def execution_page(
        request: Request, runtime: RuntimeDep, execution_id: Annotated[str, Path(max_length=64)]
    ) -> Response:
        ctx = await ui.context(request, runtime)
        if ctx.user is None:
            return ctx.login_redirect()
        try:
            execution, log = await runtime.service.get_execution(execution_id)
            chain = await runtime.service.retry_chain(execution_id) if execution.retry_of or execution.retry_at else []
        except JobdeckError as exc:
            return error_page(ui, ctx, exc)
        return ui.render(ctx, "execution.html", e=execution, log=log, chain=chain)

    @router.get("/audit", name="dashboard_audit")
    async def audit_page(
        request: Request,
        runtime: RuntimeDep,
        job: Text = "",
        action: Text = "",
        outcome: Text = "",
        page: PageNo = 1,
    ) -> Response:
        ctx = await ui.context(request, runtime)
        if ctx.user is None:
            return ctx.login_redirect()
        per = 50
        outcomes = [o.value for o in AuditOutcome]
        query = AuditQuery(
            job_id=job or None,
            action=action or None,
            status=AuditOutcome(outcome) if outcome in outcomes else None,
            limit=per,
            offset=(page - 1) * per,
        )
        try:
            result = await runtime.service.history(query)
            jobs = await runtime.service.list_jobs()
        except JobdeckError as exc:
            return error_page(ui, ctx, exc)
        return ui.render(
            ctx,
            "audit.html",
            entries=result.items,
            pages=_pages(result.total, page, per),
            job_ids=[j.id for j in jobs],
            actions=[a.value for a in AuditAction],
            outcomes=outcomes,
            filters={"job": job, "action": action, "outcome": outcome},
        )

    return router
