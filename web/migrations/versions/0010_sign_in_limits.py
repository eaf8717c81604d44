"""Sign-in limits per address: successes are recorded beside failures, looked up by address.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 02:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("loginfailure", schema=None) as batch_op:
        batch_op.add_column(sa.Column("succeeded", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index("ix_login_failure_address_at", ["address", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("loginfailure", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failure_address_at")
        batch_op.drop_column("succeeded")
