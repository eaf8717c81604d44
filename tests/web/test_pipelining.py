"""PostgreSQL round trips (web/pipelining.py, web/db.py): what nobody waits for goes out with what
comes next, in order, and every error still reaches the code that made the transaction."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from psycopg import pq
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking import idempotency
from booking.models import Closure
from booking.schemas import BookingCreate
from booking.sql import HotStatement, insert_into
from tests.factories import make_member, make_plan, make_resource, make_site, quota
from web import db
from web.deps import _load_actor

PG = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
_closure: sa.Table = Closure.__table__  # type: ignore[attr-defined]
INSERT_CLOSURE = HotStatement(insert_into(_closure, ["site_id", "start_at", "end_at", "reason"]))
START = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)


def _closure_values(site_id: str, reason: str) -> dict[str, Any]:
    return {"site_id": site_id, "start_at": START, "end_at": START + timedelta(hours=1), "reason": reason}


def _reasons(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(_closure.c.reason).order_by(_closure.c.reason)).scalars())


@contextmanager
def _round_trips(session: Session) -> Iterator[list[str]]:
    """The session connection's round trips while the block runs: one entry per Sync or simple
    Query the client sent (each waits for the server's answer), read from libpq's own trace."""
    with _round_trips_of(session.connection()) as sent:
        yield sent


@contextmanager
def _round_trips_of(connection: sa.Connection) -> Iterator[list[str]]:
    driver = connection.connection.dbapi_connection
    assert driver is not None
    with tempfile.TemporaryFile("w+") as trace:
        driver.pgconn.trace(trace.fileno())
        driver.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        sent: list[str] = []
        try:
            yield sent
        finally:
            driver.pgconn.untrace()
        trace.seek(0)
        sent.extend(
            line.split("\t")[2].strip()
            for line in trace
            if line.startswith("F\t") and line.split("\t")[2].strip() in ("Sync", "Query")
        )


@PG
def test_a_booking_on_postgresql_takes_three_round_trips(fresh_engine: Engine) -> None:
    # BEGIN, the out-of-service check, both row locks, the conflict probe and the quota's sums; the
    # booking's INSERT; its ledger entry, notice and e-mail with the COMMIT. (Twelve before: a ping,
    # BEGIN and each statement alone.)
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session)
        room = make_resource(session, site)
        member = make_member(session, plan=make_plan(session, quota(max_hours=10)))
        session.commit()
        actor = _load_actor(session, member.id, member.token_version)
    assert actor is not None
    start = datetime(2027, 3, 2, 2, 0, tzinfo=UTC)
    data = BookingCreate(resource_id=room.id, start=start, end=start + timedelta(hours=1))
    now = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
    with Session(fresh_engine, expire_on_commit=False) as session:
        idempotency.book_idempotent(session, actor, data, now, None)  # the catalogue cache is warm
        session.rollback()
        with _round_trips(session) as sent:
            outcome = idempotency.book_idempotent(session, actor, data, now, None)
            session.commit()

    assert len(sent) == 3, sent
    with Session(fresh_engine) as session:
        rows = session.connection().exec_driver_sql(
            "SELECT (SELECT count(*) FROM booking), (SELECT count(*) FROM ledgerentry), "
            "(SELECT count(*) FROM notification), (SELECT count(*) FROM delivery)"
        )
        assert rows.one() == (1, 1, 1, 1)
    assert outcome.body["status"] == "confirmed"


@PG
def test_a_statement_sent_later_runs_before_the_next_one(fresh_engine: Engine) -> None:
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session)
        session.commit()
        with _round_trips(session) as sent:
            INSERT_CLOSURE.later(session, _closure_values(site.id, "queued"))
            seen = session.execute(sa.select(sa.func.count()).select_from(_closure)).scalar_one()
        session.commit()

    assert seen == 1  # the SELECT saw the queued row: it ran first, in the SELECT's round trip
    assert len(sent) == 1  # BEGIN, the INSERT and the SELECT
    assert _reasons(fresh_engine) == ["queued"]


@PG
def test_statements_sent_later_go_with_the_commit_in_one_round_trip(fresh_engine: Engine) -> None:
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session)
        session.commit()
        session.execute(sa.select(1))
        with _round_trips(session) as sent:
            for reason in ("a", "b", "c"):
                INSERT_CLOSURE.later(session, _closure_values(site.id, reason))
            session.commit()

    assert len(sent) == 1
    assert _reasons(fresh_engine) == ["a", "b", "c"]


_RELAY = """
import socket, sys, threading
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
client, _ = listener.accept()
server = socket.create_connection((sys.argv[1], int(sys.argv[2])))
for one in (client, server):
    one.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def back():
    while data := server.recv(1 << 20):
        client.sendall(data)
threading.Thread(target=back, daemon=True).start()
while data := client.recv(1 << 20):
    print(len(data), flush=True)
    server.sendall(data)
"""


class _Relay:
    """A TCP relay, in a process of its own, between one client and PostgreSQL: it notes each chunk
    the client's writes arrive in (a write is one chunk on loopback; two writes close together may
    arrive as one)."""

    def __init__(self, host: str, port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _RELAY, host, str(port)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.chunks: list[int] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.chunks.append(int(line))

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()


@PG
def test_a_round_trip_leaves_in_one_write_and_its_sync(fresh_engine: Engine) -> None:
    # psycopg's own execute() in a pipeline wrote each statement alone (after two polls of the
    # socket): here the BEGIN, ten INSERTs and the COMMIT leave in one write, the Sync in another.
    url = fresh_engine.url
    relay = _Relay(url.host or "127.0.0.1", url.port or 5432)
    engine = db.make_engine(url.set(port=relay.port).render_as_string(hide_password=False), pool_size=1)
    try:
        with Session(engine, expire_on_commit=False) as session:
            site = make_site(session)
            session.commit()
            for reason in "abcdefghij":
                INSERT_CLOSURE.later(session, _closure_values(site.id, reason))
            time.sleep(0.2)  # what the connection said before has passed the relay
            before = len(relay.chunks)
            session.commit()
            time.sleep(0.2)
            chunks = relay.chunks[before:]
    finally:
        engine.dispose()
        relay.close()

    assert 1 <= len(chunks) <= 2, chunks
    assert _reasons(fresh_engine) == list("abcdefghij")


CLOSURES_OF = HotStatement(
    sa.select(_closure.c.reason)
    .where(_closure.c.site_id == sa.bindparam("site_id"))
    .order_by(_closure.c.reason)
)


@PG
def test_questions_asked_together_go_out_in_one_round_trip_and_each_gets_its_rows(
    fresh_engine: Engine,
) -> None:
    with Session(fresh_engine, expire_on_commit=False) as session:
        one, two = make_site(session), make_site(session)
        INSERT_CLOSURE.execute(session, _closure_values(one.id, "one"))
        INSERT_CLOSURE.execute(session, _closure_values(two.id, "two"))
        session.commit()
        with _round_trips(session) as sent:
            first = CLOSURES_OF.ask(session, {"site_id": one.id})
            INSERT_CLOSURE.later(session, _closure_values(two.id, "three"))
            second = CLOSURES_OF.ask(session, {"site_id": two.id})
            assert second() == [("three",), ("two",)]  # read first: it sends all three
            assert first() == [("one",)]
        session.rollback()

    assert len(sent) == 1


@PG
def test_a_statement_asked_again_keeps_each_question_to_its_own_rows(fresh_engine: Engine) -> None:
    # The connection keeps a statement's cursors for its next questions: asked twice in a round
    # trip, and again with the values swapped, each question still reads its own rows.
    with Session(fresh_engine, expire_on_commit=False) as session:
        one, two = make_site(session), make_site(session)
        INSERT_CLOSURE.execute(session, _closure_values(one.id, "one"))
        INSERT_CLOSURE.execute(session, _closure_values(two.id, "two"))
        session.commit()
        answers = []
        for first_site, second_site in ((one, two), (two, one), (one, one)):
            with _round_trips(session) as sent:
                first = CLOSURES_OF.ask(session, {"site_id": first_site.id})
                second = CLOSURES_OF.ask(session, {"site_id": second_site.id})
                answers.append((first(), second()))
            assert len(sent) == 1
        driver = session.connection().connection.dbapi_connection
        session.rollback()

    assert answers == [
        ([("one",)], [("two",)]),
        ([("two",)], [("one",)]),
        ([("one",)], [("one",)]),
    ]
    assert driver is not None
    assert len(driver._read[CLOSURES_OF._for(fresh_engine.dialect).sql]) == 2  # kept, not new each time


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_on_sqlite_a_question_is_answered_at_once(session: Session) -> None:
    site = make_site(session)
    asked = CLOSURES_OF.ask(session, {"site_id": site.id})
    INSERT_CLOSURE.execute(session, _closure_values(site.id, "after"))
    assert asked() == []  # the rows as they were when it was asked


@PG
def test_a_failing_statement_sent_later_fails_the_commit_and_keeps_nothing(fresh_engine: Engine) -> None:
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session)
        session.commit()
        INSERT_CLOSURE.later(session, _closure_values(site.id, "first"))
        INSERT_CLOSURE.later(session, _closure_values("no-such-site", "orphan"))

        with pytest.raises(sa.exc.IntegrityError, match="closure_site_id_fkey"):
            session.commit()
        session.rollback()

        # The connection is sound afterwards, and the failed transaction left nothing queued.
        INSERT_CLOSURE.later(session, _closure_values(site.id, "after"))
        session.commit()

    assert _reasons(fresh_engine) == ["after"]


@PG
def test_a_failing_statement_sent_later_is_raised_by_the_next_statement(fresh_engine: Engine) -> None:
    with Session(fresh_engine) as session:
        INSERT_CLOSURE.later(session, _closure_values("no-such-site", "orphan"))
        with pytest.raises(sa.exc.IntegrityError, match="closure_site_id_fkey"):
            session.execute(sa.select(1))
        session.rollback()

    assert _reasons(fresh_engine) == []


@PG
def test_a_rollback_drops_what_was_sent_later(fresh_engine: Engine) -> None:
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session)
        session.commit()
        INSERT_CLOSURE.later(session, _closure_values(site.id, "dropped"))
        session.rollback()
        INSERT_CLOSURE.later(session, _closure_values(site.id, "kept"))
        session.commit()

    assert _reasons(fresh_engine) == ["kept"]


@PG
def test_a_row_lock_sent_later_holds_from_the_next_statement(fresh_engine: Engine) -> None:
    from booking.ledger.repository import lock_member

    with Session(fresh_engine, expire_on_commit=False) as setup:
        member = make_member(setup)
        setup.commit()
    with Session(fresh_engine) as holder, Session(fresh_engine) as other:
        lock_member(holder, member.id)
        holder.execute(sa.select(1))  # the lock goes out with this statement
        with pytest.raises(sa.exc.OperationalError, match="could not obtain lock"):
            other.connection().exec_driver_sql(
                "SELECT id FROM member WHERE id = %(id)s FOR UPDATE NOWAIT", {"id": member.id}
            )
        holder.rollback()


@PG
def test_a_transaction_begins_with_its_first_statement_at_the_isolation_level_asked(
    fresh_engine: Engine,
) -> None:
    with fresh_engine.connect() as connection:
        connection.execute(sa.select(1))
        connection.rollback()
        with _round_trips_of(connection) as sent:
            level = connection.exec_driver_sql("SHOW transaction_isolation").scalar_one()
        connection.rollback()
        assert (level, len(sent)) == ("read committed", 1)

        serial = connection.execution_options(isolation_level="SERIALIZABLE")
        assert serial.exec_driver_sql("SHOW transaction_isolation").scalar_one() == "serializable"
        # The statements after the first run in the same transaction, until it ends.
        first = serial.exec_driver_sql("SELECT pg_current_xact_id()::text").scalar()
        again = serial.exec_driver_sql("SELECT pg_current_xact_id()::text").scalar()
        serial.rollback()
        after = serial.exec_driver_sql("SELECT pg_current_xact_id()::text").scalar()
        serial.rollback()
        assert first == again != after


@PG
def test_an_autocommit_connection_runs_each_statement_on_its_own(fresh_engine: Engine) -> None:
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session)
        session.commit()
    with fresh_engine.connect() as plain:
        auto = plain.execution_options(isolation_level="AUTOCOMMIT")
        auto.execute(_closure.insert(), _closure_values(site.id, "at once"))
        assert _reasons(fresh_engine) == ["at once"]  # seen by another connection, with no COMMIT
        status = auto.connection.dbapi_connection.info.transaction_status  # type: ignore[union-attr]
        assert status == pq.TransactionStatus.IDLE


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_on_sqlite_a_statement_sent_later_runs_at_once(session: Session) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        INSERT_CLOSURE.later(session, _closure_values("no-such-site", "orphan"))


@PG
def test_a_server_side_cursor_reads_what_was_sent_later(fresh_engine: Engine) -> None:
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session)
        session.commit()
        INSERT_CLOSURE.later(session, _closure_values(site.id, "streamed"))
        streamed = session.connection().execution_options(stream_results=True)
        rows = streamed.execute(sa.select(_closure.c.reason))
        assert list(rows.scalars()) == ["streamed"]
        session.rollback()


# --- the pool's ping -----------------------------------------------------------------------------


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _terminate(engine: Engine, pid: int) -> None:
    """End a backend from a connection of its own, outside the engine's pool."""
    other = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    try:
        with other.connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    finally:
        other.dispose()


@PG
def test_a_connection_given_back_just_now_is_handed_on_without_a_ping(fresh_engine: Engine) -> None:
    with Session(fresh_engine) as session:
        session.execute(sa.select(1))
        session.commit()
        driver = session.connection().connection.dbapi_connection
        session.rollback()
    assert driver is not None
    with tempfile.TemporaryFile("w+") as trace:
        driver.pgconn.trace(trace.fileno())
        with fresh_engine.connect() as connection:  # the same pooled connection, given back just now
            assert connection.connection.dbapi_connection is driver
        driver.pgconn.untrace()
        trace.seek(0)
        assert trace.read() == ""  # nothing was sent to the server on the way


@PG
def test_a_connection_idle_past_the_limit_is_pinged_and_replaced_when_gone(
    fresh_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_IDLE_S", 0.05)
    gone = _backend_pid(fresh_engine)  # the pool keeps that connection
    _terminate(fresh_engine, gone)  # the server drops it while it lies in the pool
    time.sleep(0.1)

    # Both connections the pool holds are checked out: the dropped one is found dead and replaced.
    with fresh_engine.connect() as first, fresh_engine.connect() as second:
        pids = {int(c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()) for c in (first, second)}
    assert gone not in pids
    assert len(pids) == 2
