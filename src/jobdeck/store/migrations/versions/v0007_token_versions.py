"""Revocable access tokens: ``users.token_version``, carried by every access token (claim ``ver``), and
``revoked_tokens``, the ids (claim ``jti``) of single tokens signed out before they expire.

A password change, a role change and disabling a user add one to the version, and tokens that carry an older one
are refused from then on (``users.disabled`` exists since revision 0001; sign-in already refused it). Signing out
revokes the one token; its row can go once the token has expired anyway.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from jobdeck.store.schema import UtcDateTime

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("token_version", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name="pk_revoked_tokens"),
    )
    op.create_index("ix_revoked_tokens_username", "revoked_tokens", ["username"])


def downgrade() -> None:
    op.drop_index("ix_revoked_tokens_username", table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_version")
