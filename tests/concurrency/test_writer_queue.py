"""Processes writing to one SQLite file wait for each other asleep (web/writer_queue.py).

`flock` locks belong to an open file: two queues on the same path, even in one process, stand for two
processes. The last test uses a real second process.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.concurrency.test_write_slot import Holder
from web.db import NO_WAIT, WriteSlotBusy, make_engine
from web.migrate import upgrade
from web.writer_queue import WriterQueue

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def queues(tmp_path: Path) -> Iterator[tuple[WriterQueue, WriterQueue]]:
    first = WriterQueue.beside(tmp_path / "center.db")
    second = WriterQueue.beside(tmp_path / "center.db")
    assert first is not None
    assert second is not None
    yield first, second
    first.close()
    second.close()


def _acquire_in_thread(queue: WriterQueue, timeout: float) -> tuple[threading.Thread, list[float]]:
    """Start waiting for the queue in a thread; the list gets when it got its turn (empty: not got)."""
    got: list[float] = []

    def wait() -> None:
        if queue.acquire(timeout):
            got.append(time.monotonic())

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread, got


def test_one_process_at_a_time_and_the_waiter_goes_in_as_the_holder_leaves(
    queues: tuple[WriterQueue, WriterQueue],
) -> None:
    first, second = queues
    assert first.path.name == "center.db-writers"
    assert first.acquire(1.0)
    assert not second.acquire(0.2)  # held by the other "process"
    thread, got = _acquire_in_thread(second, 10.0)
    time.sleep(0.2)
    assert got == []
    left = time.monotonic()
    first.release()
    thread.join(10)
    assert len(got) == 1
    assert got[0] >= left
    assert not first.acquire(0.1)
    second.release()
    assert first.acquire(1.0)
    first.release()


def test_a_process_that_gave_up_waiting_does_not_keep_the_turn(
    queues: tuple[WriterQueue, WriterQueue],
) -> None:
    first, second = queues
    assert first.acquire(1.0)
    assert not second.acquire(0.1)  # gave up; its waiting thread still sleeps in the lock
    first.release()  # that thread gets it, and lets it go at once
    assert first.acquire(5.0)
    first.release()
    assert second.acquire(5.0)  # and the one that gave up gets in later
    second.release()


def test_a_closed_queue_lets_go_and_no_longer_waits(queues: tuple[WriterQueue, WriterQueue]) -> None:
    first, second = queues
    assert first.acquire(1.0)
    first.close()
    assert second.acquire(1.0)  # the closed file let go of its lock
    assert first.acquire(0.0)  # no longer queues: BEGIN IMMEDIATE alone decides
    first.release()
    second.release()


def test_an_engine_waits_for_another_process_and_still_answers_503_after_its_wait(tmp_path: Path) -> None:
    database = tmp_path / "center.db"
    patient = make_engine(f"sqlite:///{database}", writer_wait_s=20)
    upgrade(patient)
    impatient = make_engine(f"sqlite:///{database}", writer_wait_s=0.3)
    # Another process holds the write lock, and so its place in the queue, for a second.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time, sqlalchemy as sa
                from web.db import make_engine
                engine = make_engine({f"sqlite:///{database}"!r})
                with engine.connect() as connection, connection.begin():
                    connection.execute(sa.text("UPDATE site SET name = name"))
                    print("held", flush=True)
                    time.sleep(1.0)
                print("let go", flush=True)
                """
            ),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(sa.exc.OperationalError, match=r"no write slot within 0\.3 s"), impatient.begin():
            pass
        started = time.monotonic()
        with patient.begin() as connection:
            waited = time.monotonic() - started
            connection.execute(sa.text("UPDATE site SET name = name"))
        assert holder.wait(20) == 0
        assert holder.stdout.readline().strip() == "let go"
        assert 0.2 < waited < 15
    finally:
        holder.kill()
        holder.wait(20)
        if holder.stdout is not None:
            holder.stdout.close()
        patient.dispose()
        impatient.dispose()


def test_a_writer_that_takes_no_part_is_waited_for_as_before(tmp_path: Path) -> None:
    """The `sqlite3` shell or a backup tool holds the write lock without the queue: a writer of ours
    gets its turn in the queue at once and then waits at BEGIN IMMEDIATE until that writer is done."""
    engine = make_engine(f"sqlite:///{tmp_path / 'center.db'}", writer_wait_s=5)
    upgrade(engine)
    outsider = sqlite3.connect(tmp_path / "center.db", isolation_level=None, check_same_thread=False)
    try:
        outsider.execute("BEGIN IMMEDIATE")
        threading.Timer(0.5, lambda: outsider.execute("COMMIT")).start()
        started = time.monotonic()
        with Holder(engine):
            waited = time.monotonic() - started
        assert waited >= 0.4
    finally:
        outsider.close()
        engine.dispose()


def test_a_try_for_the_turn_answers_at_once_and_takes_no_place_in_the_queue(
    queues: tuple[WriterQueue, WriterQueue],
) -> None:
    first, second = queues
    assert first.acquire(1.0)
    started = time.monotonic()
    assert not second.try_acquire()  # another process holds it: no, at once
    assert time.monotonic() - started < 0.5
    first.release()
    assert second.try_acquire()  # nothing of the failed try stands in the way
    assert not first.try_acquire()
    second.release()
    assert first.acquire(1.0)
    first.release()


def test_a_transaction_begun_without_waiting_is_refused_at_once_while_another_writes(
    tmp_path: Path,
) -> None:
    """NO_WAIT: the write slot now or WriteSlotBusy, whoever holds it (a thread of this process,
    another process, a writer that takes no part in the queue), and the slot is not kept."""
    database = tmp_path / "center.db"
    engine = make_engine(f"sqlite:///{database}", writer_wait_s=5)
    other = make_engine(f"sqlite:///{database}", writer_wait_s=5)  # as another process
    upgrade(engine)
    outsider = sqlite3.connect(database, isolation_level=None, check_same_thread=False)

    def begin_now() -> None:
        with engine.connect() as connection, connection.execution_options(**{NO_WAIT: True}).begin():
            connection.execute(sa.text("UPDATE site SET name = name"))

    try:
        for holding in (Holder(engine), Holder(other)):
            with holding, pytest.raises(WriteSlotBusy):
                begin_now()
        outsider.execute("BEGIN IMMEDIATE")
        with pytest.raises(WriteSlotBusy):
            begin_now()
        outsider.execute("COMMIT")
        begin_now()  # free: it begins, writes and commits
        with Holder(other):  # and let go of every turn it took
            pass
        with Holder(engine):
            pass
    finally:
        outsider.close()
        engine.dispose()
        other.dispose()
