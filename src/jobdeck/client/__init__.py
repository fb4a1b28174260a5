"""Typed Python clients of the jobdeck HTTP API: ``JobdeckClient`` (blocking) and ``AsyncJobdeckClient``.

One method per route, named as the TypeScript client's functions in snake_case; each returns the envelope's
``data`` (a typed dict) and raises the server's own error classes from :mod:`jobdeck.errors`::

    from jobdeck.client import JobdeckClient
    from jobdeck.errors import JobNotFound

    with JobdeckClient("http://127.0.0.1:8000", token="jd_…") as client:
        try:
            run = client.trigger_job("daily_report", force=True)
        except JobNotFound as exc:
            print(exc.message, exc.request_id)
"""

from jobdeck.client._async import AsyncJobdeckClient
from jobdeck.client._calls import ServerUnreachable
from jobdeck.client._sse import ServerSentEvent
from jobdeck.client._sync import JobdeckClient
from jobdeck.client._types import (
    TERMINAL_STATUSES,
    AuditEntry,
    AuditPage,
    ChangeEvent,
    Execution,
    ExecutionDetail,
    ExecutionPage,
    ExecutionStats,
    ExecutionStatus,
    Healthz,
    Job,
    JobDetail,
    LogLine,
    LogPage,
    RetryLink,
    SchedulePreview,
    SchedulerHealth,
    SchedulerStats,
    Token,
    User,
    parse_time,
)

__all__ = [
    "TERMINAL_STATUSES",
    "AsyncJobdeckClient",
    "AuditEntry",
    "AuditPage",
    "ChangeEvent",
    "Execution",
    "ExecutionDetail",
    "ExecutionPage",
    "ExecutionStats",
    "ExecutionStatus",
    "Healthz",
    "Job",
    "JobDetail",
    "JobdeckClient",
    "LogLine",
    "LogPage",
    "RetryLink",
    "SchedulePreview",
    "SchedulerHealth",
    "SchedulerStats",
    "ServerSentEvent",
    "ServerUnreachable",
    "Token",
    "User",
    "parse_time",
]
