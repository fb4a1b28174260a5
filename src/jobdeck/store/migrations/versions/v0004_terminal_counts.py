"""Execution counts on PostgreSQL too, and only of finished rows: running rows are counted from their partial index.

Revision 0003 kept ``execution_counts`` on SQLite only, because every claim bumped a hot ``(job, running)`` row that
several PostgreSQL replicas claiming at once would all queue on. Counting only rows that are not running removes
that: a claim (a running row) writes no counter, a close moves its row from running (uncounted) to its final status,
so the only counter write of a run is one upsert of ``(job, final status)`` by the replica that ran it. Running rows
are few at any moment and ``ix_executions_running`` counts them cheaply, so a total is ``sum(counters)`` plus that.

On PostgreSQL two transactions that upsert the same counters in opposite orders can deadlock; the server detects it,
aborts one, and the store's writer retries that batch write by write, so nothing is lost.

``ix_executions_job_started`` gains ``status`` and ``duration`` as trailing columns so that a job's newest finished
durations (the p50 / p95 of its execution-stats) are read from the index alone.

``ix_executions_finished``, ``ix_executions_retry_of`` and ``ix_executions_retry_at`` become partial (``IS NOT NULL``):
a claim inserts a running row in which all three are NULL, and no longer writes an entry into each.

``ix_executions_started`` gains ``status`` so that PostgreSQL counts the last 24 hours by status from the index.

``execution_hourly_counts`` keeps the same counts per (hour started, status), so the last 24 hours of ``/stats`` are
24 counter rows plus the rows of one partial hour, whatever the table's size. These rows are shared by every job: on
PostgreSQL, replicas closing runs at the same moment take turns on them (row locks held until their commit).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite stores times as 'YYYY-MM-DD HH:MM:SS.ffffff': the hour is the first 13 characters.
_SQLITE_BUMP = """
    INSERT INTO execution_counts (job_id, status, n) SELECT NEW.job_id, NEW.status, 1 WHERE NEW.status != 'running'
    ON CONFLICT (job_id, status) DO UPDATE SET n = n + 1;
    INSERT INTO execution_hourly_counts (hour, status, n)
    SELECT substr(NEW.started_at, 1, 13), NEW.status, 1 WHERE NEW.status != 'running'
    ON CONFLICT (hour, status) DO UPDATE SET n = n + 1;
"""
# A running row has no counter rows to decrement, so OLD = running matches nothing.
_SQLITE_DROP = """
    UPDATE execution_counts SET n = n - 1 WHERE job_id = OLD.job_id AND status = OLD.status;
    UPDATE execution_hourly_counts SET n = n - 1 WHERE hour = substr(OLD.started_at, 1, 13) AND status = OLD.status;
"""
SQLITE_TRIGGERS = {
    "trg_executions_count_insert": f"AFTER INSERT ON executions WHEN NEW.status != 'running' BEGIN {_SQLITE_BUMP} END",
    "trg_executions_count_delete": f"AFTER DELETE ON executions WHEN OLD.status != 'running' BEGIN {_SQLITE_DROP} END",
    "trg_executions_count_status": (
        "AFTER UPDATE OF status ON executions WHEN OLD.status IS NOT NEW.status "
        f"BEGIN {_SQLITE_DROP} {_SQLITE_BUMP} END"
    ),
}

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION jobdeck_count_executions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        IF OLD.status <> 'running' THEN
            UPDATE execution_counts SET n = n - 1 WHERE job_id = OLD.job_id AND status = OLD.status;
            UPDATE execution_hourly_counts SET n = n - 1
            WHERE hour = to_char(OLD.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24') AND status = OLD.status;
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF NEW.status <> 'running' THEN
            INSERT INTO execution_counts (job_id, status, n) VALUES (NEW.job_id, NEW.status, 1)
            ON CONFLICT (job_id, status) DO UPDATE SET n = execution_counts.n + 1;
            INSERT INTO execution_hourly_counts (hour, status, n)
            VALUES (to_char(NEW.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24'), NEW.status, 1)
            ON CONFLICT (hour, status) DO UPDATE SET n = execution_hourly_counts.n + 1;
        END IF;
    END IF;
    RETURN NULL;
END
$$
"""
PG_TRIGGERS = {
    "trg_executions_count_rows": "AFTER INSERT OR DELETE ON executions FOR EACH ROW",
    "trg_executions_count_status": (
        "AFTER UPDATE OF status ON executions FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)"
    ),
}

RECOUNT = (  # also used by the benchmark after a bulk load
    "INSERT INTO execution_counts (job_id, status, n) "
    "SELECT job_id, status, count(*) FROM executions WHERE status <> 'running' GROUP BY job_id, status"
)
COUNTER_TABLES = ("execution_counts", "execution_hourly_counts")
_PG_COUNTER_STORAGE = "fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000"
_PG_COUNTER_STORAGE_NAMES = "fillfactor, autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold"
_HOUR = {
    "sqlite": "substr(started_at, 1, 13)",
    "postgresql": "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')",
}


def recount_hours(dialect: str) -> str:
    """The statement that fills execution_hourly_counts from the executions there are (also used by the bench)."""
    return (
        f"INSERT INTO execution_hourly_counts (hour, status, n) SELECT {_HOUR[dialect]}, status, count(*) "
        "FROM executions WHERE status <> 'running' GROUP BY 1, 2"
    )


# Indexes of columns that are NULL on every running row: partial, so a claim does not write them.
_NULL_WHILE_RUNNING = {
    "ix_executions_finished": "finished_at",
    "ix_executions_retry_of": "retry_of",
    "ix_executions_retry_at": "retry_at",
}


def upgrade() -> None:
    for name, column in _NULL_WHILE_RUNNING.items():
        op.drop_index(name, table_name="executions")
        op.create_index(
            name,
            "executions",
            [column],
            sqlite_where=sa.text(f"{column} IS NOT NULL"),
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )
    op.drop_index("ix_executions_started", table_name="executions")
    op.create_index("ix_executions_started", "executions", ["started_at", "id", "status"])
    op.drop_index("ix_executions_job_started", table_name="executions")
    op.create_index("ix_executions_job_started", "executions", ["job_id", "started_at", "id", "status", "duration"])
    op.create_table(
        "execution_hourly_counts",
        sa.Column("hour", sa.String(13), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "status", name="pk_execution_hourly_counts"),
    )
    op.create_index("ix_execution_counts_status", "execution_counts", ["status"])
    dialect = op.get_bind().dialect.name
    sqlite = dialect == "sqlite"
    if sqlite:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DELETE FROM execution_counts")
    op.execute(RECOUNT)
    op.execute(recount_hours(dialect))
    if sqlite:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
        return
    # Room on every page for in-place (HOT) updates, and a vacuum after every thousand dead versions rather than
    # after a fifth of the table: the counters are a few thousand rows updated on every close.
    for table in COUNTER_TABLES:
        op.execute(f"ALTER TABLE {table} SET ({_PG_COUNTER_STORAGE})")
    op.execute(PG_FUNCTION)
    for name, when in PG_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION jobdeck_count_executions()")


def downgrade() -> None:
    for name, column in _NULL_WHILE_RUNNING.items():
        op.drop_index(name, table_name="executions")
        op.create_index(name, "executions", [column])
    op.drop_index("ix_executions_started", table_name="executions")
    op.create_index("ix_executions_started", "executions", ["started_at", "id"])
    op.drop_index("ix_executions_job_started", table_name="executions")
    op.create_index("ix_executions_job_started", "executions", ["job_id", "started_at", "id"])
    # Back to revision 0003: counters of every status on SQLite, none on PostgreSQL.
    from jobdeck.store.migrations.versions.v0003_execution_counts import SQLITE_TRIGGERS as COUNTING_RUNNING

    op.drop_table("execution_hourly_counts")
    op.drop_index("ix_execution_counts_status", table_name="execution_counts")
    op.execute("DELETE FROM execution_counts")
    if op.get_bind().dialect.name != "sqlite":
        for name in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON executions")
        op.execute("DROP FUNCTION IF EXISTS jobdeck_count_executions()")
        op.execute(f"ALTER TABLE execution_counts RESET ({_PG_COUNTER_STORAGE_NAMES})")
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute(
        "INSERT INTO execution_counts (job_id, status, n) "
        "SELECT job_id, status, count(*) FROM executions GROUP BY job_id, status"
    )
    for name, body in COUNTING_RUNNING.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
