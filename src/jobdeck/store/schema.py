"""The database schema (SQLAlchemy Core): tables, the indexes behind every list and filter, and column types.

Every timestamp column is :class:`UtcDateTime`: ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, a fixed-width UTC text
(``2026-03-06 07:58:00.123456``) on SQLite so that text order is time order and indexes and range filters work.
Changing anything here needs a new Alembic revision in ``migrations/versions``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    literal_column,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "CLAIM_TRIGGERS",
    "FINISHED_STATUSES",
    "IS_RUNNING",
    "NOT_RUNNING",
    "JsonText",
    "UtcDateTime",
    "api_tokens",
    "audit",
    "execution_counts",
    "execution_hourly_counts",
    "execution_logs",
    "executions",
    "idempotency_keys",
    "job_metadata",
    "jobs_state",
    "metadata",
    "revoked_tokens",
    "settings",
    "users",
]

SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

CLAIM_TRIGGERS = ("schedule", "retry")
"""Triggers whose records are keyed unique on (job_id, scheduled_time, attempt): the multi-replica claim."""
FINISHED_STATUSES = ("success", "failed", "cancelled")
"""Statuses of runs that actually ran to an end (the population of run-time statistics)."""


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime. Naive values are refused on the way in; values come back aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(26))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored: jobdeck stores aware UTC only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.strftime(SQLITE_FORMAT)
        return value

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        # Instead of process_result_value: every listed execution has six of these columns, and SQLite's text goes
        # straight to the parser without TypeDecorator's two layers of calls per value.
        if dialect.name != "sqlite":
            if dialect.driver == "asyncpg":
                # asyncpg decodes timestamptz aware, in UTC (datetime.UTC itself), whatever the session's time zone:
                # nothing to do, and no Python call per value (a listed execution has six).
                return None
            return lambda value: value if value is None or value.tzinfo is UTC else _as_utc(value)
        return from_sqlite_text


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:  # pragma: no cover - a column written outside jobdeck
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@overload
def from_sqlite_text(value: str) -> datetime: ...
@overload
def from_sqlite_text(value: None) -> None: ...
def from_sqlite_text(value: str | None) -> datetime | None:
    """A timestamp as UtcDateTime stores it on SQLite (SQLITE_FORMAT, UTC), read back aware; None for NULL."""
    # fromisoformat reads SQLITE_FORMAT exactly, and given the offset is the fastest way (docs/performance.md); the
    # result's tzinfo is datetime.UTC itself.
    return None if value is None else datetime.fromisoformat(value + "+00:00")


class JsonText(TypeDecorator[Any]):
    """A JSON document stored as text (portable; values that are not JSON are stored as their ``str``)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not value and type(value) is dict:  # most runs' kwargs: json.dumps costs more than the rest of the row
            return "{}"
        return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        # Instead of process_result_value: one call per value rather than TypeDecorator's two (every listed
        # execution has one of these).
        return _from_json_text


def _from_json_text(value: str | None) -> Any:
    if value is None:
        return None
    if value == "{}":  # the kwargs of nearly every scheduled run
        return {}
    return json.loads(value)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

jobs_state = Table(
    "jobs_state",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("paused", Boolean, nullable=True),
    Column("schedule_override", Text, nullable=True),
    Column("updated_at", UtcDateTime, nullable=True),
    Column("updated_by", String(128), nullable=True),
    Column("paused_until", UtcDateTime, nullable=True),  # v0002: a timed pause ends by itself then
    Column("last_fire_time", UtcDateTime, nullable=True),  # v0002: catch-up after downtime starts after it
)

job_metadata = Table(
    "job_metadata",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("display_name", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("updated_at", UtcDateTime, nullable=True),
    Column("updated_by", String(128), nullable=True),
)

executions = Table(
    "executions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("job_id", String(64), nullable=False),
    Column("job_name", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("triggered_by", String(128), nullable=True),
    Column("attempt", Integer, nullable=False),
    Column("retry_of", String(64), nullable=True),
    Column("force", Boolean, nullable=False),
    Column("scheduled_time", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("duration", Float, nullable=True),  # seconds, finished_at - started_at, written on close
    Column("kwargs", JsonText, nullable=True),
    Column("return_value", Text, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("traceback", Text, nullable=True),
    Column("progress", Float, nullable=True),
    Column("progress_message", Text, nullable=True),
    Column("current_item", Text, nullable=True),
    Column("total_items", Integer, nullable=True),
    Column("processed_items", Integer, nullable=True),
    Column("cancel_requested", Boolean, nullable=False),
    Column("host", String(255), nullable=True),
    Column("pid", Integer, nullable=True),
    Column("heartbeat_at", UtcDateTime, nullable=True),
    Column("retry_at", UtcDateTime, nullable=True),  # v0002: set on a failed attempt that will be retried
)

# Literal SQL, not bound parameters: a planner can only use a partial index when the query's own WHERE clause
# visibly implies the index predicate, so queries on running rows use this very expression.
IS_RUNNING = executions.c.status == literal_column("'running'")
NOT_RUNNING = executions.c.status != literal_column("'running'")
"""Added to queries on finished rows, which it does not change, so that they may use a partial index on them."""
_CLAIMED = executions.c.trigger.in_([literal_column("'schedule'"), literal_column("'retry'")])

# Lists are "newest first" = ORDER BY started_at DESC, id DESC; each filter has its own (filter…, started_at, id)
# index so a page is an index range scan and the COUNT of a filter is an index-only count.
# status last (v0004): the last 24 hours by status (/stats on PostgreSQL) is an index-only range scan.
Index("ix_executions_started", executions.c.started_at, executions.c.id, executions.c.status)
# status and duration last (v0004): a job's newest finished durations (its p50 / p95) are an index-only scan.
Index(
    "ix_executions_job_started",
    executions.c.job_id,
    executions.c.started_at,
    executions.c.id,
    executions.c.status,
    executions.c.duration,
)
Index("ix_executions_status_started", executions.c.status, executions.c.started_at, executions.c.id)
# duration last: the run-time average of a job's finished runs is an index-only aggregate. Partial (v0005): a
# claim's running row lands at a random place of this job-first index, a third of a claim's cost on SQLite, for
# queries that want finished rows (a job's running rows are in ix_executions_running).
Index(
    "ix_executions_job_status_started",
    executions.c.job_id,
    executions.c.status,
    executions.c.started_at,
    executions.c.id,
    executions.c.duration,
    sqlite_where=NOT_RUNNING,
    postgresql_where=NOT_RUNNING,
)
Index("ix_executions_trigger_started", executions.c.trigger, executions.c.started_at, executions.c.id)
# Partial (v0004): a claim inserts a running row with these columns NULL, and skips these indexes altogether.
_FINISHED = executions.c.finished_at.is_not(None)
Index("ix_executions_finished", executions.c.finished_at, sqlite_where=_FINISHED, postgresql_where=_FINISHED)
# The claim: exactly one record per scheduled fire and attempt, whichever replica inserts first.
Index(
    "uq_executions_claim",
    executions.c.job_id,
    executions.c.scheduled_time,
    executions.c.attempt,
    unique=True,
    sqlite_where=_CLAIMED,
    postgresql_where=_CLAIMED,
)
# Running rows are few among millions: count_running, running_executions and the zombie sweep read only these.
Index(
    "ix_executions_running",
    executions.c.job_id,
    executions.c.started_at,
    sqlite_where=IS_RUNNING,
    postgresql_where=IS_RUNNING,
)
# (Revision 0005 dropped ix_executions_running_heartbeat: the sweep's coalesce(heartbeat_at, started_at) could not
# use it, and every claim, close and heartbeat wrote an entry in it.)

# v0002: the retry chain (forward links) and pending retries.
_RETRIED, _RETRYING = executions.c.retry_of.is_not(None), executions.c.retry_at.is_not(None)
Index("ix_executions_retry_of", executions.c.retry_of, sqlite_where=_RETRIED, postgresql_where=_RETRIED)
Index("ix_executions_retry_at", executions.c.retry_at, sqlite_where=_RETRYING, postgresql_where=_RETRYING)

# Finished executions per (job, status): exact list totals and stats counts without counting millions of rows.
# Kept by triggers (revision 0004), except a close on SQLite, which the store counts itself (revision 0005, see
# _counts.SqliteCloseCounts); running rows are not counted here but from ix_executions_running, so a claim writes
# no counter.
execution_counts = Table(
    "execution_counts",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("n", Integer, nullable=False),
    # v0006: the durations of the counted rows (NULL ones not), for a job's average run time.
    Column("duration_sum", Float, nullable=False, server_default="0"),
    Column("timed", Integer, nullable=False, server_default="0"),
)
# v0004: totals by status. Not on n: PostgreSQL then updates counters in place (HOT) instead of bloating the index.
Index("ix_execution_counts_status", execution_counts.c.status)

# Finished executions per (hour started, status): the last 24 hours of /stats without a day's rows. Kept as
# execution_counts is; hour = 'YYYY-MM-DD HH' of started_at in UTC.
execution_hourly_counts = Table(
    "execution_hourly_counts",
    metadata,
    Column("hour", String(13), primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("n", Integer, nullable=False),
)

execution_logs = Table(
    "execution_logs",
    metadata,
    Column("execution_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("level", String(16), nullable=False),
    Column("message", Text, nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("job_id", String(64), nullable=True),
    Column("execution_id", String(64), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("details", JsonText, nullable=True),
)

Index("ix_audit_timestamp", audit.c.timestamp, audit.c.id)
Index("ix_audit_job_timestamp", audit.c.job_id, audit.c.timestamp, audit.c.id)
Index("ix_audit_action_timestamp", audit.c.action, audit.c.timestamp, audit.c.id)
Index("ix_audit_status_timestamp", audit.c.status, audit.c.timestamp, audit.c.id)

users = Table(
    "users",
    metadata,
    Column("username", String(128), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled", Boolean, nullable=False),
    # v0007: access tokens carry it (claim "ver"); bumped to revoke every token of the user at once.
    Column("token_version", Integer, nullable=False, server_default="0"),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    # v0007: access tokens signed out before they expire (claim "jti"); a row may go once expires_at is past.
    Column("jti", String(64), primary_key=True),
    Column("username", String(128), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

Index("ix_revoked_tokens_username", revoked_tokens.c.username)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(128), nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
)

Index("ix_api_tokens_created", api_tokens.c.created_at, api_tokens.c.id)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("execution_id", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

Index("ix_idempotency_keys_created", idempotency_keys.c.created_at)

settings = Table(
    "settings",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
)
