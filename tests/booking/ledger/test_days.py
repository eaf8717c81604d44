"""The ledger's daily totals (`ledgerday`, kept by the database's own triggers: migration 0021) and the
balances read from them: a period's whole UTC days from the totals, its partial first and last days
from the ledger; the same sums as the ledger's own, in every zone."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import Session

from booking.bookings import service as bookings
from booking.ledger import repository as repo
from booking.ledger import service as ledger
from booking.ledger.rules import period_bounds
from booking.models import LedgerKind, QuotaPeriod, Site
from booking.spans import Span, zone
from tests.booking.helpers import ask
from tests.conftest import NOW
from tests.databases import migrated_database
from tests.factories import actor, make_member, make_resource
from web.migrate import alembic_config, upgrade

Totals = dict[tuple[str, str, date], int]


def _daily_totals(connection: sa.Connection | Session, member_id: str) -> Totals:
    rows = connection.execute(
        sa.text("SELECT quota_group, kind, day, seconds FROM ledgerday WHERE member_id = :m"),
        {"m": member_id},
    ).all()
    return {(group, kind, _day(day)): seconds for group, kind, day, seconds in rows if seconds}


def _summed_from_the_ledger(connection: sa.Connection | Session, member_id: str) -> Totals:
    rows = connection.execute(
        sa.text("SELECT quota_group, kind, at, seconds FROM ledgerentry WHERE member_id = :m"),
        {"m": member_id},
    ).all()
    totals: defaultdict[tuple[str, str, date], int] = defaultdict(int)
    for group, kind, instant, seconds in rows:
        totals[(group, kind, _utc(instant).date())] += seconds
    return {key: seconds for key, seconds in totals.items() if seconds}


def _day(value: date | str) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite's text: naive UTC
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC)


class TestDailyTotals:
    def test_they_follow_every_movement_of_the_ledger(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        member = make_member(session)
        who = actor(session, member)
        # 07:30 in Hồ Chí Minh City is 00:30 UTC: each movement counts on the UTC day of its instant.
        early = bookings.book(session, who, ask(laser.id, "2027-03-03 07:30", "2027-03-03 08:30"), NOW)
        bookings.book(session, who, ask(laser.id, "2027-03-04 09:00", "2027-03-04 11:00"), NOW)
        ledger.charge_runtime(
            session, member_id=member.id, quota_group="laser", at=early.start_at, seconds=1200, now=NOW
        )
        session.flush()
        assert _daily_totals(session, member.id) == {
            ("laser", "booked", date(2027, 3, 3)): 3600,
            ("laser", "booked", date(2027, 3, 4)): 7200,
            ("laser", "runtime", date(2027, 3, 3)): 1200,
        }

        bookings.cancel(session, who, early.id, NOW)  # its seconds are refunded: that day's total is 0
        # The ledger is append-only, yet a row changed or removed by hand keeps its day's total right.
        session.execute(
            sa.text("UPDATE ledgerentry SET at = :at WHERE member_id = :m AND kind = 'runtime'"),
            {"at": _stored(session, datetime(2027, 3, 5, 12, tzinfo=UTC)), "m": member.id},
        )
        session.execute(
            sa.text("DELETE FROM ledgerentry WHERE member_id = :m AND seconds = 7200"), {"m": member.id}
        )
        session.flush()
        assert _daily_totals(session, member.id) == {("laser", "runtime", date(2027, 3, 5)): 1200}
        assert _daily_totals(session, member.id) == _summed_from_the_ledger(session, member.id)


def _stored(session: Session, instant: datetime) -> datetime | str:
    """An instant as the `at` column stores it (SQLite: naive UTC text)."""
    if session.get_bind().dialect.name == "sqlite":
        return instant.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return instant


ZONES = ["Asia/Ho_Chi_Minh", "America/New_York", "Asia/Kolkata"]


class TestBalances:
    @pytest.mark.parametrize("zone_name", ZONES)
    def test_a_period_counts_exactly_its_own_movements_at_every_edge(
        self, session: Session, zone_name: str
    ) -> None:
        """Movements one microsecond either side of each period's edges and of each UTC midnight inside
        it: a day, a week and a month, asked together, each count exactly those within [start, end)."""
        tz = zone(zone_name)
        member = make_member(session)
        instant = datetime(2027, 3, 17, 15, tzinfo=UTC)
        periods = [period_bounds(instant, period, tz) for period in QuotaPeriod]
        moments: set[datetime] = set()
        for span in periods:
            for edge in [span.start, span.end, *_utc_midnights(span)]:
                moments.update({edge - timedelta(microseconds=1), edge, edge + timedelta(hours=1)})
        moments.add(instant)
        kept: list[tuple[LedgerKind, datetime, int]] = []
        for n, moment in enumerate(sorted(moments)):
            kind = LedgerKind.booked if n % 3 else LedgerKind.runtime
            seconds = 1 + n * 7
            repo.insert_entry(
                session,
                member_id=member.id,
                quota_group="laser",
                kind=kind,
                at=moment,
                seconds=seconds,
                now=NOW,
            )
            kept.append((kind, moment, seconds))

        usages = repo.ask_usage(
            session,
            member.id,
            "laser",
            periods,
            NOW,
            count_bookings=False,
            count_future=False,
            with_runtime=True,
        )()

        for span, usage in zip(periods, usages, strict=True):
            inside = [(kind, seconds) for kind, moment, seconds in kept if span.start <= moment < span.end]
            booked = sum(seconds for kind, seconds in inside if kind is LedgerKind.booked)
            runtime = sum(seconds for kind, seconds in inside if kind is LedgerKind.runtime)
            assert (usage.booked_seconds, usage.runtime_seconds) == (booked, runtime), span
            assert booked  # the check counted something of each kind
            assert runtime

    def test_a_period_shorter_than_a_utc_day_is_read_from_the_ledger_alone(self, session: Session) -> None:
        member = make_member(session)
        # A local day in Hồ Chí Minh City runs from 17:00 to 17:00 UTC: no whole UTC day inside.
        day = period_bounds(datetime(2027, 3, 17, 3, tzinfo=UTC), QuotaPeriod.day, zone("Asia/Ho_Chi_Minh"))
        assert repo.whole_days(day)[0] == repo.whole_days(day)[1]
        for hour, seconds in ((16, 1), (17, 10), (23, 100), (40, 1000), (41, 10000)):
            moment = datetime(2027, 3, 16, tzinfo=UTC) + timedelta(hours=hour)
            repo.insert_entry(
                session,
                member_id=member.id,
                quota_group="laser",
                kind=LedgerKind.booked,
                at=moment,
                seconds=seconds,
                now=NOW,
            )
        usage = repo.ask_usage(
            session, member.id, "laser", [day], NOW, count_bookings=False, count_future=False
        )()
        assert usage[0].booked_seconds == 1110


def _utc_midnights(span: Span) -> list[datetime]:
    first = datetime.combine(span.start.astimezone(UTC).date(), datetime.min.time(), UTC)
    return [
        first + timedelta(days=d) for d in range(40) if span.start <= first + timedelta(days=d) < span.end
    ]


def test_the_migration_sums_the_ledger_that_was_there(backend: str, tmp_path: Path) -> None:
    with migrated_database(backend, tmp_path) as engine:
        with Session(engine, expire_on_commit=False) as session:
            member = make_member(session)
            session.commit()
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0020")
        with Session(engine) as session:  # written before the daily totals existed
            for hours, kind, seconds in (
                (1, LedgerKind.booked, 3600),
                (5, LedgerKind.booked, -600),
                (30, LedgerKind.runtime, 90),
            ):
                repo.insert_entry(
                    session,
                    member_id=member.id,
                    quota_group="laser",
                    kind=kind,
                    at=datetime(2027, 3, 1, tzinfo=UTC) + timedelta(hours=hours),
                    seconds=seconds,
                    now=NOW,
                )
            session.commit()
        upgrade(engine)
        with engine.connect() as connection:
            assert _daily_totals(connection, member.id) == {
                ("laser", "booked", date(2027, 3, 1)): 3000,
                ("laser", "runtime", date(2027, 3, 2)): 90,
            }
            assert _daily_totals(connection, member.id) == _summed_from_the_ledger(connection, member.id)
