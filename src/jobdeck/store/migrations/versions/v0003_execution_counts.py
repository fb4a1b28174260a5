"""Execution counts: per (job, status) counters kept by triggers, so list totals stay cheap at millions of rows.

On SQLite (one writing process) triggers on ``executions`` keep ``execution_counts`` exact on every insert, status
change and delete. On PostgreSQL the table exists for schema parity but is not maintained: several replicas claiming
at once would all queue on the same hot counter rows (and could deadlock on them), so totals there are counted from
the indexes as before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-03-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUMP = """
    INSERT INTO execution_counts (job_id, status, n) VALUES (NEW.job_id, NEW.status, 1)
    ON CONFLICT (job_id, status) DO UPDATE SET n = n + 1;
"""
_DROP = """
    UPDATE execution_counts SET n = n - 1 WHERE job_id = OLD.job_id AND status = OLD.status;
"""
SQLITE_TRIGGERS = {
    "trg_executions_count_insert": f"AFTER INSERT ON executions BEGIN {_BUMP} END",
    "trg_executions_count_delete": f"AFTER DELETE ON executions BEGIN {_DROP} END",
    "trg_executions_count_status": (
        f"AFTER UPDATE OF status ON executions WHEN OLD.status IS NOT NEW.status BEGIN {_DROP} {_BUMP} END"
    ),
}


def upgrade() -> None:
    op.create_table(
        "execution_counts",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "status", name="pk_execution_counts"),
    )
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "INSERT INTO execution_counts (job_id, status, n) "
        "SELECT job_id, status, count(*) FROM executions GROUP BY job_id, status"
    )
    for name, body in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("execution_counts")
