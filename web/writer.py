"""Booking writes, many in one transaction: on SQLite (GroupWriter, group commit, run by the event
loop itself) and on PostgreSQL (PipelinedWriter, their round trips shared; see there).

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

import psycopg
import sqlalchemy as sa
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import make_transient
from sqlmodel import Session

from booking.sql import ALL_OR_NOTHING, ROWS_STAY_DETACHED, Pause, Steps, finish
from web.db import NO_WAIT, WriteSlotBusy
from web.metrics import WRITE_BATCH_BOOKINGS, WRITE_BATCH_SECONDS

log = logging.getLogger(__name__)

BATCH_S = 0.005
BATCH_MAX = 64
T = TypeVar("T")
# What a booking's write locks (booking.engine.service.Claim): its member's id and its resource's;
# two writes that share one are not stepped together (PipelinedWriter).
Claim = tuple[str, str]


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

    async def run_steps(self, steps: Callable[[Session], Steps[T]], claim: Claim) -> T:
        """`run` for a write in steps (booking.sql.Steps), run straight through: SQLite has one
        writer at a time and no round trips to share. `claim` is for PipelinedWriter."""
        return await self.run(lambda session: finish(steps(session)))

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._batch()
        finally:
            self._draining = False

    async def _batch(self) -> None:
        try:
            # Taken here if it is free now (no thread to wake and wait for); else waited for in a
            # thread: while another process holds it, this event loop answers other requests, and
            # queues more bookings for this batch.
            began = self._begin_now()
            if began is None:
                began = await run_in_threadpool(self._begin)
            connection, transaction, locked_at = began
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

    def _begin(self, **options: Any) -> tuple[sa.Connection, sa.RootTransaction, float]:
        """A connection in a write transaction (the write lock held), and when the lock was taken."""
        connection = self.engine.connect()
        try:
            transaction = connection.execution_options(**options).begin()
            return connection, transaction, time.perf_counter()
        except BaseException:
            connection.close()
            raise

    def _begin_now(self) -> tuple[sa.Connection, sa.RootTransaction, float] | None:
        """`_begin` if the write slot is free now; None at once if it is not."""
        try:
            return self._begin(**{NO_WAIT: True})
        except WriteSlotBusy:
            return None


def _batch_session(connection: sa.Connection) -> Session:
    """A session for the batch's bookings, one after the other, in the batch's transaction: it joins
    that transaction and never ends it ("rollback_only": neither its flush nor its close commits or
    rolls back the batch; it is never asked to roll back)."""
    session = Session(bind=connection, join_transaction_mode="rollback_only", expire_on_commit=False)
    # The bookings it writes are only read (their answers), never changed in it again: joining each
    # to the session would be undone at once (SQLite empties it after each booking, `_run_one`) or
    # only make the batch's final flush look them over (PostgreSQL).
    session.info[ROWS_STAY_DETACHED] = True
    return session


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


class PipelinedWriter:
    """Booking writes on PostgreSQL, many in one transaction and a few round trips, in a thread of
    the worker (a statement may wait for a row lock that only this event loop's requests can free).

    Each booking waited for three round trips of its own (its questions, its INSERT, its COMMIT),
    and on a small machine a round trip lasts as long as the server takes to be given a core: two
    workers spent two thirds of their time waiting, the rest of it on the round trips' own CPU. Here
    the bookings that reach a worker while its previous batch runs are written together: the batch
    locks their members and resources (all of them, in one order: booking.engine.service.lock_claims,
    so batches of different workers cannot deadlock), then steps them together (booking.sql.Steps):
    every booking asks its questions, and all of them go out in one round trip; every booking judges
    its answers and queues its INSERT, its ledger entry, its notice and its e-mail, and all of those
    go out with the COMMIT: a batch is two round trips, whatever its size. Two bookings of one member
    or one resource are not asked together (the second would not see the first's row): the second
    waits for the first to be written, in the same transaction.

    A booking refused before it writes (a rule, a taken slot, a quota) is answered alone, and the
    others stand: it wrote nothing, and its locks go with the COMMIT. The batch is written whole or
    not at all (booking.sql.all_or_nothing): a row the database refuses (a check-in code drawn
    twice, a member deleted meanwhile) fails its transaction, and so does a refusal after a booking
    wrote; the batch is then rolled back, and each of its bookings written alone, in a transaction of
    its own, as it would have been without this writer, where a refusal of its row is read and
    answered. No answer is given before the COMMIT that makes it true; a COMMIT whose outcome is
    unknown (the connection lost on the way) fails the batch's bookings, and none is written again.
    """

    def __init__(
        self,
        engine: sa.Engine,
        lock: Callable[[Session, list[Claim]], None],
        *,
        batch_max: int = BATCH_MAX,
    ) -> None:
        self.engine = engine
        self.lock = lock
        self.batch_max = batch_max
        self._queue: deque[_Steps[Any]] = deque()
        self._draining = False
        self._running: set[asyncio.Task[None]] = set()  # batches not yet answered
        self.batches = 0  # how many transactions it committed (read by the tests)
        self.alone = 0  # how many bookings it wrote alone after a batch was rolled back (the tests)

    async def run_steps(self, steps: Callable[[Session], Steps[T]], claim: Claim) -> T:
        """Write with the next batch: `steps` is the write in steps, `claim` what it locks. Its value,
        or what it raised, once its batch's COMMIT is done."""
        answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Steps(steps, claim, answer))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        try:
            while self._queue:
                # The next batch begins once this one has sent its COMMIT: its statements go out
                # while the server makes this one durable (a booking of the same member or resource
                # waits for that COMMIT at its lock).
                committing = asyncio.Event()
                batch = asyncio.get_running_loop().create_task(self._batch(committing))
                self._running.add(batch)
                batch.add_done_callback(self._running.discard)
                await committing.wait()
        finally:
            self._draining = False

    async def _batch(self, committing: asyncio.Event) -> None:
        taken = [self._queue.popleft() for _ in range(min(len(self._queue), self.batch_max))]
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            # In a thread, not on the event loop: a statement may wait for a row lock held by a
            # transaction that only the event loop can end (a request's session, closed there).
            together = await run_in_threadpool(
                self._together, taken, lambda: loop.call_soon_threadsafe(committing.set)
            )
        except BaseException as exc:  # the COMMIT failed: whether it took is unknown, nothing is redone
            log.warning("a batch of %d booking(s) was not committed: %s", len(taken), exc)
            for work in taken:
                work.error, work.value = work.error or exc, None
            if not isinstance(exc, Exception):
                raise
            together = True
        finally:
            committing.set()
            WRITE_BATCH_SECONDS.observe(time.perf_counter() - started)
            WRITE_BATCH_BOOKINGS.observe(len(taken))
        if not together:
            for work in taken:
                work.error = work.value = None
                await run_in_threadpool(self._alone, work)
                self.alone += 1
        for work in taken:
            _settle(work.answer, work.value, work.error)

    def _together(self, taken: list[_Steps[Any]], committing: Callable[[], object]) -> bool:
        """Write the batch in one transaction (`committing` called as its COMMIT goes out); False if
        it was rolled back (or never began), to be written again one booking at a time. Raises only
        what its COMMIT raised."""
        try:
            connection = self.engine.connect()
        except Exception as exc:
            log.info("a batch of %d booking(s) is written one at a time: %r", len(taken), exc)
            return False
        try:
            transaction = connection.begin()
            session = _batch_session(connection)
            session.info[ALL_OR_NOTHING] = True
            try:
                self.lock(session, [work.claim for work in taken])
                failure = connection.dialect.loaded_dbapi.Error
                for wave in _waves(taken):
                    _step_together(session, wave, failure)
                session.flush()
            except Exception as exc:
                log.info("a batch of %d booking(s) is written again one at a time: %r", len(taken), exc)
                _forget(session)
                session.close()
                try:
                    transaction.rollback()
                except Exception:  # the connection is lost: the pool opens another one
                    connection.invalidate()
                return False
            session.close()
            committing()
            try:
                transaction.commit()
            except Exception as exc:
                if not _refused(connection):
                    connection.invalidate()
                    raise
                # A statement that went out with the COMMIT was refused: the server ended the
                # transaction without it (the connection goes back rolled back).
                log.info("a batch of %d booking(s) is written again one at a time: %r", len(taken), exc)
                _forget(session)
                return False
            except BaseException:
                connection.invalidate()
                raise
            self.batches += 1
            return True
        finally:
            connection.close()

    def _alone(self, work: _Steps[Any]) -> None:
        """Write one booking in a transaction of its own (after its batch was rolled back)."""
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                work.value = finish(work.steps(session))
                session.commit()
        except Exception as exc:
            work.error, work.value = exc, None


@dataclass(slots=True)
class _Steps(Generic[T]):
    steps: Callable[[Session], Steps[T]]
    claim: Claim
    answer: asyncio.Future[T]
    value: Any = None
    error: BaseException | None = None
    running: Steps[T] | None = None
    pause: Pause | None = None  # where it stands


class _Undo(Exception):
    """A booking of the batch refused after it wrote: the batch is rolled back."""


def _waves(taken: list[_Steps[Any]]) -> list[list[_Steps[Any]]]:
    """The batch in waves stepped one after another: a write goes in the wave after the last one
    holding a write that shares a member or a resource with it (so it reads that write's rows, and
    the writes of one claim keep their order)."""
    waves: list[list[_Steps[Any]]] = []
    last: dict[tuple[int, str], int] = {}
    for work in taken:
        keys = list(enumerate(work.claim))
        index = max((last[key] + 1 for key in keys if key in last), default=0)
        if index == len(waves):
            waves.append([])
        waves[index].append(work)
        for key in keys:
            last[key] = index
    return waves


def _step_together(session: Session, wave: list[_Steps[Any]], failure: type[Exception]) -> None:
    """Step the wave's writes together: each to its next pause, and again, until every one has
    returned or been refused. What they queue goes out when the first of them reads an answer: all
    the wave's questions in one round trip; what they write, with the next wave's or the COMMIT."""
    for work in wave:
        work.running = work.steps(session)
    going = [work for work in wave if _step(work, failure)]
    while going:
        going = [work for work in going if _step(work, failure)]


def _step(work: _Steps[Any], failure: type[Exception]) -> bool:
    """Take the write to its next pause (True), or to its end, its value or its refusal kept (False);
    raises _Undo for a refusal after it wrote, and what the database raised (`failure`: the driver's
    errors; the transaction is then over)."""
    assert work.running is not None
    try:
        work.pause = next(work.running)
        return True
    except StopIteration as done:
        work.value = done.value
    except (sa.exc.SQLAlchemyError, failure):
        raise
    except Exception as exc:
        if work.pause is Pause.WRITING:
            raise _Undo(f"a booking refused after it wrote: {exc!r}") from exc
        work.error = exc
    return False


def _refused(connection: sa.Connection) -> bool:
    """Whether the server refused a statement of the transaction and says so: it is still talking
    to us, and the transaction is a failed one, which it will not commit. (Not a COMMIT whose answer
    never came: that one may have been made durable.)"""
    driver = connection.connection.dbapi_connection
    info = getattr(driver, "info", None)
    if info is None or getattr(driver, "closed", True):
        return False
    return bool(info.status == psycopg.pq.ConnStatus.OK and info.transaction_status == _FAILED)


_FAILED = psycopg.pq.TransactionStatus.INERROR


def _forget(session: Session) -> None:
    """Make what the rolled-back session holds new again (its rows were not written), for the
    bookings' writes to be run once more in other sessions."""
    for instance in [*session.identity_map.values(), *session.new]:
        make_transient(instance)
