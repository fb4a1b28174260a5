"""Unauthenticated probes for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from jobdeck.api.deps import RuntimeDep
from jobdeck.api.schemas_status import HealthzOut

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get(
    "/healthz",
    operation_id="healthz",
    response_model=HealthzOut,
    responses={503: {"model": HealthzOut, "description": "Scheduler stopped or store down"}},
)
async def healthz(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """200 when the scheduler runs and the store answers, 503 otherwise. Needs no token and reveals no details."""
    report = await runtime.service.health()
    healthy = report.status == "healthy"
    return JSONResponse({"status": report.status}, status_code=200 if healthy else 503)
