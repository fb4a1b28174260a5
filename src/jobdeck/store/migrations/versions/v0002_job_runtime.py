"""Job runtime: timed pauses, last fire times (catch-up), pending retries, idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from jobdeck.store.schema import UtcDateTime

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs_state", sa.Column("paused_until", UtcDateTime(), nullable=True))
    op.add_column("jobs_state", sa.Column("last_fire_time", UtcDateTime(), nullable=True))
    op.add_column("executions", sa.Column("retry_at", UtcDateTime(), nullable=True))
    op.create_index("ix_executions_retry_of", "executions", ["retry_of"])
    op.create_index("ix_executions_retry_at", "executions", ["retry_at"])
    op.create_table(
        "idempotency_keys",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("execution_id", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_index("ix_executions_retry_at", table_name="executions")
    op.drop_index("ix_executions_retry_of", table_name="executions")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("retry_at")
    with op.batch_alter_table("jobs_state") as batch:
        batch.drop_column("last_fire_time")
        batch.drop_column("paused_until")
