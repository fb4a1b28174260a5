"""Cheaper claims and closes: on SQLite the store counts the runs it closes itself (the status trigger of revision
0004 goes); on both databases the heartbeat index goes and ``ix_executions_job_status_started`` holds finished rows
only.

Measured on SQLite 3.40: with any row trigger on ``UPDATE OF status`` an update of a row costs ≈ 25 µs more —
whatever the trigger does, even with a ``WHEN`` that is false — which doubled the cost of closing a run (≈ 57 µs
against ≈ 25 µs a row, in batches of 2,000). jobdeck changes a row's status in two places only, the store's closes
and its failing of runs left by a dead process: both now add their closed rows to ``execution_counts`` and
``execution_hourly_counts`` in the same transaction, once per (job, status) and (hour, status)
(``jobdeck.store._counts.SqliteCloseCounts``). Inserts and deletes keep their triggers (they fire only for rows
that are not running, which jobdeck's claims are). PostgreSQL keeps its trigger (it costs little there).

On both databases ``ix_executions_running_heartbeat`` goes: the sweep for runs of dead processes filters running
rows (``ix_executions_running``) on ``coalesce(heartbeat_at, started_at)``, which that index cannot answer, while
every claim, close and heartbeat wrote an entry in it (≈ 2–3 µs a row on SQLite, and no in-place updates of a
heartbeat on PostgreSQL).

``ix_executions_job_status_started`` (job first, so a claim's entry lands at a random place of it) becomes partial,
``status <> 'running'``: measured on SQLite, claims in batches of 1,000 cost ≈ 26 µs a row with it and ≈ 18 µs
without it. Its readers want finished rows (a job's page of one finished status, a job's average duration) and
say so with the same term; a job's running rows are in ``ix_executions_running``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUS_TRIGGER = "trg_executions_count_status"
_JOB_STATUS_COLUMNS = ["job_id", "status", "started_at", "id", "duration"]


def upgrade() -> None:
    op.drop_index("ix_executions_running_heartbeat", table_name="executions")
    op.drop_index("ix_executions_job_status_started", table_name="executions")
    finished = sa.text("status <> 'running'")
    op.create_index(
        "ix_executions_job_status_started",
        "executions",
        _JOB_STATUS_COLUMNS,
        sqlite_where=finished,
        postgresql_where=finished,
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {_STATUS_TRIGGER}")


def downgrade() -> None:
    op.drop_index("ix_executions_job_status_started", table_name="executions")
    op.create_index("ix_executions_job_status_started", "executions", _JOB_STATUS_COLUMNS)
    running = sa.text("status = 'running'")
    op.create_index(
        "ix_executions_running_heartbeat",
        "executions",
        ["heartbeat_at"],
        sqlite_where=running,
        postgresql_where=running,
    )
    if op.get_bind().dialect.name == "sqlite":
        from jobdeck.store.migrations.versions.v0004_terminal_counts import SQLITE_TRIGGERS

        op.execute(f"CREATE TRIGGER {_STATUS_TRIGGER} {SQLITE_TRIGGERS[_STATUS_TRIGGER]}")
