"""The dashboard's actions (POST): each checks the session, the CSRF token and the permission to change things
(:mod:`jobdeck.access`, as the API does), then calls the service. A page's script gets JSON (``{success, message,
data}`` with the API's status codes); a plain form post gets a redirect back with a flash message."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from jobdeck.access import Permission, may
from jobdeck.dashboard.pages_runs import parse_local
from jobdeck.dashboard.web import Ctx, Ui, safe_next
from jobdeck.errors import InvalidInput, JobdeckError
from jobdeck.models import Principal
from jobdeck.web import RuntimeDep, status_for

__all__ = ["check_csrf", "routes", "run_kwargs"]

JobId = Annotated[str, Path(min_length=1, max_length=64)]
ExecutionId = Annotated[str, Path(min_length=1, max_length=64)]
Operation = Callable[[Ctx, Principal, FormData], Awaitable[tuple[str, dict[str, Any]]]]

_MAX_FIELD = 2000


def check_csrf(ctx: Ctx, form: FormData) -> bool:
    """Whether the request carries this browser's and session's anti-forgery token (form field or header)."""
    token = form.get("csrf_token") or ctx.request.headers.get("x-csrf-token")
    nonce = None if ctx.new_nonce else ctx.nonce
    return ctx.runtime.auth.check_csrf(nonce, ctx.session, token if isinstance(token, str) else None)


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value[:_MAX_FIELD] if isinstance(value, str) else None


def run_kwargs(form: FormData, schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run-now dialog's ``kw.<name>`` fields as kwargs, typed by the job's parameters schema; empty fields are
    left out (the configured value or the default applies). Values that do not convert are passed as text, so the
    service's check names the parameter."""
    properties: Mapping[str, Any] = (schema or {}).get("properties", {})
    kwargs: dict[str, Any] = {}
    for key, value in form.multi_items():
        if not key.startswith("kw.") or not isinstance(value, str) or not value.strip():
            continue
        name = key[3:]
        prop = properties.get(name, {})
        kinds = {prop.get("type")} | {option.get("type") for option in prop.get("anyOf", [])}
        try:
            kwargs[name] = json.loads(value) if kinds & {"integer", "number", "boolean", "array", "object"} else value
        except ValueError:
            kwargs[name] = value
    return kwargs


def routes(ui: Ui) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def act(request: Request, runtime: RuntimeDep, operation: Operation) -> Response:
        ctx = await ui.context(request, runtime)
        form = await request.form()
        t = ctx.t
        back = safe_next(ctx, _field(form, "next"))
        if ctx.user is None:
            if not ui.wants_json(request):
                return ctx.login_redirect()
            return ui.answer(ctx, ok=False, message=t("err_signed_out"), status=401, back=back)
        if not check_csrf(ctx, form):
            return ui.answer(ctx, ok=False, message=t("err_csrf"), status=403, back=back)
        if not may(ctx.user, Permission.OPERATE):  # the API's policy; the refusal is the dashboard's own answer
            return ui.answer(ctx, ok=False, message=t("err_forbidden"), status=403, back=back)
        try:
            message, data = await operation(ctx, ctx.user, form)
        except JobdeckError as exc:
            key = f"err_{exc.code}"
            shown = t(key) if t.has(key) else exc.message
            return ui.answer(ctx, ok=False, message=shown, status=status_for(exc), back=back)
        return ui.answer(ctx, ok=True, message=message, back=back, data=data)

    @router.post("/-/jobs/{job_id}/pause")
    async def pause(request: Request, runtime: RuntimeDep, job_id: JobId) -> Response:
        async def run(ctx: Ctx, user: Principal, form: FormData) -> tuple[str, dict[str, Any]]:
            raw_until = (_field(form, "until") or "").strip()
            until = parse_local(raw_until, ctx.tz)  # a datetime-local value, read in the display timezone
            if raw_until and until is None:
                raise InvalidInput(f"not a date and time: {raw_until!r}", field="until")
            await runtime.service.pause_job(job_id, actor=user, until=until)
            return ctx.t("msg_paused", job=job_id), {"job_id": job_id, "paused": True}

        return await act(request, runtime, run)

    @router.post("/-/jobs/{job_id}/resume")
    async def resume(request: Request, runtime: RuntimeDep, job_id: JobId) -> Response:
        async def run(ctx: Ctx, user: Principal, form: FormData) -> tuple[str, dict[str, Any]]:
            await runtime.service.resume_job(job_id, actor=user)
            return ctx.t("msg_resumed", job=job_id), {"job_id": job_id, "paused": False}

        return await act(request, runtime, run)

    @router.post("/-/jobs/{job_id}/trigger")
    async def trigger(request: Request, runtime: RuntimeDep, job_id: JobId) -> Response:
        async def run(ctx: Ctx, user: Principal, form: FormData) -> tuple[str, dict[str, Any]]:
            force = _field(form, "force") in ("1", "true", "on")
            kwargs = run_kwargs(form, (await runtime.service.get_job(job_id)).parameters)
            execution = await runtime.service.trigger_job(job_id, actor=user, force=force, kwargs=kwargs or None)
            message = ctx.t("msg_triggered", job=job_id)
            return message, {"job_id": job_id, "execution_id": execution.id}

        return await act(request, runtime, run)

    @router.post("/-/jobs/{job_id}/metadata")
    async def metadata(request: Request, runtime: RuntimeDep, job_id: JobId) -> Response:
        async def run(ctx: Ctx, user: Principal, form: FormData) -> tuple[str, dict[str, Any]]:
            # Both fields are always sent: an empty one clears the field (the original could not clear them).
            display_name = (_field(form, "display_name") or "").strip()[:200]
            description = (_field(form, "description") or "").strip()
            await runtime.service.update_metadata(
                job_id, display_name=display_name, description=description, actor=user
            )
            return ctx.t("msg_metadata", job=job_id), {"job_id": job_id}

        return await act(request, runtime, run)

    @router.post("/-/jobs/{job_id}/schedule")
    async def schedule(request: Request, runtime: RuntimeDep, job_id: JobId) -> Response:
        async def run(ctx: Ctx, user: Principal, form: FormData) -> tuple[str, dict[str, Any]]:
            expression = (_field(form, "schedule") or "").strip()[:200]
            await runtime.service.update_schedule(job_id, expression, actor=user)
            return ctx.t("msg_schedule", job=job_id), {"job_id": job_id, "schedule": expression}

        return await act(request, runtime, run)

    @router.post("/-/jobs/{job_id}/schedule/reset")
    async def reset_schedule(request: Request, runtime: RuntimeDep, job_id: JobId) -> Response:
        async def run(ctx: Ctx, user: Principal, form: FormData) -> tuple[str, dict[str, Any]]:
            await runtime.service.reset_schedule(job_id, actor=user)
            return ctx.t("msg_schedule_reset", job=job_id), {"job_id": job_id}

        return await act(request, runtime, run)

    @router.post("/-/executions/{execution_id}/cancel")
    async def cancel(request: Request, runtime: RuntimeDep, execution_id: ExecutionId) -> Response:
        async def run(ctx: Ctx, user: Principal, form: FormData) -> tuple[str, dict[str, Any]]:
            await runtime.service.cancel_execution(execution_id, actor=user)
            return ctx.t("msg_cancel"), {"execution_id": execution_id}

        return await act(request, runtime, run)

    @router.post("/-/executions/{execution_id}/mark-failed")
    async def mark_failed(request: Request, runtime: RuntimeDep, execution_id: ExecutionId) -> Response:
        async def run(ctx: Ctx, user: Principal, form: FormData) -> tuple[str, dict[str, Any]]:
            reason = (_field(form, "reason") or "").strip()[:500] or None
            await runtime.service.mark_failed(execution_id, reason=reason, actor=user)
            return ctx.t("msg_marked_failed"), {"execution_id": execution_id}

        return await act(request, runtime, run)

    @router.post("/-/executions/{execution_id}/delete")
    async def delete(request: Request, runtime: RuntimeDep, execution_id: ExecutionId) -> Response:
        async def run(ctx: Ctx, user: Principal, form: FormData) -> tuple[str, dict[str, Any]]:
            await runtime.service.delete_execution(execution_id, actor=user)
            return ctx.t("msg_deleted"), {"execution_id": execution_id}

        return await act(request, runtime, run)

    return router
