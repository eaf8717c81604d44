"""SQLite's write slot: taps first, nothing slow while it is held, 503 with Retry-After when it cannot be
had. Real SQLite files, real threads, a real server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking.errors import Unauthenticated
from booking.members import service as members
from booking.models import ResourceKind
from tests.clock import FakeClock
from tests.conftest import NOW
from tests.factories import PASSWORD, make_member, make_resource, make_site
from tests.servers import running_server
from web.app import create_app
from web.db import WriteSlot, make_engine, read_only
from web.migrate import upgrade
from web.settings import Settings


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'slot.db'}", writer_wait_s=0.5)
    upgrade(engine)
    yield engine
    engine.dispose()


class Holder:
    """Holds the write slot (a write transaction begun) in a thread of its own until released."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._held = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self._engine.connect() as connection, connection.begin():
            connection.execute(sa.text("SELECT 1"))
            self._held.set()
            self._release.wait(30)

    def __enter__(self) -> Holder:
        self._thread.start()
        assert self._held.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._thread.join(10)


class TestWriteSlot:
    def test_a_try_for_the_slot_never_waits_and_never_goes_before_those_waiting(self) -> None:
        slot = WriteSlot()
        assert slot.acquire(urgent=False, timeout=1)
        assert not slot.try_acquire()  # held
        got, let_go = threading.Event(), threading.Event()

        def wait_in_line() -> None:
            if slot.acquire(urgent=False, timeout=10):
                got.set()
                let_go.wait(10)
                slot.release()

        waiting = threading.Thread(target=wait_in_line, daemon=True)
        waiting.start()
        while not slot._queue:  # the thread is in line
            time.sleep(0.001)
        slot.release()
        assert not slot.try_acquire()  # handed to the thread in line: a try does not go before it
        assert got.wait(10)
        let_go.set()
        waiting.join(10)
        assert slot.try_acquire()  # free and nobody waiting
        slot.release()

    def test_a_tap_goes_before_requests_that_waited_longer(self) -> None:
        slot = WriteSlot()
        assert slot.acquire(urgent=False, timeout=1)
        order: list[str] = []
        lock = threading.Lock()

        def take(name: str, is_urgent: bool) -> None:
            assert slot.acquire(urgent=is_urgent, timeout=10)
            with lock:
                order.append(name)
            slot.release()

        waiters = [threading.Thread(target=take, args=(f"request-{i}", False)) for i in range(3)]
        for waiter in waiters:
            waiter.start()
            time.sleep(0.05)  # they queue in this order
        tap = threading.Thread(target=take, args=("tap", True))
        tap.start()
        time.sleep(0.05)
        slot.release()
        for thread in [*waiters, tap]:
            thread.join(10)
        assert order == ["tap", "request-0", "request-1", "request-2"]

    def test_a_wait_that_runs_out_leaves_the_line_to_the_next(self) -> None:
        slot = WriteSlot()
        assert slot.acquire(urgent=False, timeout=1)
        assert slot.acquire(urgent=True, timeout=0.05) is False
        slot.release()
        assert slot.acquire(urgent=False, timeout=0.05) is True

    def test_two_taps_then_two_requests_each_lane_in_arrival_order(self) -> None:
        slot = WriteSlot()
        assert slot.acquire(urgent=False, timeout=1)
        order: list[str] = []
        threads = []
        for name, urgent in [("web-1", False), ("tap-1", True), ("web-2", False), ("tap-2", True)]:

            def take(name: str = name, urgent: bool = urgent) -> None:
                assert slot.acquire(urgent=urgent, timeout=10)
                order.append(name)
                slot.release()

            thread = threading.Thread(target=take)
            waiting = len(slot._queue)
            thread.start()
            while len(slot._queue) == waiting:  # in line before the next one starts
                time.sleep(0.001)
            threads.append(thread)
        assert slot._queue
        assert not order
        slot.release()
        for thread in threads:
            thread.join(10)
        assert order == ["tap-1", "tap-2", "web-1", "web-2"]
        assert slot._queue == []

    def test_sixteen_threads_each_hold_it_alone(self) -> None:
        slot = WriteSlot()
        holders = most = count = 0

        def work() -> None:
            nonlocal holders, most, count
            for _ in range(200):
                assert slot.acquire(urgent=False, timeout=10)
                holders += 1
                most = max(most, holders)
                count += 1
                time.sleep(0)  # let another thread run while this one holds the slot
                holders -= 1
                slot.release()

        threads = [threading.Thread(target=work) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert (most, count) == (1, 16 * 200)


class TestNoWriteSlot:
    def test_a_booking_that_gets_no_write_slot_is_503_with_retry_after_and_writes_nothing(
        self, sqlite_engine: Engine
    ) -> None:
        with Session(sqlite_engine, expire_on_commit=False) as session:
            site = make_site(session)
            room = make_resource(session, site, name="Phòng họp", kind=ResourceKind.room)
            member = make_member(session)
            session.commit()
        settings = Settings(
            environment="test", secret_key="x" * 40, database_url="sqlite://", scheduler_enabled=False
        )
        app = create_app(settings, engine=sqlite_engine, clock=FakeClock(NOW))
        token = app.state.tokens.issue(member.id, member.token_version)
        start = NOW + timedelta(days=1)
        with running_server(app) as base, Holder(sqlite_engine):
            response = httpx.post(
                f"{base}/api/v1/bookings",
                json={
                    "resource_id": room.id,
                    "start": start.isoformat(),
                    "end": (start + timedelta(hours=1)).isoformat(),
                },
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json() == {
            "error": "Unavailable",
            "detail": "the database is not reachable right now; try again shortly",
        }
        with sqlite_engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM booking")).scalar_one() == 0


class TestSignInHoldsNoSlot:
    def test_the_sign_in_reads_while_another_transaction_holds_the_write_slot(
        self, sqlite_engine: Engine
    ) -> None:
        with Session(sqlite_engine, expire_on_commit=False) as session:
            member = make_member(session)
            session.commit()
        reader_engine = read_only(sqlite_engine)
        with Holder(sqlite_engine), Session(reader_engine) as reader:
            # Reading what a sign-in needs takes no write slot: it does not wait for the holder.
            attempt = members.begin_sign_in(reader, member.email, NOW)
        assert attempt.member is not None
        assert attempt.member.id == member.id
        assert attempt.failures == 0

    def test_a_wrong_password_is_recorded_after_the_check(self, sqlite_engine: Engine) -> None:
        with Session(sqlite_engine, expire_on_commit=False) as session:
            member = make_member(session)
            session.commit()
        with Session(read_only(sqlite_engine)) as reader, Session(sqlite_engine) as session:
            attempt = members.begin_sign_in(reader, member.email, NOW)
            assert not session.in_transaction()  # the password is checked before any write begins
            with pytest.raises(Unauthenticated, match="the e-mail or the password is wrong"):
                members.finish_sign_in(session, attempt, False, NOW, address="203.0.113.9")
            session.commit()
        with Session(read_only(sqlite_engine)) as reader:
            assert members.begin_sign_in(reader, member.email, NOW, address="203.0.113.9").failures == 1
        with Session(sqlite_engine) as session:
            assert members.authenticate(session, session, member.email, PASSWORD, NOW).id == member.id


class TestRefusedCommit:
    def test_a_refused_commit_leaves_no_connection_in_a_transaction(self, sqlite_engine: Engine) -> None:
        """SQLite keeps a transaction open when it refuses a COMMIT (here a deferred foreign key; in
        life a full disk), while SQLAlchemy counts it ended: that connection is discarded, not pooled
        on with the transaction and the write lock still held."""
        with Session(sqlite_engine) as setup:
            site = make_site(setup)
            room = make_resource(setup, site, name="Room 1")
            setup.commit()
            room_id, site_id = room.id, site.id
        with Session(sqlite_engine) as session:
            connection = session.connection()
            connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
            connection.exec_driver_sql(
                "UPDATE resource SET site_id = 'no-such-site' WHERE id = ?", (room_id,)
            )
            with pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY"):
                session.commit()
        # Every pooled connection, and another writer, find the database free and the row unchanged.
        with sqlite_engine.connect() as connection:
            driver = connection.connection.dbapi_connection
            assert driver is not None
            assert getattr(driver, "in_transaction", None) is False
            with connection.begin():
                connection.exec_driver_sql("UPDATE resource SET name = 'Room 2' WHERE id = ?", (room_id,))
        with sqlite_engine.connect() as connection:
            row = connection.exec_driver_sql(
                "SELECT name, site_id FROM resource WHERE id = ?", (room_id,)
            ).one()
        assert tuple(row) == ("Room 2", site_id)
