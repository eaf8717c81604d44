"""Quota balances from daily totals: a quota check reads a member's whole UTC days from `ledgerday`
and only the partial first and last day of its period from the ledger.

A quota check summed every movement of the member's group in the period (the week, the month): the
index holds the seconds (0019), yet a member with a thousand bookings in a week made each new booking
read a thousand index entries inside the write lock, the costliest statement of a booking. Now
`ledgerday` keeps, per member, quota group, kind and UTC day, the sum of that day's movements; the
database keeps it (triggers on `ledgerentry`, so every writer, present or future, keeps it right), and
the existing movements are summed into it here.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = "member_id, quota_group, kind, day"

# SQLite stores an instant as UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff' (booking.models.UTCDateTime):
# its day is its first ten characters, the text a DATE column holds.
_SQLITE_ADD = (
    f"INSERT INTO ledgerday ({KEYS}, seconds) "
    "VALUES (NEW.member_id, NEW.quota_group, NEW.kind, substr(NEW.at, 1, 10), NEW.seconds) "
    f"ON CONFLICT ({KEYS}) DO UPDATE SET seconds = seconds + excluded.seconds;"
)
_SQLITE_TAKE = (
    "UPDATE ledgerday SET seconds = seconds - OLD.seconds WHERE member_id = OLD.member_id "
    "AND quota_group = OLD.quota_group AND kind = OLD.kind AND day = substr(OLD.at, 1, 10);"
)
_POSTGRES_FUNCTION = f"""
CREATE FUNCTION ledger_day_total() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE ledgerday SET seconds = seconds - OLD.seconds
        WHERE member_id = OLD.member_id AND quota_group = OLD.quota_group AND kind = OLD.kind
          AND day = (OLD.at AT TIME ZONE 'UTC')::date;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO ledgerday ({KEYS}, seconds)
        VALUES (NEW.member_id, NEW.quota_group, NEW.kind, (NEW.at AT TIME ZONE 'UTC')::date, NEW.seconds)
        ON CONFLICT ({KEYS}) DO UPDATE SET seconds = ledgerday.seconds + EXCLUDED.seconds;
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "ledgerday",
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("quota_group", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("seconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "quota_group", "kind", "day"),
        sqlite_with_rowid=False,
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    day = "(at AT TIME ZONE 'UTC')::date" if postgresql else "substr(at, 1, 10)"
    op.execute(
        f"INSERT INTO ledgerday ({KEYS}, seconds) "
        f"SELECT member_id, quota_group, kind, {day}, sum(seconds) FROM ledgerentry "
        f"GROUP BY member_id, quota_group, kind, {day}"
    )
    if postgresql:
        op.execute(_POSTGRES_FUNCTION)
        op.execute(
            "CREATE TRIGGER ledger_day_total AFTER INSERT OR UPDATE OR DELETE ON ledgerentry "
            "FOR EACH ROW EXECUTE FUNCTION ledger_day_total()"
        )
        return
    op.execute(f"CREATE TRIGGER ledger_day_insert AFTER INSERT ON ledgerentry BEGIN {_SQLITE_ADD} END")
    op.execute(
        f"CREATE TRIGGER ledger_day_update AFTER UPDATE ON ledgerentry BEGIN {_SQLITE_TAKE} {_SQLITE_ADD} END"
    )
    op.execute(f"CREATE TRIGGER ledger_day_delete AFTER DELETE ON ledgerentry BEGIN {_SQLITE_TAKE} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_day_total ON ledgerentry")
        op.execute("DROP FUNCTION IF EXISTS ledger_day_total()")
    else:
        for name in ("ledger_day_insert", "ledger_day_update", "ledger_day_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("ledgerday")
