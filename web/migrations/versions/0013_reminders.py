"""Reminders: when a booking's member, and an event session's registrants, were reminded.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 05:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("eventsession", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("eventsession", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")
