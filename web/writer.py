"""Booking writes on SQLite, many in one transaction (group commit), run by the event loop itself.

SQLite lets one writer in at a time, across all the center's processes. A booking's transaction held
that write lock for about 1.3 ms of wall time around 0.7 ms of its own work: in each web worker the
thread that held it waited for Python's interpreter lock behind the event loop and the other request
threads, and each booking paid its own BEGIN and COMMIT. Here the bookings that reach a worker
queue their work; once this worker has the write lock (taken by a thread, so the event loop never
waits for it), the event loop runs every queued booking, each in its own savepoint and with its own
answer, in one transaction and one COMMIT, with no other thread of the process wanting the
interpreter; they share one session, emptied between them. Meanwhile the other workers read and
answer requests, and queue theirs.

A booking comes drafted (booking.bookings.service.draft: its member and resource, the rules that
read no other booking, its row and its words, made before it queued); what only the transaction can
judge (the slot free, the quotas, the resource in service, a member's trainings) is checked inside
the transaction that writes, by the same domain calls as everywhere. A booking that is refused rolls
back its own savepoint only, and the others of the batch stand. No
answer is given before the COMMIT that makes it true: if the COMMIT fails, every booking of the
batch fails with it. A batch stops taking work after BATCH_S of it (a card tap waiting for the write
slot waits for one batch at most) or BATCH_MAX bookings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from web.metrics import WRITE_BATCH_BOOKINGS, WRITE_BATCH_SECONDS

log = logging.getLogger(__name__)

BATCH_S = 0.005
BATCH_MAX = 64
T = TypeVar("T")


@dataclass(slots=True)
class _Work(Generic[T]):
    run: Callable[[Session], T]
    answer: asyncio.Future[T]
    value: Any = None
    error: BaseException | None = None


class GroupWriter:
    """One SQLite engine's queue of writes, run in batches on the event loop of this process."""

    def __init__(self, engine: sa.Engine, *, batch_s: float = BATCH_S, batch_max: int = BATCH_MAX) -> None:
        self.engine = engine
        self.batch_s, self.batch_max = batch_s, batch_max
        self._queue: deque[_Work[Any]] = deque()
        self._draining = False
        self.batches = 0  # how many transactions it committed (read by the tests)

    @property
    def waiting(self) -> int:
        """How many writes wait for the next batch."""
        return len(self._queue)

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run `work` with a session whose changes are committed with its batch; its value, or what
        it raised (after its savepoint was rolled back), once that batch's COMMIT is done."""
        answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Work(work, answer))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._batch()
        finally:
            self._draining = False

    async def _batch(self) -> None:
        try:
            # The write slot is waited for in a thread: while another process holds it, this event
            # loop answers other requests, and queues more bookings for this batch.
            connection, transaction, locked_at = await run_in_threadpool(self._begin)
        except BaseException as exc:
            waiting, self._queue = self._queue, deque()
            for work in waiting:
                _settle(work.answer, None, exc)
            if not isinstance(exc, Exception):
                raise
            return
        taken: list[_Work[Any]] = []
        session: Session | None = None
        try:
            deadline = time.perf_counter() + self.batch_s
            while self._queue and len(taken) < self.batch_max and time.perf_counter() < deadline:
                work = self._queue.popleft()
                taken.append(work)
                if session is None:
                    session = _batch_session(connection)
                if not _run_one(connection, session, work):
                    session.close()  # what the refused booking left in it goes with it
                    session = None
            transaction.commit()
            self.batches += 1
        except BaseException as exc:
            # A COMMIT that SQLite refused leaves its transaction open, while SQLAlchemy counts it as
            # ended and would hand the connection on as it is: it is closed instead (SQLite then rolls
            # the transaction back) and the pool opens a new one.
            connection.invalidate()
            log.warning("a batch of %d booking(s) was not committed: %s", len(taken), exc)
            for work in taken:
                work.error, work.value = work.error or exc, None
            if not isinstance(exc, Exception):
                raise
        finally:
            if session is not None:
                session.close()
            connection.close()
            WRITE_BATCH_SECONDS.observe(time.perf_counter() - locked_at)
            WRITE_BATCH_BOOKINGS.observe(len(taken))
            for work in taken:
                _settle(work.answer, work.value, work.error)

    def _begin(self) -> tuple[sa.Connection, sa.RootTransaction, float]:
        """A connection in a write transaction (the write lock held), and when the lock was taken."""
        connection = self.engine.connect()
        try:
            transaction = connection.begin()
            return connection, transaction, time.perf_counter()
        except BaseException:
            connection.close()
            raise


def _batch_session(connection: sa.Connection) -> Session:
    """A session for the batch's bookings, one after the other, in the batch's transaction: it joins
    that transaction and never ends it ("rollback_only": neither its flush nor its close commits or
    rolls back the batch; it is never asked to roll back)."""
    return Session(bind=connection, join_transaction_mode="rollback_only", expire_on_commit=False)


def _run_one(connection: sa.Connection, session: Session, work: _Work[Any]) -> bool:
    """One booking in its own savepoint: kept if it returns, rolled back alone if it raises (then
    False: the session is not used again).

    The savepoint is SQLite's own, set on the driver's connection: SQLAlchemy's nested transaction
    cost a quarter of a booking's work. The bookings of a batch share one session (a session of its
    own cost each booking a tenth of its time in the write lock); what one loaded leaves the session
    before the next runs (as it left the closed session before), so each reads the rows as the
    transaction holds them."""
    driver = connection.connection.dbapi_connection
    if driver is None:  # pragma: no cover - a connection in a transaction has one
        raise sa.exc.InvalidRequestError("the batch's connection is closed")
    driver.execute("SAVEPOINT booking")
    kept = True
    try:
        work.value = work.run(session)
        session.flush()
        session.expunge_all()
    except Exception as exc:
        driver.execute("ROLLBACK TO booking")
        work.error = exc
        kept = False
    driver.execute("RELEASE booking")
    return kept


def _settle(answer: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if answer.done():  # the request went away meanwhile; its booking stands or falls with the batch
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(value)
