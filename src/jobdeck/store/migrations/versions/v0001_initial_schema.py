"""Initial schema: executions and their logs, job state and metadata, audit, users, API tokens, settings.

Revision ID: 0001
Revises:
Create Date: 2026-03-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from jobdeck.store.schema import JsonText, UtcDateTime

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNNING = sa.text("status = 'running'")
CLAIMED = sa.text("\"trigger\" IN ('schedule', 'retry')")


def upgrade() -> None:
    op.create_table(
        "jobs_state",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=True),
        sa.Column("schedule_override", sa.Text(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=True),
        sa.Column("updated_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name="pk_jobs_state"),
    )
    op.create_table(
        "job_metadata",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=True),
        sa.Column("updated_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name="pk_job_metadata"),
    )

    op.create_table(
        "executions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("job_name", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("triggered_by", sa.String(128), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("retry_of", sa.String(64), nullable=True),
        sa.Column("force", sa.Boolean(), nullable=False),
        sa.Column("scheduled_time", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("kwargs", JsonText(), nullable=True),
        sa.Column("return_value", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("progress_message", sa.Text(), nullable=True),
        sa.Column("current_item", sa.Text(), nullable=True),
        sa.Column("total_items", sa.Integer(), nullable=True),
        sa.Column("processed_items", sa.Integer(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("heartbeat_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_executions"),
    )
    op.create_index("ix_executions_started", "executions", ["started_at", "id"])
    op.create_index("ix_executions_job_started", "executions", ["job_id", "started_at", "id"])
    op.create_index("ix_executions_status_started", "executions", ["status", "started_at", "id"])
    op.create_index(
        "ix_executions_job_status_started", "executions", ["job_id", "status", "started_at", "id", "duration"]
    )
    op.create_index("ix_executions_trigger_started", "executions", ["trigger", "started_at", "id"])
    op.create_index("ix_executions_finished", "executions", ["finished_at"])
    op.create_index(
        "uq_executions_claim",
        "executions",
        ["job_id", "scheduled_time", "attempt"],
        unique=True,
        sqlite_where=CLAIMED,
        postgresql_where=CLAIMED,
    )
    op.create_index(
        "ix_executions_running", "executions", ["job_id", "started_at"], sqlite_where=RUNNING, postgresql_where=RUNNING
    )
    op.create_index(
        "ix_executions_running_heartbeat",
        "executions",
        ["heartbeat_at"],
        sqlite_where=RUNNING,
        postgresql_where=RUNNING,
    )

    op.create_table(
        "execution_logs",
        sa.Column("execution_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("execution_id", "seq", name="pk_execution_logs"),
    )

    op.create_table(
        "audit",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("timestamp", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=True),
        sa.Column("execution_id", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("details", JsonText(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_timestamp", "audit", ["timestamp", "id"])
    op.create_index("ix_audit_job_timestamp", "audit", ["job_id", "timestamp", "id"])
    op.create_index("ix_audit_action_timestamp", "audit", ["action", "timestamp", "id"])
    op.create_index("ix_audit_status_timestamp", "audit", ["status", "timestamp", "id"])

    op.create_table(
        "users",
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("username", name="pk_users"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("last_used_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_created", "api_tokens", ["created_at", "id"])

    op.create_table(
        "settings",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_settings"),
    )


def downgrade() -> None:
    tables = ("settings", "api_tokens", "users", "audit", "execution_logs", "executions", "job_metadata", "jobs_state")
    for table in tables:
        op.drop_table(table)  # a table's indexes go with it
