"""Row ↔ model conversion for :mod:`jobdeck.store.sql`."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping

from jobdeck.models import (
    ApiToken,
    AuditEntry,
    AuditOutcome,
    Execution,
    ExecutionStatus,
    JobMetadata,
    JobState,
    LogLine,
    Role,
    TriggerKind,
    User,
    execution_from_fields,
)
from jobdeck.store.schema import executions

__all__ = [
    "audit_values",
    "execution_row",
    "execution_values",
    "to_audit",
    "to_execution",
    "to_job_metadata",
    "to_job_state",
    "to_log_line",
    "to_token",
    "to_user",
    "token_values",
    "user_values",
]


_EXECUTION_COLUMNS = (
    "id", "job_id", "job_name", "status", "trigger", "triggered_by", "attempt", "retry_of", "force", "scheduled_time",
    "started_at", "updated_at", "finished_at", "duration", "kwargs", "return_value", "error_message", "traceback",
    "progress", "progress_message", "current_item", "total_items", "processed_items", "cancel_requested", "host", "pid",
    "heartbeat_at", "retry_at",
)  # fmt: skip
_EXECUTION_WIDTH = len(_EXECUTION_COLUMNS)
if tuple(executions.columns.keys()) != _EXECUTION_COLUMNS:  # pragma: no cover - caught by any test run
    raise RuntimeError("to_execution() unpacks the executions columns in an order the table no longer has")
_STATUS, _TRIGGER, _DURATION, _KWARGS = map(_EXECUTION_COLUMNS.index, ("status", "trigger", "duration", "kwargs"))
# Every column is a field of the record but duration (computed): "id" stands in for it, replaced by execution_row.
_EXECUTION_ATTRIBUTES = operator.attrgetter(*("id" if name == "duration" else name for name in _EXECUTION_COLUMNS))


def execution_row(execution: Execution) -> list[Any]:
    """The record's ``executions`` row: its values in table order (``_EXECUTION_COLUMNS``), as the column types
    take them (a burst's claims are made into rows by the thousand: one attribute fetch for all but four)."""
    row = list(_EXECUTION_ATTRIBUTES(execution))
    row[_STATUS] = execution.status.value
    row[_TRIGGER] = execution.trigger.value
    row[_DURATION] = _duration(execution)
    row[_KWARGS] = dict(execution.kwargs)
    return row


def execution_values(execution: Execution) -> dict[str, Any]:
    """The record's ``executions`` row by column name."""
    return dict(zip(_EXECUTION_COLUMNS, execution_row(execution), strict=True))


def _duration(execution: Execution) -> float | None:
    # Records inserted already terminal (missed / skipped, imports) get the same duration a close would write.
    if execution.finished_at is None or not execution.status.is_terminal:
        return None
    return (execution.finished_at - execution.started_at).total_seconds()


# Dict lookups: an Enum call costs as much as parsing a timestamp, and every listed execution makes two.
_STATUSES = {status.value: status for status in ExecutionStatus}
_TRIGGERS = {trigger.value: trigger for trigger in TriggerKind}


def to_execution(row: Sequence[Any]) -> Execution:
    """The execution in a row of ``select(executions, …)``: the table's columns first, in table order."""
    # Positional, not by name: lists convert up to hundreds of rows per request and a lookup by name per column
    # costs as much again as the rest. _EXECUTION_COLUMNS is checked against the table above, the fields' order
    # (execution_from_fields) against the model.
    (
        id, job_id, job_name, status, trigger, triggered_by, attempt, retry_of, force, scheduled_time, started_at,
        updated_at, finished_at, _duration, kwargs, return_value, error_message, traceback, progress,
        progress_message, current_item, total_items, processed_items, cancel_requested, host, pid, heartbeat_at,
        retry_at,
    ) = row[:_EXECUTION_WIDTH]  # fmt: skip
    return execution_from_fields(
        (
            id, job_id, job_name, _STATUSES[status], scheduled_time, started_at, updated_at, finished_at,
            _TRIGGERS[trigger], triggered_by, attempt, retry_of, bool(force), kwargs or {}, return_value,
            error_message, traceback, progress, progress_message, current_item, total_items, processed_items,
            bool(cancel_requested), host, pid, heartbeat_at, retry_at,
        )
    )  # fmt: skip


_EXECUTION_FIELDS = (
    "id", "job_id", "job_name", "status", "scheduled_time", "started_at", "updated_at", "finished_at", "trigger",
    "triggered_by", "attempt", "retry_of", "force", "kwargs", "return_value", "error_message", "traceback",
    "progress", "progress_message", "current_item", "total_items", "processed_items", "cancel_requested", "host",
    "pid", "heartbeat_at", "retry_at",
)  # fmt: skip
if tuple(f.name for f in dataclasses.fields(Execution)) != _EXECUTION_FIELDS:  # pragma: no cover - any test run
    raise RuntimeError("to_execution() passes Execution's fields in an order the model no longer has")


def to_log_line(row: RowMapping) -> LogLine:
    return LogLine(
        execution_id=row["execution_id"], seq=row["seq"], at=row["at"], level=row["level"], message=row["message"]
    )


def to_job_state(row: RowMapping) -> JobState:
    paused = row["paused"]
    return JobState(
        job_id=row["job_id"],
        paused=None if paused is None else bool(paused),
        schedule_override=row["schedule_override"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
        paused_until=row["paused_until"],
        last_fire_time=row["last_fire_time"],
    )


def to_job_metadata(row: RowMapping) -> JobMetadata:
    return JobMetadata(
        job_id=row["job_id"],
        display_name=row["display_name"],
        description=row["description"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def audit_values(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "timestamp": entry.timestamp,
        "actor": entry.actor,
        "action": str(entry.action),
        "status": entry.status.value,
        "job_id": entry.job_id,
        "execution_id": entry.execution_id,
        "error_message": entry.error_message,
        "details": dict(entry.details),
    }


def to_audit(row: RowMapping) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        timestamp=row["timestamp"],
        actor=row["actor"],
        action=row["action"],
        status=AuditOutcome(row["status"]),
        job_id=row["job_id"],
        execution_id=row["execution_id"],
        error_message=row["error_message"],
        details=row["details"] or {},
    )


def user_values(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role.value,
        "password_hash": user.password_hash,
        "created_at": user.created_at,
        "disabled": user.disabled,
        "token_version": user.token_version,
    }


def to_user(row: RowMapping) -> User:
    return User(
        username=row["username"],
        role=Role(row["role"]),
        password_hash=row["password_hash"],
        created_at=row["created_at"],
        disabled=bool(row["disabled"]),
        token_version=int(row["token_version"]),
    )


def token_values(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role.value,
        "token_hash": token.token_hash,
        "created_at": token.created_at,
        "created_by": token.created_by,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


def to_token(row: RowMapping) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        token_hash=row["token_hash"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )
