"""Changing bookings: who booked on a member's behalf; problems members report.

Revision ID: 0009
Revises: 0002
Create Date: 2026-12-03 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.add_column(sa.Column("booked_by", sa.String(length=64), nullable=True))
    op.create_table(
        "problemreport",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("photo", sa.LargeBinary(), nullable=True),
        sa.Column("photo_type", sa.String(length=32), nullable=True),
        sa.Column("alert_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"]),
        sa.ForeignKeyConstraint(["resource_id"], ["resource.id"]),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("problemreport", schema=None) as batch_op:
        batch_op.create_index("ix_problemreport_member", ["member_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("problemreport", schema=None) as batch_op:
        batch_op.drop_index("ix_problemreport_member")
    op.drop_table("problemreport")
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_column("booked_by")
