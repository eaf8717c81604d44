"""Hot statements (booking.sql): what the driver is handed and gives back is what Core would have made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking.models import Closure, LedgerEntry, LedgerKind, UTCDateTime
from booking.sql import HotStatement, among, connection_of, insert_into
from tests.factories import make_member, make_site

_closure: sa.Table = Closure.__table__  # type: ignore[attr-defined]
_ledger: sa.Table = LedgerEntry.__table__  # type: ignore[attr-defined]

START = datetime(2027, 3, 1, 2, 0, 0, 123456, tzinfo=UTC)
INSERT_CLOSURE = HotStatement(insert_into(_closure, ["site_id", "start_at", "end_at", "reason"]))
CLOSURES_OF = HotStatement(
    sa.select(_closure.c.start_at, _closure.c.end_at, _closure.c.reason)
    .where(_closure.c.site_id == sa.bindparam("site_id"))
    .order_by(_closure.c.start_at)
)
FIRST_CLOSURE = HotStatement(
    sa.select(_closure.c.reason)
    .where(_closure.c.site_id == sa.bindparam("site_id"))
    .order_by(_closure.c.start_at)
    .limit(1)
)


def _raw_start_at(session: Session, reason: str) -> Any:
    """start_at as the database holds it (SQLite: text), read past every type."""
    return (
        session.connection()
        .exec_driver_sql(
            "SELECT start_at FROM closure WHERE reason = " + ("%(r)s" if _pg(session) else ":r"),
            {"r": reason},
        )
        .scalar_one()
    )


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def test_a_row_written_hot_is_stored_as_core_stores_it(session: Session) -> None:
    site = make_site(session)
    values = {"site_id": site.id, "start_at": START, "end_at": START + timedelta(hours=2)}
    session.connection().execute(_closure.insert(), {**values, "reason": "core"})
    INSERT_CLOSURE.execute(session, {**values, "reason": "hot"})

    assert _raw_start_at(session, "hot") == _raw_start_at(session, "core")


def test_rows_come_back_through_the_columns_types(session: Session) -> None:
    site = make_site(session)
    INSERT_CLOSURE.execute(
        session,
        {"site_id": site.id, "start_at": START, "end_at": START + timedelta(hours=2), "reason": "Tết"},
    )

    assert CLOSURES_OF.rows(session, {"site_id": site.id}) == [(START, START + timedelta(hours=2), "Tết")]


def test_a_read_instant_is_aware_utc(session: Session) -> None:
    site = make_site(session)
    local = START.astimezone(ZoneInfo(site.timezone))
    INSERT_CLOSURE.execute(
        session, {"site_id": site.id, "start_at": local, "end_at": local + timedelta(hours=1), "reason": "x"}
    )

    start = CLOSURES_OF.rows(session, {"site_id": site.id})[0][0]

    assert start.utcoffset() == timedelta(0)


def test_an_enum_column_reads_back_as_its_member(session: Session) -> None:
    member = make_member(session)
    insert = HotStatement(
        insert_into(_ledger, ["member_id", "quota_group", "kind", "at", "seconds", "created_at"])
    )
    kinds = HotStatement(sa.select(_ledger.c.kind).where(_ledger.c.member_id == sa.bindparam("member_id")))
    insert.execute(
        session,
        {
            "member_id": member.id,
            "quota_group": "rooms",
            "kind": LedgerKind.runtime,
            "at": START,
            "seconds": 60,
            "created_at": START,
        },
    )

    assert kinds.scalar(session, {"member_id": member.id}) is LedgerKind.runtime


def test_a_limit_the_statement_fixes_is_bound_for_the_driver(session: Session) -> None:
    site = make_site(session)
    for hour, reason in ((3, "later"), (1, "first"), (2, "second")):
        start = START + timedelta(hours=hour)
        INSERT_CLOSURE.execute(
            session, {"site_id": site.id, "start_at": start, "end_at": start, "reason": reason}
        )

    assert FIRST_CLOSURE.rows(session, {"site_id": site.id}) == [("first",)]


def test_no_row_gives_none(session: Session) -> None:
    assert FIRST_CLOSURE.first(session, {"site_id": "nowhere"}) is None


def test_among_writes_constants_into_the_sql(session: Session) -> None:
    site = make_site(session)
    for reason in ("a", "b", "c"):
        INSERT_CLOSURE.execute(
            session, {"site_id": site.id, "start_at": START, "end_at": START, "reason": reason}
        )
    picked = HotStatement(
        sa.select(_closure.c.reason)
        .where(_closure.c.site_id == sa.bindparam("site_id"), among(_closure.c.reason, ["a", "c"]))
        .order_by(_closure.c.reason)
    )

    assert picked.rows(session, {"site_id": site.id}) == [("a",), ("c",)]


@pytest.mark.parametrize("value", ["it's", "a b", "", "x;--"])
def test_among_refuses_anything_but_a_plain_constant(value: str) -> None:
    with pytest.raises(ValueError, match="not a plain constant"):
        among(_closure.c.reason, ["ok", value])


def test_an_in_list_bound_at_each_run_is_refused(session: Session) -> None:
    statement = HotStatement(sa.select(_closure.c.id).where(_closure.c.reason.in_(["a", "b"])))

    with pytest.raises(ValueError, match="plain bound values only"):
        statement.rows(session, {})


def test_a_refused_row_raises_sqlalchemys_integrity_error(session: Session) -> None:
    with pytest.raises(sa.exc.IntegrityError) as refused:
        INSERT_CLOSURE.execute(
            session, {"site_id": "no-such-site", "start_at": START, "end_at": START, "reason": "orphan"}
        )

    assert refused.value.orig is not None


def _drop_connection(session: Session, engine: Engine) -> None:
    """End the session's database connection behind its back: a server ends it, a file's is closed."""
    if engine.dialect.name == "postgresql":
        pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        return
    dbapi_connection = session.connection().connection.dbapi_connection
    assert dbapi_connection is not None
    dbapi_connection.close()


def test_a_lost_connection_is_invalidated_and_named(fresh_engine: Engine) -> None:
    with Session(fresh_engine) as session:
        _drop_connection(session, fresh_engine)

        with pytest.raises(sa.exc.DBAPIError) as lost:
            FIRST_CLOSURE.rows(session, {"site_id": "any"})

    assert lost.value.connection_invalidated


def test_after_a_lost_connection_the_next_session_writes(fresh_engine: Engine) -> None:
    with Session(fresh_engine) as session:
        _drop_connection(session, fresh_engine)
        with pytest.raises(sa.exc.DBAPIError):
            FIRST_CLOSURE.rows(session, {"site_id": "any"})
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session)
        INSERT_CLOSURE.execute(
            session, {"site_id": site.id, "start_at": START, "end_at": START, "reason": "on"}
        )
        session.commit()
    with Session(fresh_engine) as session:
        assert FIRST_CLOSURE.rows(session, {"site_id": site.id}) == [("on",)]


@pytest.mark.parametrize(
    "instant",
    [
        START,
        datetime(2027, 3, 1, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2027, 6, 1, 0, 0, tzinfo=ZoneInfo("America/New_York")),
    ],
)
def test_an_instant_is_stored_on_sqlite_as_sqlalchemys_datetime_text(instant: datetime) -> None:
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    ours = UTCDateTime()._cached_bind_processor(dialect)
    theirs = sa.DateTime()._cached_bind_processor(dialect)
    assert ours is not None
    assert theirs is not None

    assert ours(instant) == theirs(instant.astimezone(UTC).replace(tzinfo=None))
    assert ours(instant) == instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f").rjust(26, "0")


def test_a_naive_instant_is_refused_before_it_is_stored() -> None:
    from sqlalchemy.dialects import sqlite

    process = UTCDateTime()._cached_bind_processor(sqlite.dialect())
    assert process is not None

    with pytest.raises(ValueError, match="naive datetime"):
        process(datetime(2027, 3, 1, 9, 0))  # noqa: DTZ001 - the naive instant refused


def test_an_instant_bound_again_gives_the_same_text_and_a_naive_twin_is_still_refused() -> None:
    from sqlalchemy.dialects import sqlite

    process = UTCDateTime()._cached_bind_processor(sqlite.dialect())
    other_column = UTCDateTime()._cached_bind_processor(sqlite.dialect())
    assert process is not None
    assert other_column is not None
    instant = datetime(2027, 3, 1, 2, 0, 0, 654321, tzinfo=UTC)

    first = process(instant)
    assert other_column(instant) == first == "2027-03-01 02:00:00.654321"
    assert process(instant.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))) == first
    with pytest.raises(ValueError, match="naive datetime"):
        process(instant.replace(tzinfo=None))


def test_the_two_instants_of_a_repeated_hour_keep_their_own_texts() -> None:
    from sqlalchemy.dialects import sqlite

    process = UTCDateTime()._cached_bind_processor(sqlite.dialect())
    assert process is not None
    new_york = ZoneInfo("America/New_York")
    # 2027-11-07 01:30 happens twice in New York; the two compare equal and are an hour apart.
    earlier = datetime(2027, 11, 7, 1, 30, tzinfo=new_york)
    later = earlier.replace(fold=1)

    assert process(earlier) == "2027-11-07 05:30:00.000000"
    assert process(later) == "2027-11-07 06:30:00.000000"
    assert process(earlier.astimezone(UTC)) == "2027-11-07 05:30:00.000000"
    assert process(later.astimezone(UTC)) == "2027-11-07 06:30:00.000000"


def test_the_session_connection_is_kept_for_its_transaction_only(fresh_engine: Engine) -> None:
    with Session(fresh_engine) as session:
        first = connection_of(session)
        assert connection_of(session) is first is session.connection()
        with session.begin_nested():
            assert connection_of(session) is first
        session.commit()

        after = connection_of(session)
        assert after is session.connection()
        assert session.get_transaction() is not None
        assert session.get_transaction().is_active  # type: ignore[union-attr]
        session.rollback()
        assert connection_of(session) is session.connection()
