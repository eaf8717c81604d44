"""PostgreSQL connections that send what nobody waits for in the round trip of what comes next.

A booking on PostgreSQL took twelve round trips to the server, and on a small machine each one costs
CPU on both sides (the driver's Python, the server's backend, the kernel twice) beside its latency.
Some of them carried nothing the transaction waited for:
- the BEGIN psycopg sends alone before a transaction's first statement: it now goes out in one round
  trip with that statement (psycopg's pipeline mode);
- the rows written once the booking's own INSERT succeeded (its ledger entry, the member's notice,
  the e-mail in the outbox), which no later statement of the transaction reads before the COMMIT:
  they are queued with `HotStatement.later` and go out with the transaction's next statement or with
  its COMMIT, in one round trip.

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

Waiting = list[tuple[str, Any]]


class PipelinedCursor(psycopg.Cursor[Any]):
    """A cursor whose statement takes along what the connection queued, and a transaction's BEGIN."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> PipelinedCursor:
        connection = self.connection
        waiting = connection.take_waiting() if isinstance(connection, PipelinedConnection) else []
        if not waiting:
            super().execute(query, params, prepare=prepare, binary=binary)
            return self
        with connection.pipeline():
            _send(connection, waiting)
            super().execute(query, params, prepare=prepare, binary=binary)
        return self

    def executemany(self, query: Any, params_seq: Any, *, returning: bool = False) -> None:
        connection = self.connection
        if isinstance(connection, PipelinedConnection):
            connection.send_waiting()
        super().executemany(query, params_seq, returning=returning)


class PipelinedConnection(psycopg.Connection[Any]):
    """A psycopg connection that holds statements queued with `later` until the next one, or the
    COMMIT, and sends them in its round trip."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting: Waiting = []

    def later(self, query: str, params: Any) -> None:
        """Queue a statement that returns nothing and that nothing before the COMMIT waits for."""
        self._waiting.append((query, params))

    def take_waiting(self) -> Waiting:
        waiting, self._waiting = self._waiting, []
        return waiting

    def send_waiting(self) -> None:
        """Send what is queued now, in one round trip."""
        waiting = self.take_waiting()
        if waiting:
            with self.pipeline():
                _send(self, waiting)

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs.get("name"):  # a server-side cursor runs its statement its own way
            self.send_waiting()
        return super().cursor(*args, **kwargs)

    def commit(self) -> None:
        waiting = self.take_waiting()
        if not waiting:
            super().commit()
            return
        # COMMIT as one more statement of the round trip: psycopg's own commit() would add a second
        # Sync, and a second round trip, to the pipeline.
        with self.pipeline():
            _send(self, [*waiting, ("COMMIT", None)])

    def rollback(self) -> None:
        self._waiting = []
        super().rollback()

    def close(self) -> None:
        self._waiting = []
        super().close()


def _send(connection: psycopg.Connection[Any], waiting: Waiting) -> None:
    if not waiting:
        return
    cursor = psycopg.Cursor(connection)
    try:
        for query, params in waiting:
            cursor.execute(query, params)
    finally:
        cursor.close()


def install(engine: sa.Engine) -> None:
    """Make the PostgreSQL (psycopg) engine's connections pipelined ones."""

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        return PipelinedConnection.connect(*cargs, cursor_factory=PipelinedCursor, **cparams)
