"""New execution records: what the engine inserts for a run, a retry, or a fire that did not run."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jobdeck.ids import new_id
from jobdeck.models import Execution, ExecutionStatus, JobSpec, TriggerKind

__all__ = ["new_execution"]


def new_execution(
    spec: JobSpec,
    now: datetime,
    *,
    status: ExecutionStatus,
    scheduled_time: datetime,
    trigger: TriggerKind,
    kwargs: Mapping[str, Any],
    triggered_by: str | None = None,
    force: bool = False,
    error_message: str | None = None,
    execution_id: str | None = None,
    attempt: int = 1,
    retry_of: str | None = None,
    host: str | None = None,
    pid: int | None = None,
) -> Execution:
    """A record of ``spec`` started (or, for a terminal ``status``, closed) at ``now``."""
    return Execution(
        id=execution_id or new_id(now),
        job_id=spec.id,
        job_name=spec.display_name or spec.id,
        status=status,
        scheduled_time=scheduled_time,
        started_at=now,
        updated_at=now,
        finished_at=None if status is ExecutionStatus.RUNNING else now,
        trigger=trigger,
        triggered_by=triggered_by,
        attempt=attempt,
        retry_of=retry_of,
        force=force,
        kwargs=dict(kwargs),
        error_message=error_message,
        host=host,
        pid=pid,
        heartbeat_at=now if status is ExecutionStatus.RUNNING else None,
    )
