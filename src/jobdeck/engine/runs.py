"""A run of the runner (:class:`Run`) and how it ended (:func:`run_outcome`): the status and fields its record is
closed with."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobdeck.engine.context import JobCancelled, JobContext
from jobdeck.engine.executors.base import JobFailure
from jobdeck.engine.outcome import (
    describe_error,
    format_duration,
    format_seconds,
    format_traceback,
    render_return_value,
)
from jobdeck.models import Execution, ExecutionStatus, JobSpec

__all__ = ["Run", "Stop", "run_outcome"]


class Stop(enum.Enum):
    ESCALATED = "escalated"
    """The cancel grace ran out and the engine cancelled the job's task."""
    SHUTDOWN = "shutdown"
    """The engine is shutting down and stopped the job."""


@dataclass(eq=False, kw_only=True, slots=True)
class Run:
    """One execution going on in this process."""

    spec: JobSpec
    execution: Execution
    ctx: JobContext
    interruptible: bool
    job_task: asyncio.Task[Any]
    ended: bool = False
    """The job's task ended, or jobdeck stopped waiting for a job that ignores the cancellation of its task: the
    run is queued for closing."""
    ended_at: datetime | None = None
    """When the run ended (see ``ended``): its record's ``finished_at``."""
    over: bool = False
    """The runner is done with the run: its record is closed (or left to the sweep) and the run forgotten."""
    counted: bool = True
    """Among the runner's running counts (until its job ends, or it is forgotten)."""
    timers: list[asyncio.TimerHandle] | None = None
    escalation: asyncio.TimerHandle | None = None
    stop: Stop | None = None
    timed_out: bool = False
    cancel_reason: str | None = None


def run_outcome(run: Run, *, cancel_grace: float) -> tuple[ExecutionStatus, dict[str, Any]]:
    """How the run ended: its terminal status and the record's fields (return value, error, traceback)."""
    status, fields = _raw_outcome(run, cancel_grace)
    if run.timed_out and run.stop is not Stop.SHUTDOWN:
        assert run.spec.timeout is not None
        message = f"timed out after {format_duration(run.spec.timeout)}"
        if status is ExecutionStatus.SUCCESS:
            message += " (the job returned later, on its own)"
        elif status is ExecutionStatus.FAILED:
            message += f"; then {fields.get('error_message')}"
        return ExecutionStatus.FAILED, {"error_message": message, "traceback": fields.get("traceback")}
    return status, fields


def _raw_outcome(run: Run, cancel_grace: float) -> tuple[ExecutionStatus, dict[str, Any]]:
    task = run.job_task
    if not task.done():
        grace = format_seconds(cancel_grace)
        return ExecutionStatus.CANCELLED, {
            "error_message": f"cancelled: the job ignored the cancellation of its task for cancel_grace={grace} s; "
            "jobdeck stopped waiting for it"
        }
    if task.cancelled():
        if run.stop is Stop.SHUTDOWN:
            if run.interruptible:
                return ExecutionStatus.CANCELLED, {"error_message": "cancelled at shutdown"}
            return ExecutionStatus.FAILED, {"error_message": "jobdeck shut down before the run finished"}
        if run.stop is Stop.ESCALATED:
            grace = format_seconds(cancel_grace)
            return ExecutionStatus.CANCELLED, {
                "error_message": f"cancelled{_why(run)}: the job did not stop within cancel_grace={grace} s "
                "of the request, so it was stopped (task cancelled; a command's process group killed)"
            }
        return ExecutionStatus.CANCELLED, {"error_message": "the job's task was cancelled"}
    error = task.exception()
    if error is None:
        return ExecutionStatus.SUCCESS, {"return_value": render_return_value(task.result())}
    if isinstance(error, JobCancelled):
        if run.stop is Stop.SHUTDOWN:
            message = "cancelled at shutdown"
        elif run.ctx.cancel_requested:
            message = f"cancelled on request{_why(run)}"
            if str(error) != JobCancelled().args[0]:
                message += f": {error}"
        else:
            message = f"cancelled by the job: {error}"
        return ExecutionStatus.CANCELLED, {"error_message": message}
    if isinstance(error, JobFailure):
        return ExecutionStatus.FAILED, {"error_message": str(error), "traceback": error.detail}
    return ExecutionStatus.FAILED, {
        "error_message": describe_error(error),
        "traceback": format_traceback(error),
    }


def _why(run: Run) -> str:
    return f" ({run.cancel_reason})" if run.cancel_reason else ""
