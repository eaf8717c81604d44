"""Engines and sessions: SQLite (WAL, writes that begin IMMEDIATE) or PostgreSQL."""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from web import pipelining
from web.writer_queue import WriterQueue

# A read-only transaction on SQLite begins DEFERRED, so readers never wait for the write lock.
READ_ONLY = "fablab_read_only"
# Transactions that answer a card tap: on SQLite they take the write slot before any request waiting.
URGENT = "fablab_urgent"
# A write transaction on SQLite that begins only if the write slot is free now: WriteSlotBusy at once
# otherwise (a batch of bookings asked for on the event loop, web/writer.py).
NO_WAIT = "fablab_no_wait"
WRITER_WAIT_S = 30
_HOLDS_WRITER = "fablab_holds_writer"
# SQLite copies its write-ahead log back into the database file at a checkpoint. Left to itself it
# runs one inside the COMMIT that takes the log past 1,000 pages: that request then waits for the copy
# and its fsync (5–15 ms every few dozen bookings). Here a thread of the engine checkpoints every
# CHECKPOINT_S (PASSIVE: it never blocks a reader or a writer), off every request's path; a commit
# still checkpoints itself past AUTOCHECKPOINT_PAGES, a bound on the log should that thread stop.
CHECKPOINT_S = 0.5
AUTOCHECKPOINT_PAGES = 20_000

log = logging.getLogger(__name__)


class WriteSlot:
    """SQLite's one write slot, as the threads of this process take turns at it.

    Two lanes: a card tap's transaction (`urgent`) goes before every request waiting; within a lane,
    first come, first served. A tap then waits at most for the one transaction under way, which holds
    the slot only for database work (STYLE), so no burst of requests pushes a tap past its second.

    The slot passes straight from the holder to the next in line, who alone is woken: with many
    requests waiting, a hand-off costs one thread switch, not one per waiter.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[tuple[int, int, _Turn]] = []
        self._tickets = itertools.count()
        self._held = False

    def acquire(self, *, urgent: bool, timeout: float) -> bool:
        """Wait for the slot, at most `timeout` seconds; True once it is this thread's."""
        with self._lock:
            if not self._held and not self._queue:
                self._held = True
                return True
            turn = _Turn()
            entry = (0 if urgent else 1, next(self._tickets), turn)
            heapq.heappush(self._queue, entry)
        try:
            if turn.wake.acquire(timeout=max(timeout, 0)):
                return True
        except BaseException:
            if self._leave(entry):
                self.release()  # handed over just as this thread was interrupted: pass it on
            raise
        return self._leave(entry)

    def try_acquire(self) -> bool:
        """The slot if it is free and nobody waits for it (True); False at once otherwise."""
        with self._lock:
            if self._held or self._queue:
                return False
            self._held = True
            return True

    def _leave(self, entry: tuple[int, int, _Turn]) -> bool:
        """Out of the line after a timeout or an interruption; True if the slot came meanwhile."""
        with self._lock:
            if entry[2].granted:
                return True
            self._queue.remove(entry)
            heapq.heapify(self._queue)
            return False

    def release(self) -> None:
        """Hand the slot to the next in line, or free it."""
        with self._lock:
            if not self._queue:
                self._held = False
                return
            turn = heapq.heappop(self._queue)[2]
            turn.granted = True
            turn.wake.release()


class _Turn:
    """One thread's place in the line: `wake` is released when the slot is handed to it."""

    __slots__ = ("granted", "wake")

    def __init__(self) -> None:
        self.granted = False
        self.wake = threading.Lock()
        self.wake.acquire()


def make_engine(
    url: str, *, pool_size: int = 20, echo: bool = False, writer_wait_s: float = WRITER_WAIT_S
) -> Engine:
    """An engine for the URL, with the settings each database needs to keep our guarantees; on
    SQLite a writer that gets no write slot within `writer_wait_s` fails (503 on the web)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, pool_size=pool_size, echo=echo, writer_wait_s=writer_wait_s)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, echo=echo)
    _ping_when_idle(engine)
    if engine.dialect.driver == "psycopg":
        pipelining.install(engine)
    return engine


# A pooled connection is pinged before use once it has lain idle this long (the server may have
# restarted or dropped it meanwhile). One just given back is handed on as it is: SQLAlchemy's
# pre-ping would ask the server on every checkout, a round trip more per request. A connection that
# died in that second fails its request with 503 (web/errors.py) and the pool is renewed.
PING_IDLE_S = 1.0
_IDLE_SINCE = "fablab_idle_since"


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _given_back(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is not None and time.monotonic() - since < PING_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool drops this connection and checks out a fresh one (three tries).
            raise sa.exc.DisconnectionError(f"a pooled connection was gone: {exc}") from exc


def _sqlite_engine(url: str, *, pool_size: int, echo: bool, writer_wait_s: float) -> Engine:
    database = sa.engine.make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        # The driver's own transaction handling is switched off (below): we begin them ourselves.
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=pool_size,
        max_overflow=pool_size,
        echo=echo,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # pysqlite would BEGIN (DEFERRED) lazily at the first write: two writers could then both
        # read, both decide the slot is free, and one fail on upgrade. We begin explicitly instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode is durable against a process crash; only a power cut can lose the last
        # commits. FULL would fsync every commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cursor.close()

    # SQLite lets one writer in at a time. Threads of this process queue for it here, in order and
    # without delay, instead of in SQLite's busy handler, which sleeps in growing steps (up to 100 ms)
    # and so turns a queue of writers into idle time. Processes queue at the file beside the database
    # (web/writer_queue.py), and still meet at BEGIN IMMEDIATE.
    writer = WriteSlot()
    processes = WriterQueue.beside(Path(database)) if database and database != ":memory:" else None
    if processes is not None:
        event.listen(engine, "engine_disposed", lambda _engine: processes.close())

    def _no_slot() -> sa.exc.OperationalError:
        # An OperationalError the web answers with 503 and Retry-After, and the bridge retries.
        no_slot = sqlite3.OperationalError(f"database is locked: no write slot within {writer_wait_s:g} s")
        return sa.exc.OperationalError("BEGIN IMMEDIATE", None, no_slot)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        options = connection.get_execution_options()
        if options.get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
            return
        if options.get(NO_WAIT):
            if not writer.try_acquire():
                raise WriteSlotBusy()
            _begin_write(connection, lambda: processes is None or processes.try_acquire(), WriteSlotBusy)
            return
        deadline = time.monotonic() + writer_wait_s
        if not writer.acquire(urgent=bool(options.get(URGENT)), timeout=writer_wait_s):
            raise _no_slot()
        _begin_write(
            connection,
            lambda: processes is None or processes.acquire(timeout=deadline - time.monotonic()),
            _no_slot,
            wait=True,
        )

    def _begin_write(
        connection: sa.Connection,
        queued: Callable[[], bool],
        refused: Callable[[], Exception],
        *,
        wait: bool = False,
    ) -> None:
        """With this process's write slot held: its turn among the processes (`queued`), then the
        database's write lock (BEGIN IMMEDIATE: waited for if `wait`, else tried once); `refused()` is
        raised, and the slot let go, if either is not had."""
        connection.info[_HOLDS_WRITER] = True
        if not queued():
            _release(connection.info)
            raise refused()
        try:
            # Takes the database's write lock now: the whole check-then-insert is serialised.
            dbapi_connection = connection.connection.dbapi_connection
            began = _begin_immediate(dbapi_connection, wait=wait)
        except sqlite3.OperationalError as exc:
            _release(connection.info)
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        except BaseException:
            _release(connection.info)
            raise
        if not began:
            _release(connection.info)
            raise refused()

    def _release(info: dict[Any, Any]) -> None:
        if info.pop(_HOLDS_WRITER, False):
            if processes is not None:
                processes.release()
            writer.release()

    # The slot is let go once the COMMIT is done (SQLAlchemy's "commit" event comes before it runs:
    # the next writer would then find the lock still held and poll for it).
    commit = engine.dialect.do_commit

    def _commit_then_release(dbapi_connection: Any) -> None:
        commit(dbapi_connection)
        info = getattr(dbapi_connection, "info", None)  # the pool's proxy carries its record's info
        if info is not None:
            _release(info)

    engine.dialect.do_commit = _commit_then_release  # type: ignore[method-assign]

    @event.listens_for(engine, "rollback")
    def _on_rollback(connection: sa.Connection) -> None:
        # An invalidated connection has no info to read; its pool record let the slot go already.
        if not connection.invalidated:
            _release(connection.info)

    @event.listens_for(engine, "handle_error")
    def _on_error(context: sa.engine.ExceptionContext) -> None:
        # SQLite keeps a transaction open when it refuses a COMMIT (a deferred foreign key, a full
        # disk), while SQLAlchemy counts it ended and pools the connection without a rollback: with
        # the database's write lock still held. It is rolled back here, where the refusal is raised.
        if context.statement is not None or context.connection is None or context.connection.invalidated:
            return
        dbapi_connection = context.connection.connection.dbapi_connection
        if dbapi_connection is not None and getattr(dbapi_connection, "in_transaction", False):
            try:
                dbapi_connection.rollback()
            except sqlite3.Error as exc:  # the connection is no use: it is discarded instead
                log.warning("rolling back after a refused COMMIT failed: %s", exc)
                context.is_disconnect = True
                context.invalidate_pool_on_disconnect = False
        _release(context.connection.info)

    if database and database != ":memory:":
        _Checkpointer.start(engine, Path(database))

    # A connection returned or invalidated without commit or rollback must not keep the slot.
    @event.listens_for(engine.pool, "reset")
    def _on_reset(_dbapi: Any, record: Any, _state: Any) -> None:
        _release(record.info)

    @event.listens_for(engine.pool, "invalidate")
    def _on_invalidate(_dbapi: Any, record: Any, _exc: Any) -> None:
        _release(record.info)

    return engine


class _Checkpointer:
    """A daemon thread that checkpoints the engine's SQLite file every CHECKPOINT_S on a connection
    of its own, until the engine is disposed or gone."""

    def __init__(self, engine: Engine, path: Path) -> None:
        self._engine = weakref.ref(engine)
        self._path = path
        self._stop = threading.Event()

    @classmethod
    def start(cls, engine: Engine, path: Path) -> None:
        checkpointer = cls(engine, path)
        event.listen(engine, "engine_disposed", lambda _engine: checkpointer._stop.set())
        threading.Thread(target=checkpointer._run, name=f"sqlite-checkpoint {path.name}", daemon=True).start()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(CHECKPOINT_S) and self._engine() is not None:
                if not self._path.exists():
                    continue
                if connection is None:
                    connection = sqlite3.connect(self._path, isolation_level=None, timeout=0)
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # busy or gone for a moment: the next turn tries again
                    log.debug("checkpoint of %s skipped: %s", self._path, exc)
        finally:
            if connection is not None:
                connection.close()


def _begin_immediate(dbapi_connection: Any, *, wait: bool = True) -> bool:
    """BEGIN IMMEDIATE (True once begun). With `wait`, a writer of another process is waited for in
    short steps, for up to WRITER_WAIT_S; without it, False at once if another connection holds
    SQLite's write lock.

    SQLite's own busy handler sleeps 1, 2, 5 … 100 ms between tries, so a writer that waits on another
    process's writer would idle far longer than that writer holds the lock (well under a millisecond).
    Here the wait is polled every 0.1–0.5 ms.
    """
    deadline = time.monotonic() + WRITER_WAIT_S
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return True
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if not wait:
                    return False
                if time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.0001, 0.0005))
    finally:
        dbapi_connection.execute("PRAGMA busy_timeout=30000")


class WriteSlotBusy(Exception):
    """The write slot is not free now (a transaction begun with NO_WAIT)."""


def urgent(engine: Engine) -> Engine:
    """The same engine, whose transactions go first for SQLite's write slot (a card tap's)."""
    return engine.execution_options(**{URGENT: True})


def read_only(engine: Engine) -> Engine:
    """The same engine, whose transactions only read (DEFERRED on SQLite)."""
    return engine.execution_options(**{READ_ONLY: True})


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session for one unit of work that commits at the end, or rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
