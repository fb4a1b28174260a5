"""On SQLite the store counts the runs it closes itself; the status trigger of revision 0004 goes.

Measured on SQLite 3.40: with any row trigger on ``UPDATE OF status`` an update of a row costs ≈ 25 µs more —
whatever the trigger does, even with a ``WHEN`` that is false — which doubled the cost of closing a run (≈ 57 µs
against ≈ 25 µs a row, in batches of 2,000). jobdeck changes a row's status in two places only, the store's closes
and its failing of runs left by a dead process: both now add their closed rows to ``execution_counts`` and
``execution_hourly_counts`` in the same transaction, once per (job, status) and (hour, status)
(``jobdeck.store._counts.SqliteCloseCounts``). Inserts and deletes keep their triggers (they fire only for rows
that are not running, which jobdeck's claims are). PostgreSQL is unchanged (its trigger costs little there).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUS_TRIGGER = "trg_executions_count_status"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {_STATUS_TRIGGER}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        from jobdeck.store.migrations.versions.v0004_terminal_counts import SQLITE_TRIGGERS

        op.execute(f"CREATE TRIGGER {_STATUS_TRIGGER} {SQLITE_TRIGGERS[_STATUS_TRIGGER]}")
