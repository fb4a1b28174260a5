"""New execution records: what the engine inserts for a run, a retry, or a fire that did not run."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jobdeck.ids import new_id
from jobdeck.models import Execution, ExecutionStatus, JobSpec, TriggerKind, execution_from_fields

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
    running = status is ExecutionStatus.RUNNING
    # By position (bursts make thousands): the fields in Execution's order, the ones not given at their defaults.
    return execution_from_fields(
        (
            execution_id or new_id(now), spec.id, spec.display_name or spec.id, status, scheduled_time, now, now,
            None if running else now, trigger, triggered_by, attempt, retry_of, force, dict(kwargs),
            None, error_message, None, None, None, None, None, None, False, host, pid, now if running else None, None,
        )
    )  # fmt: skip
