"""Run-time sums in the counters: a job's average run time from its few counter rows, not a scan of its runs.

``execution_counts`` gains ``duration_sum`` (seconds) and ``timed`` (rows with a duration) per (job, status), kept
with ``n`` by the same writers: the insert / delete triggers on both databases, PostgreSQL's status trigger, and on
SQLite the store's own close counting (``jobdeck.store._counts.SqliteCloseCounts``). The average run time of a job's
execution-stats read every finished row of the job in an index (a job firing every second keeps ≈ 7.8 million in
the default 90 days: seconds per read); it is now ``sum(duration_sum) / sum(timed)`` over the job's finished
statuses. Sums of floating-point durations added and subtracted drift by a few units in the last place, far below
the microseconds a duration is stored with.

Existing rows are summed once here, from ``ix_executions_job_status_started`` (which holds the duration).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from jobdeck.store.migrations.versions import v0004_terminal_counts as v0004

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As revision 0004's, with the duration: a row's duration (NULL: not timed) moves its counter row's sums.
_SQLITE_BUMP = """
    INSERT INTO execution_counts (job_id, status, n, duration_sum, timed)
    SELECT NEW.job_id, NEW.status, 1, coalesce(NEW.duration, 0), NEW.duration IS NOT NULL WHERE NEW.status != 'running'
    ON CONFLICT (job_id, status) DO UPDATE
    SET n = n + 1, duration_sum = duration_sum + excluded.duration_sum, timed = timed + excluded.timed;
    INSERT INTO execution_hourly_counts (hour, status, n)
    SELECT substr(NEW.started_at, 1, 13), NEW.status, 1 WHERE NEW.status != 'running'
    ON CONFLICT (hour, status) DO UPDATE SET n = n + 1;
"""
_SQLITE_DROP = """
    UPDATE execution_counts
    SET n = n - 1, duration_sum = duration_sum - coalesce(OLD.duration, 0), timed = timed - (OLD.duration IS NOT NULL)
    WHERE job_id = OLD.job_id AND status = OLD.status;
    UPDATE execution_hourly_counts SET n = n - 1 WHERE hour = substr(OLD.started_at, 1, 13) AND status = OLD.status;
"""
_SQLITE_TRIGGERS = {
    "trg_executions_count_insert": f"AFTER INSERT ON executions WHEN NEW.status != 'running' BEGIN {_SQLITE_BUMP} END",
    "trg_executions_count_delete": f"AFTER DELETE ON executions WHEN OLD.status != 'running' BEGIN {_SQLITE_DROP} END",
}

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION jobdeck_count_executions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        IF OLD.status <> 'running' THEN
            UPDATE execution_counts SET n = n - 1, duration_sum = duration_sum - coalesce(OLD.duration, 0),
                timed = timed - (OLD.duration IS NOT NULL)::int
            WHERE job_id = OLD.job_id AND status = OLD.status;
            UPDATE execution_hourly_counts SET n = n - 1
            WHERE hour = to_char(OLD.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24') AND status = OLD.status;
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF NEW.status <> 'running' THEN
            INSERT INTO execution_counts (job_id, status, n, duration_sum, timed)
            VALUES (NEW.job_id, NEW.status, 1, coalesce(NEW.duration, 0), (NEW.duration IS NOT NULL)::int)
            ON CONFLICT (job_id, status) DO UPDATE SET n = execution_counts.n + 1,
                duration_sum = execution_counts.duration_sum + excluded.duration_sum,
                timed = execution_counts.timed + excluded.timed;
            INSERT INTO execution_hourly_counts (hour, status, n)
            VALUES (to_char(NEW.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24'), NEW.status, 1)
            ON CONFLICT (hour, status) DO UPDATE SET n = execution_hourly_counts.n + 1;
        END IF;
    END IF;
    RETURN NULL;
END
$$
"""

RESUM = """
UPDATE execution_counts SET duration_sum = summed.duration_sum, timed = summed.timed
FROM (
    SELECT job_id, status, coalesce(sum(duration), 0) AS duration_sum, count(duration) AS timed FROM executions
    WHERE status <> 'running' GROUP BY job_id, status
) AS summed
WHERE summed.job_id = execution_counts.job_id AND summed.status = execution_counts.status
"""
"""Sets the sums of the counter rows (0 as created) from the executions there are, in one grouped pass over them
(also used by the benchmark after a bulk load)."""

_COLUMNS = ("duration_sum", "timed")


def upgrade() -> None:
    op.add_column("execution_counts", sa.Column("duration_sum", sa.Float(), nullable=False, server_default="0"))
    op.add_column("execution_counts", sa.Column("timed", sa.Integer(), nullable=False, server_default="0"))
    op.execute(RESUM)
    if op.get_bind().dialect.name == "sqlite":
        for name, body in _SQLITE_TRIGGERS.items():
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
            op.execute(f"CREATE TRIGGER {name} {body}")
    else:
        op.execute(_PG_FUNCTION)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:  # before the table is rebuilt without the columns: the triggers name it
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        op.execute(v0004.PG_FUNCTION)
    with op.batch_alter_table("execution_counts") as batch:
        for column in _COLUMNS:
            batch.drop_column(column)
    if sqlite:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"CREATE TRIGGER {name} {v0004.SQLITE_TRIGGERS[name]}")
