"""PostgreSQL connections that send what nobody waits for in the round trip of what comes next.

A booking on PostgreSQL took twelve round trips to the server, and on a small machine each one costs
CPU on both sides (the driver's Python, the server's backend, the kernel twice) beside its latency.
Several carried nothing the transaction waited for:
- the BEGIN psycopg sends alone before a transaction's first statement: the connection now begins
  its transactions itself, and the BEGIN goes out with that first statement (psycopg's pipeline
  mode); so does every transaction's, a read's too;
- the member's and the resource's row locks, and the rows written once the booking's own INSERT
  succeeded (its ledger entry, the member's notice, the e-mail in the outbox): nobody reads what
  these statements return, so they are queued with `HotStatement.later` and go out, in order, with
  the transaction's next statement or with its COMMIT, in one round trip.
- the questions a booking asks before it decides (is the resource out of service, what holds the
  slot, what the member holds of the quota): each is asked with `HotStatement.ask`, queued like the
  rest, and all go out together when the first answer is read; the rules judge the answers in their
  order as before.
(The pool's ping before every checkout is gone too: see web/db.py.) A booking is now three round
trips: BEGIN, the out-of-service check, both locks, the conflict probe and the quota's sums; the
booking's INSERT; its ledger entry, notice and e-mail with the COMMIT.

The order of statements on the server is the order the code gave them, and every one runs inside
the same transaction as before. What changes is where an error shows: a queued statement that fails
fails the round trip it went out with, and its error (SQLAlchemy wraps it as always) is raised by
that statement or that COMMIT; the transaction is then rolled back, as after any error. A queued
statement is dropped by a ROLLBACK, as it would have been undone by it.
"""

from __future__ import annotations

from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import event

# Each queued statement, its parameters, and the cursor that keeps its rows (None: nobody reads them).
Waiting = list[tuple[str | bytes, Any, psycopg.Cursor[Any] | None]]


class PipelinedCursor(psycopg.Cursor[Any]):
    """A cursor whose statement takes along what the connection queued, and a transaction's BEGIN."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> PipelinedCursor:
        connection = self.connection
        if isinstance(connection, PipelinedConnection) and (waiting := connection.take_waiting()):
            _send(connection, [*waiting, (query, params, self)], prepare=prepare, binary=binary)
        else:
            super().execute(query, params, prepare=prepare, binary=binary)
        return self

    def executemany(self, query: Any, params_seq: Any, *, returning: bool = False) -> None:
        connection = self.connection
        if isinstance(connection, PipelinedConnection):
            connection.send_waiting()
        super().executemany(query, params_seq, returning=returning)


class PipelinedConnection(psycopg.Connection[Any]):
    """A psycopg connection that holds statements queued with `later` until the next one, or the
    COMMIT, and sends them in its round trip; and that sends a transaction's BEGIN with its first
    statement.

    psycopg sends BEGIN alone, and waits for its answer, even in pipeline mode. So the connection
    runs in psycopg's autocommit mode, where psycopg never begins, and begins transactions itself:
    `autocommit` is what the caller (SQLAlchemy) asked for, and unless it is on, the first statement
    after a COMMIT or ROLLBACK is preceded by a BEGIN (with the isolation level, read-only and
    deferrable settings, as psycopg would write it) in its round trip.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting: Waiting = []
        self._asked: set[int] = set()  # the ids of the asked cursors in `_waiting`
        # Cursors kept per statement: a cursor keeps its statement's adapters (a new one looks up
        # how to send each value again, and took twice as long to send it). One per statement for
        # what nobody reads; for the asked, those whose rows were read (`give_back`).
        self._unread: dict[str | bytes, psycopg.Cursor[Any]] = {}
        self._read: dict[str | bytes, list[psycopg.Cursor[Any]]] = {}
        self._wants_autocommit = False
        self._begun = False  # our BEGIN is queued or sent, and no COMMIT or ROLLBACK has ended it

    @property
    def autocommit(self) -> bool:
        return self._wants_autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self.set_autocommit(value)

    def set_autocommit(self, value: bool) -> None:
        if self._begun:
            raise psycopg.ProgrammingError("can't change autocommit now: a transaction is open")
        self._wants_autocommit = bool(value)

    def later(self, query: str, params: Any) -> None:
        """Queue a statement whose rows nobody reads, to go out before the next one."""
        self._begin()
        self._waiting.append((query, params, None))

    def ask(self, query: str, params: Any) -> psycopg.Cursor[Any]:
        """Queue a statement to go out before the next one; the cursor returned holds its rows once
        it went out (`send_waiting` sends it at once)."""
        self._begin()
        kept = self._read.get(query)
        cursor = kept.pop() if kept else psycopg.Cursor(self)
        self._waiting.append((query, params, cursor))
        self._asked.add(id(cursor))
        return cursor

    def send_for(self, cursor: psycopg.Cursor[Any]) -> None:
        """Send what is queued if the asked `cursor` is among it (its rows are then read): a question
        already sent with other writes' (web/writer.py) costs no round trip to read."""
        if id(cursor) in self._asked:
            self.send_waiting()

    def give_back(self, query: str | bytes, cursor: psycopg.Cursor[Any]) -> None:
        """Keep the asked `cursor`, its rows read, for the statement's next question."""
        if not self.closed:
            self._read.setdefault(query, []).append(cursor)

    def unread_cursor(self, query: str | bytes) -> psycopg.Cursor[Any]:
        """The cursor for the statement's runs whose rows nobody reads."""
        cursor = self._unread.get(query)
        if cursor is None:
            cursor = self._unread[query] = psycopg.Cursor(self)
        return cursor

    def take_waiting(self) -> Waiting:
        """What is queued, the transaction's BEGIN first if it is due; the queue is left empty."""
        self._begin()
        waiting, self._waiting = self._waiting, []
        self._asked.clear()
        return waiting

    def send_waiting(self) -> None:
        """Send what is queued now, in one round trip."""
        waiting = self.take_waiting()
        _send(self, waiting)

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        if args[0] if args else kwargs.get("name"):  # a server-side cursor runs its statement its own way
            self.send_waiting()
        return super().cursor(*args, **kwargs)

    def commit(self) -> None:
        waiting = self._waiting
        self._waiting = []
        self._asked.clear()
        if waiting:
            # COMMIT as one more statement of the round trip: psycopg's own commit() would add a
            # second Sync, and a second round trip, to the pipeline.
            _send(self, [*waiting, ("COMMIT", None, None)] if self._begun else waiting)
        else:
            super().commit()  # COMMIT if the server has a transaction open; nothing otherwise
        self._begun = False

    def rollback(self) -> None:
        self._waiting = []
        self._asked.clear()
        self._begun = False
        super().rollback()  # ROLLBACK if the server has a transaction open; nothing otherwise

    def close(self) -> None:
        self._waiting = []
        self._asked.clear()
        self._unread.clear()
        self._read.clear()
        self._begun = False
        super().close()

    def _begin(self) -> None:
        if self._begun or self._wants_autocommit:
            return
        self._begun = True
        self._waiting.insert(0, (self._begin_command(), None, None))

    def _begin_command(self) -> bytes:
        words = [b"BEGIN"]
        if self.isolation_level is not None:
            words += [b"ISOLATION LEVEL", self.isolation_level.name.replace("_", " ").encode()]
        if self.read_only is not None:
            words.append(b"READ ONLY" if self.read_only else b"READ WRITE")
        if self.deferrable is not None:
            words.append(b"DEFERRABLE" if self.deferrable else b"NOT DEFERRABLE")
        return b" ".join(words)


def _send(
    connection: PipelinedConnection,
    waiting: Waiting,
    *,
    prepare: bool | None = None,
    binary: bool | None = None,
) -> None:
    """Send the statements in one round trip and one write: each is put in the connection's
    pipeline as psycopg's `execute` puts it (prepared or not, its rows for its cursor), and
    libpq's buffer goes out once, with the Sync. (psycopg's `execute` in a pipeline sends its
    statement at once, in a write of its own after two polls of the socket: a batch of bookings
    cost some 300 writes and 600 polls, each one a moment to let go of and take back the
    interpreter lock.) `prepare` and `binary` are for the last statement, as `execute` takes
    them. An error is raised as `execute` raises it, when the pipeline ends."""
    if not waiting:
        return
    last = len(waiting) - 1
    try:
        with connection.pipeline() as pipeline, connection.lock:
            for index, (query, params, cursor) in enumerate(waiting):
                options = {"prepare": prepare, "binary": binary} if index == last else {}
                cursor = cursor or connection.unread_cursor(query)
                connection.wait(_queued(cursor, query, params, **options))
            # Into libpq's buffer: in pipeline mode it writes only past 64 KB, or when told to.
            commands = pipeline.command_queue
            while commands:
                commands.popleft()()
    except psycopg.errors._NO_TRACEBACK as exc:
        raise exc.with_traceback(None) from None


def _queued(
    cursor: psycopg.Cursor[Any],
    query: Any,
    params: Any,
    *,
    prepare: bool | None = None,
    binary: bool | None = None,
) -> Any:
    """psycopg's `BaseCursor._execute_gen` (psycopg 3.3) less its `_communicate_gen`: the statement
    is queued in the pipeline, not sent. tests/web/test_pipelining.py holds it to psycopg's."""
    yield from cursor._start_query(query)
    statement = cursor._convert_query(query, params)
    yield from cursor._maybe_prepare_gen(statement, prepare=prepare, binary=binary)
    cursor._last_query = query
    yield from cursor._conn._prepared.maintain_gen(cursor._conn)


def install(engine: sa.Engine) -> None:
    """Make the PostgreSQL (psycopg) engine's connections pipelined ones."""

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        # psycopg's autocommit mode: the connection begins its transactions itself (see above).
        return PipelinedConnection.connect(
            *cargs, **{**cparams, "autocommit": True, "cursor_factory": PipelinedCursor}
        )
