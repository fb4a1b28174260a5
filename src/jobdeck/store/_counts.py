"""The counters of revisions 0004 / 0005, how a close on SQLite moves them, and the statements that read them:
list totals, the status counts of a time window, a job's duration percentiles, the running counts. Some are SQL
text, where a dialect needs it spelled out (SQLite index hints, materialized CTEs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Text, TextClause, bindparam, func, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from jobdeck.models import ExecutionQuery, ExecutionStatus
from jobdeck.store.schema import (
    FINISHED_STATUSES,
    IS_RUNNING,
    UtcDateTime,
    execution_counts,
    executions,
    from_sqlite_text,
)

__all__ = [
    "PERCENTILE_WINDOW",
    "SQLITE_CLOSED_ROWS",
    "SQLITE_COUNT_RUNNING",
    "SQLITE_COUNT_RUNNING_ELSEWHERE",
    "SQLITE_STARTED_HOUR",
    "SqliteCloseCounts",
    "average_duration",
    "counted_query",
    "counted_total",
    "duration_percentiles",
    "sqlite_closed_after",
    "status_counts_since",
]

PERCENTILE_WINDOW = 1000
_RECENT_DURATIONS = f"""SELECT duration FROM executions
    WHERE job_id = :job_id AND status IN {FINISHED_STATUSES!r} AND duration IS NOT NULL
    ORDER BY started_at DESC, id DESC LIMIT :window"""
# The newest PERCENTILE_WINDOW finished durations of a job (ix_executions_job_started covers them), sorted once,
# and of them the value at floor((n - 1) * pct / 100) and the next one, for pct 50 and 95, as (pct, n, value).
# On SQLite (PostgreSQL has percentile_cont: below). A materialized CTE is read back in the order it was written.
_PERCENTILE_NEIGHBOURS = f"""
WITH sorted AS MATERIALIZED (
    SELECT duration FROM ({_RECENT_DURATIONS}) AS recent ORDER BY duration
), last_rank AS (SELECT count(*) - 1 AS m FROM sorted)
SELECT * FROM (
    SELECT 50, (SELECT m FROM last_rank) + 1, duration FROM sorted LIMIT 2 OFFSET (SELECT m * 50 / 100 FROM last_rank)
) AS p50
UNION ALL
SELECT * FROM (
    SELECT 95, (SELECT m FROM last_rank) + 1, duration FROM sorted LIMIT 2 OFFSET (SELECT m * 95 / 100 FROM last_rank)
) AS p95
"""

# PostgreSQL interpolates the percentiles itself, over the same window: one ordered-set aggregate over the rows.
_PERCENTILES_POSTGRESQL = f"""
SELECT percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY duration) FROM ({_RECENT_DURATIONS}) AS recent
"""

_STATUS_COUNTS_SINCE = {
    dialect: f"""
SELECT status, sum(n) FROM (
    SELECT {edge_key} AS status, count(*) AS n FROM executions
    WHERE started_at >= :since AND started_at < :whole_hours_from GROUP BY 1
    UNION ALL
    SELECT status, n FROM execution_hourly_counts WHERE hour >= :first_hour
    UNION ALL
    SELECT 'running', count(*) FROM executions {running_index}
    WHERE status = 'running' AND started_at >= :whole_hours_from
) AS counts GROUP BY status
"""
    # SQLite: the "+" keeps it from walking the whole status index to get the edge's groups in order, and without
    # the hint it may prefer a range of ix_executions_started over the few running rows.
    for dialect, edge_key, running_index in (
        ("sqlite", "+status", "INDEXED BY ix_executions_running"),
        ("postgresql", "status", ""),
    )
}

SQLITE_COUNT_RUNNING = (
    "SELECT job_id, count(*) FROM executions INDEXED BY ix_executions_running WHERE status = 'running' GROUP BY job_id"
)
SQLITE_COUNT_RUNNING_ELSEWHERE = (
    "SELECT job_id, count(*) FROM executions INDEXED BY ix_executions_running"
    " WHERE status = 'running' AND NOT (host IS ? AND pid IS ?) GROUP BY job_id"
)


SQLITE_STARTED_HOUR = func.substr(executions.c.started_at, 1, 13, type_=Text())
"""A row's key in execution_hourly_counts on SQLite ('YYYY-MM-DD HH' of its stored started_at)."""
SQLITE_CLOSED_ROWS = (
    "id, job_id, "
    + str(SQLITE_STARTED_HOUR.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    + ", started_at"
)
"""What a close on SQLite reads of a running row before closing it: its id, its counter keys (job, hour) and its
start (stored text: the run time it is closed with is counted too), as SQL text for the writer's raw batches."""
_SQLITE_BUMP_JOB = (  # every close writes a duration: its rows are all timed (?3 twice)
    "INSERT INTO execution_counts (job_id, status, n, duration_sum, timed) VALUES (?1, ?2, ?3, ?4, ?3) "
    "ON CONFLICT (job_id, status) DO UPDATE "
    "SET n = n + excluded.n, duration_sum = duration_sum + excluded.duration_sum, timed = timed + excluded.timed"
)
_SQLITE_BUMP_HOUR = (
    "INSERT INTO execution_hourly_counts (hour, status, n) VALUES (?, ?, ?) "
    "ON CONFLICT (hour, status) DO UPDATE SET n = n + excluded.n"
)


class SqliteCloseCounts:
    """The counter rows the closes of one SQLite transaction move, applied once per (job, status) and (hour,
    status) by the store itself (revision 0005): on SQLite a row trigger on ``UPDATE OF status`` costs about as much
    as the update it follows (docs/performance.md). A running row has no counter rows (running rows are not
    counted), so a close only adds. PostgreSQL keeps its trigger. Writes outside jobdeck that change a row's status
    on SQLite are not counted."""

    __slots__ = ("_hours", "_jobs")

    def __init__(self) -> None:
        self._jobs: dict[tuple[str, str], tuple[int, float]] = {}
        """(job, status) → (rows, their durations' sum)."""
        self._hours: dict[tuple[str, str], int] = {}

    def add(self, job_id: str, hour: str, status: str, duration: float) -> None:
        """Count one running row (of ``job_id``, started in ``hour``) closed with ``status`` after ``duration``
        seconds."""
        n, total = self._jobs.get((job_id, status), (0, 0.0))
        self._jobs[job_id, status] = (n + 1, total + duration)
        self._hours[hour, status] = self._hours.get((hour, status), 0) + 1

    def statements(self) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """``(sql, rows)`` to execute (``executemany``, qmark style) in the closes' transaction, after them."""
        # In key order: the same order whoever closes, as the counter rows are shared.
        out: list[tuple[str, list[tuple[Any, ...]]]] = []
        if self._jobs:
            jobs = [(job_id, status, n, total) for (job_id, status), (n, total) in sorted(self._jobs.items())]
            out.append((_SQLITE_BUMP_JOB, jobs))
        if self._hours:
            out.append((_SQLITE_BUMP_HOUR, [(hour, status, n) for (hour, status), n in sorted(self._hours.items())]))
        return out


def sqlite_closed_after(started_at: str, finished_at: datetime) -> float:
    """The run time a close writes, from a running row's stored ``started_at`` text (see SQLITE_CLOSED_ROWS)."""
    return (finished_at - from_sqlite_text(started_at)).total_seconds()


def average_duration(job_id: str) -> ColumnElement[float]:
    """The average run time of the job's finished runs, from their counters (NULL when none has a duration)."""
    counters = execution_counts.c
    return (
        select(func.sum(counters.duration_sum) / func.nullif(func.sum(counters.timed), 0))
        .where(counters.job_id == job_id, counters.status.in_(FINISHED_STATUSES))
        .scalar_subquery()
    )


def counted_query(query: ExecutionQuery) -> bool:
    """Whether execution_counts (with the running rows) answers the query's total: only job / status filters."""
    return query.is_manual is None and query.since is None and query.until is None


def counted_total(query: ExecutionQuery) -> ColumnElement[int]:
    """The total of a counted query: finished rows from their counters, running rows (not counted there) from
    their partial index."""
    parts: list[ColumnElement[int]] = []
    if query.status is not ExecutionStatus.RUNNING:
        finished = select(func.coalesce(func.sum(execution_counts.c.n), 0))
        if query.job_id is not None:
            finished = finished.where(execution_counts.c.job_id == query.job_id)
        if query.status is not None:
            finished = finished.where(execution_counts.c.status == query.status.value)
        parts.append(finished.scalar_subquery())
    if query.status is None or query.status is ExecutionStatus.RUNNING:
        running = select(func.count()).select_from(executions).where(IS_RUNNING)
        if query.job_id is not None:
            running = running.where(executions.c.job_id == query.job_id)
        parts.append(running.correlate(None).scalar_subquery())
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]


async def duration_percentiles(conn: AsyncConnection, dialect: str, job_id: str) -> tuple[float | None, float | None]:
    """The 50th and 95th percentiles of the job's newest PERCENTILE_WINDOW finished durations, interpolated linearly
    between the closest ranks (as PostgreSQL's percentile_cont and numpy's default); None without durations."""
    if dialect == "postgresql":
        found = await conn.execute(text(_PERCENTILES_POSTGRESQL), {"job_id": job_id, "window": PERCENTILE_WINDOW})
        pair = found.scalar()
        return (None, None) if pair is None else (float(pair[0]), float(pair[1]))
    statement = text(_PERCENTILE_NEIGHBOURS).bindparams(job_id=job_id, window=PERCENTILE_WINDOW)
    near = [(int(pct), int(n), float(d)) for pct, n, d in await conn.execute(statement)]
    return _percentile(near, 50), _percentile(near, 95)


def _percentile(near: Sequence[tuple[int, int, float]], pct: int) -> float | None:
    """The ``pct`` percentile from the ``(pct, count, value)`` rows of _PERCENTILE_NEIGHBOURS."""
    values = [value for of, _, value in near if of == pct]
    if not values:
        return None
    position = (near[0][1] - 1) * pct / 100
    fraction = position - math.floor(position)
    return values[0] + (values[-1] - values[0]) * fraction


def status_counts_since(dialect: str, since: datetime) -> TextClause:
    """``(status, n)`` of the executions started at or after ``since``: the rows of the partial hour after it are
    counted, whole hours come from execution_hourly_counts, running rows (not in the counters) from their index."""
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    whole_hours_from = hour if hour == since else hour + timedelta(hours=1)
    return text(_STATUS_COUNTS_SINCE[dialect]).bindparams(
        bindparam("since", since, type_=UtcDateTime()),
        bindparam("whole_hours_from", whole_hours_from, type_=UtcDateTime()),
        bindparam("first_hour", whole_hours_from.strftime("%Y-%m-%d %H")),
    )
