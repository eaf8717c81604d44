"""A booking's series index holds only the bookings of a series.

Most bookings belong to no series, yet each one added an entry (its NULL) to `ix_booking_series_id`:
one more index written, and one more page for the COMMIT to write, for every booking. The index now
keeps the bookings that have a series, which is all that reading a series by its id looks for
(`series_id = ?` implies `series_id IS NOT NULL`, so both databases use it as before).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_A_SERIES = sa.text("series_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_booking_series_id", table_name="booking")
    op.create_index(
        "ix_booking_series_id",
        "booking",
        ["series_id"],
        unique=False,
        sqlite_where=IN_A_SERIES,
        postgresql_where=IN_A_SERIES,
    )


def downgrade() -> None:
    op.drop_index("ix_booking_series_id", table_name="booking")
    op.create_index("ix_booking_series_id", "booking", ["series_id"], unique=False)
