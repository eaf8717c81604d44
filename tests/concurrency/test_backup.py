"""`fablab backup` while bookings stream in, and `fablab restore`: every booking committed before the
backup began is in the copy, and the copy is whole.

Run through the real command line, against a real SQLite file and a real PostgreSQL database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking.bookings import service as bookings
from booking.models import ResourceKind
from tests.booking.helpers import ask
from tests.conftest import NOW
from tests.databases import PG_ADMIN_URL
from tests.factories import actor, make_member, make_resource, make_site

ALWAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def _fablab(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FABLAB_DATABASE_URL": url, "FABLAB_ENVIRONMENT": "test"}
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


class Stream(threading.Thread):
    """Books hour after hour on one room, committing each; remembers what was committed when."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(daemon=True)
        self.engine = engine
        self.committed: list[tuple[float, str]] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None
        with Session(engine, expire_on_commit=False) as session:
            site = make_site(session, opening_hours=ALWAYS, holiday_country="")
            self.room = make_resource(
                session, site, kind=ResourceKind.room, quota_group=None, max_minutes=60, max_days_ahead=3650
            )
            self.member = make_member(session)
            session.commit()

    def run(self) -> None:
        hour = 0
        try:
            while not self.stop.is_set():
                start = NOW + timedelta(hours=hour + 1)
                with Session(self.engine) as session:
                    request = ask(self.room.id, "2027-03-01 00:00", "2027-03-01 01:00")
                    request = request.model_copy(update={"start": start, "end": start + timedelta(hours=1)})
                    booking = bookings.book(session, actor(session, self.member), request, NOW)
                    booking_id = booking.id
                    session.commit()
                self.committed.append((time.monotonic(), booking_id))
                hour += 1
        except BaseException as exc:  # reported by the test
            self.error = exc


@contextmanager
def _empty_postgres() -> Iterator[str]:
    name = f"fablab_restore_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def _restore_target(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
    else:
        with _empty_postgres() as url:
            yield url


def test_a_backup_taken_during_a_stream_of_bookings_restores_all_that_came_before(
    fresh_engine: Engine, backend: str, tmp_path: Path
) -> None:
    url = fresh_engine.url.render_as_string(hide_password=False)
    stream = Stream(fresh_engine)
    stream.start()
    while len(stream.committed) < 20 and stream.error is None:
        time.sleep(0.01)
    began = time.monotonic()
    backed_up = _fablab(url, "backup", str(tmp_path / "center.backup"))
    while (
        len(stream.committed) < len([c for c in stream.committed if c[0] < began]) + 20
        and stream.error is None
    ):
        time.sleep(0.01)  # the stream went on during and after the backup
    stream.stop.set()
    stream.join(60)
    assert stream.error is None, repr(stream.error)
    assert backed_up.returncode == 0, backed_up.stderr
    before = {booking_id for at, booking_id in stream.committed if at < began}
    assert len(before) >= 20

    with _restore_target(backend, tmp_path) as target:
        restored = _fablab(target, "restore", str(tmp_path / "center.backup"))
        assert restored.returncode == 0, restored.stderr
        engine = sa.create_engine(target)
        try:
            with engine.connect() as connection:
                found = {row[0] for row in connection.execute(sa.text("SELECT id FROM booking"))}
                if backend == "sqlite":
                    assert connection.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
        finally:
            engine.dispose()
        assert before <= found  # every booking committed before the backup began
        assert found <= {booking_id for _, booking_id in stream.committed}  # and nothing made up
        again = _fablab(target, "restore", str(tmp_path / "center.backup"))
        assert again.returncode == 1
        assert "holds data" in again.stderr
        assert "Traceback" not in again.stderr


def test_a_backup_never_overwrites_a_file(fresh_engine: Engine, tmp_path: Path) -> None:
    existing = tmp_path / "kept.backup"
    existing.write_text("yesterday's backup")
    result = _fablab(fresh_engine.url.render_as_string(hide_password=False), "backup", str(existing))
    assert result.returncode == 1
    assert "exists already" in result.stderr
    assert existing.read_text() == "yesterday's backup"
