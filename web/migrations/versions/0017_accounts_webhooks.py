"""Accounts people open themselves (a verified address, a manager's approval where a site asks for
it, a change of address confirmed), webhooks, the managers' morning digest, the end-of-booking
warning, and alerts kept as messages each reader reads in their language.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 07:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("pending_email", sa.String(length=320), nullable=True))
    # Every account opened before sign-up existed was opened by an admin: verified and approved.
    op.execute("UPDATE member SET email_verified_at = created_at, approved_at = created_at")
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approve_members", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("digest_on", sa.Date(), nullable=True))
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.add_column(sa.Column("end_warned_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data", sa.JSON(), nullable=True))
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("payload", sa.JSON(), nullable=True))
    op.create_table(
        "webhook",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("webhook")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("payload")
        batch_op.drop_column("webhook_id")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("data")
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_column("end_warned_at")
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_column("digest_on")
        batch_op.drop_column("approve_members")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("pending_email")
        batch_op.drop_column("approved_at")
        batch_op.drop_column("email_verified_at")
