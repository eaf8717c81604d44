"""Hot statements: a Core statement compiled once per database and run straight on the driver's cursor.

SQLAlchemy's Core costs 60–150 µs to run a cached statement (cache key, execution context, parameter
and result processing, events); the driver itself needs 15–50 µs. A booking runs about ten statements
inside its write transaction, so on its hot path a `HotStatement` keeps what the compiled statement
knows (the SQL text, the order of its parameters, how each value is bound and each column read back)
and hands the driver only values. What stays the same as Core: the statement is written once, in Core;
values go through the columns' own types (`UTCDateTime` stores SQLite's text in the one format the
overlap triggers compare); a driver error becomes SQLAlchemy's exception, with a lost connection
invalidated, through the connection's own handler.

Only for statements whose parameters are all plain bound values: an IN list of constants is written
with `among`, an INSERT with `insert_into`.
"""

from __future__ import annotations

import enum
import re
import weakref
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import instrumentation
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlmodel import Session, SQLModel

Processor = Callable[[Any], Any] | None
M = TypeVar("M", bound=SQLModel)
T = TypeVar("T")


class Pause(enum.Enum):
    """Where a write in steps (`Steps`) stops, its statements so far asked or queued but not sent:
    a writer running many writes in one transaction (PostgreSQL, web/writer.py) sends what all of
    them queued in one round trip before it lets each go on and read its answers."""

    ASKED = "asked"  # its questions and its locks: nothing written yet
    WRITING = "writing"  # from here on the write changes rows: a refusal now undoes them


# A write that pauses (yields a `Pause`) where its statements may wait to go out with other writes';
# what it returns is its result. Run alone, it is run straight through (`finish`).
Steps = Generator[Pause, None, T]


def all_or_nothing(session: Session) -> bool:
    """Whether the session's transaction is written whole or not at all (a writer's batch, see
    web/writer.py): a row the database refuses in it fails its COMMIT, and each of its writes is then
    written again alone, where that refusal is read and answered. In such a transaction a write need
    not read what its INSERT did before the COMMIT: the INSERT goes out with it."""
    return bool(session.info.get(ALL_OR_NOTHING))


# The key in a session's info that marks its transaction all or nothing (`all_or_nothing`).
ALL_OR_NOTHING = "booking.sql all or nothing"


def rows_stay_detached(session: Session) -> bool:
    """Whether a row a hot statement INSERTs stays out of the session instead of joining it as
    persistent (a writer's batch, web/writer.py, whose session is emptied after each write: joining
    each new booking only to drop it again cost a fifteenth of its time in the write lock)."""
    return bool(session.info.get(ROWS_STAY_DETACHED))


# The key in a session's info that keeps the rows it inserts out of it (`rows_stay_detached`).
ROWS_STAY_DETACHED = "booking.sql rows stay detached"


def finish(steps: Steps[T]) -> T:
    """Run a write in steps straight through: its result (each statement goes out when its answer is
    read, as without pauses)."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast("T", done.value)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement as one database's driver takes it."""

    sql: str
    # Positional drivers (sqlite3): the parameters' names in order; named ones (psycopg): the names.
    names: tuple[str, ...]
    positional: bool
    # Per parameter, in `names` order: (name, fixed by the statement (a LIMIT), its bound value,
    # the processor of a value given at each run).
    steps: tuple[tuple[str, bool, Any, Processor], ...]
    results: tuple[Processor, ...]


class HotStatement:
    """A Core statement run on the session's DBAPI connection, inside the session's transaction."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def rows(self, session: Session, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, each value read back through its column's type."""
        connection = connection_of(session)
        compiled = self._for(connection.dialect)
        cursor = self._run(connection, compiled, params)
        try:
            raw = cursor.fetchall()
        finally:
            cursor.close()
        return _converted(compiled, raw)

    def ask(self, session: Session, params: Mapping[str, Any]) -> Callable[[], list[tuple[Any, ...]]]:
        """Ask for the rows now and read them when the returned function is called: where the
        connection can hold the statement (PostgreSQL, see web/pipelining.py) it goes out, in order,
        with the next statement, or when its rows are read, so that several questions share one round
        trip; elsewhere it runs at once. Read its rows before the transaction ends."""
        connection = connection_of(session)
        compiled = self._for(connection.dialect)
        driver = connection.connection.dbapi_connection
        queue = getattr(driver, "ask", None)
        if queue is None:
            rows = self.rows(session, params)
            return lambda: rows
        values = _bound(compiled, params)
        cursor = queue(compiled.sql, values)

        def read() -> list[tuple[Any, ...]]:
            try:
                driver.send_for(cursor)  # type: ignore[union-attr]  # still queued: it goes out now
                raw = cursor.fetchall()
            except Exception as exc:
                cursor.close()
                if isinstance(exc, connection.dialect.loaded_dbapi.Error):
                    connection._handle_dbapi_exception(exc, compiled.sql, values, cursor, None)
                raise
            driver.give_back(compiled.sql, cursor)  # type: ignore[union-attr]  # for the next question
            return _converted(compiled, raw)

        return read

    def first(self, session: Session, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row, or None."""
        rows = self.rows(session, params)
        return rows[0] if rows else None

    def scalar(self, session: Session, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        row = self.first(session, params)
        return row[0] if row is not None else None

    def execute(self, session: Session, params: Mapping[str, Any]) -> None:
        """Run a statement that returns no rows (an INSERT without RETURNING)."""
        connection = connection_of(session)
        self._run(connection, self._for(connection.dialect), params).close()

    def later(self, session: Session, params: Mapping[str, Any]) -> None:
        """Run a statement whose rows nobody reads (an INSERT, a row lock) with the transaction's next
        statement or its COMMIT, in that round trip and before it, where the connection can hold it
        (PostgreSQL, see web/pipelining.py); at once elsewhere. An error it meets is raised by the
        statement it goes out with."""
        connection = connection_of(session)
        compiled = self._for(connection.dialect)
        queue = getattr(connection.connection.dbapi_connection, "later", None)
        if queue is None:
            self._run(connection, compiled, params).close()
            return
        queue(compiled.sql, _bound(compiled, params))

    def _run(self, connection: sa.Connection, compiled: _Compiled, params: Mapping[str, Any]) -> Any:
        values = _bound(compiled, params)
        dbapi_connection = connection.connection.dbapi_connection
        if dbapi_connection is None:  # pragma: no cover - a connection in use always has one
            raise sa.exc.InvalidRequestError("the session's connection is closed")
        cursor = None
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute(compiled.sql, values)
        except Exception as exc:
            if cursor is not None:
                cursor.close()
            if isinstance(exc, connection.dialect.loaded_dbapi.Error):
                # Raises SQLAlchemy's exception for it; a lost connection is invalidated on the way.
                connection._handle_dbapi_exception(exc, compiled.sql, values, cursor, None)
            raise
        return cursor

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled.setdefault(dialect.name, _compile(self.statement, dialect))
        return compiled


def connection_of(session: Session) -> sa.Connection:
    """The session's connection in its transaction, as `session.connection()` gives it (beginning the
    transaction if none is open). That call walks the session's transaction states, 2 µs each time,
    and a booking's hot statements ask about ten times: the answer is kept in the session for as long
    as the transaction that gave it is active."""
    kept = session.info.get(_KEPT_CONNECTION)
    if kept is not None:
        transaction, connection = kept
        if transaction.is_active and session.get_transaction() is transaction:
            return cast("sa.Connection", connection)
    connection = session.connection()
    session.info[_KEPT_CONNECTION] = (session.get_transaction(), connection)
    return connection


_KEPT_CONNECTION = "booking.sql connection"


def database_of(session: Session) -> str:
    """The database the session works on, as its engine's URL text: the key of the per-process caches
    (remembered per engine: rendering a URL costs more than the rest of a cache hit)."""
    bind = session.get_bind()
    return database_of_engine(bind.engine if isinstance(bind, sa.Connection) else bind)


def database_of_engine(engine: sa.Engine) -> str:
    """`database_of` for an engine."""
    name = _databases.get(engine)
    if name is None:
        name = _databases.setdefault(engine, str(engine.url))
    return name


_databases: weakref.WeakKeyDictionary[sa.Engine, str] = weakref.WeakKeyDictionary()


def built(model: type[M], values: Mapping[str, Any]) -> M:
    """A new, transient instance of a table model, its values set as they are (a table model validates
    nothing either), without the per-attribute events that `model(**values)` fires: a tenth of the
    cost, for the rows the hot path writes. A field not given takes its default; one with no
    default must be given."""
    manager = instrumentation.manager_of_class(model)
    instance: M = manager.new_instance()
    state = instance.__dict__
    for name, field in model.model_fields.items():
        if name in values:
            state[name] = values[name]
        elif field.is_required():
            raise TypeError(f"{model.__name__} needs {name}")
        else:
            state[name] = field.get_default(call_default_factory=True)
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    return instance


def among(column: sa.ColumnElement[Any], values: Sequence[str]) -> sa.ColumnElement[bool]:
    """`column IN (...)` of constants written into the SQL (a status or kind list the code fixes), not
    a list bound at each run."""
    for value in values:
        if not _CONSTANT.fullmatch(value):
            raise ValueError(f"not a plain constant: {value!r}")
    return column.in_([sa.literal_column(f"'{value}'") for value in values])


_CONSTANT = re.compile(r"[A-Za-z0-9_.-]+")


def insert_into(table: sa.Table, columns: Sequence[str] | None = None) -> sa.Insert:
    """An INSERT of the named columns (every column by default), each bound by its own name."""
    return table.insert().values(bound_columns(table, columns))


def bound_columns(table: sa.Table, columns: Sequence[str] | None = None) -> dict[str, sa.BindParameter[Any]]:
    """The VALUES of an INSERT: each named column (every column by default) bound by its own name,
    for a database's own INSERT (postgresql.insert, sqlite.insert) with an ON CONFLICT clause."""
    names = [column.key for column in table.columns] if columns is None else list(columns)
    return {name: sa.bindparam(name, type_=table.c[name].type) for name in names}


def locking_in_order(table: sa.Table) -> sa.Select[Any]:
    """Lock the rows of `table` whose ids are in the bound list `ids`, in the order of their ids, until
    the transaction ends (PostgreSQL: its rows are locked as the sort returns them); transactions that
    each lock several rows this way take them in one order and cannot deadlock on them."""
    ids = sa.bindparam("ids", type_=postgresql.ARRAY(sa.String()))
    return sa.select(table.c.id).where(table.c.id == sa.any_(ids)).order_by(table.c.id).with_for_update()


def held_locks(session: Session) -> set[tuple[str, str]]:
    """The rows (table name, id) that the session's current transaction has locked in order
    (`locking_in_order`), for a lock taken again in it to be skipped: a lock that is held is kept
    until the transaction ends. Empty in a new transaction. (Not for locks taken in a savepoint:
    rolling back to it releases them.)"""
    transaction = session.get_transaction()
    kept = session.info.get(_HELD_LOCKS)
    if kept is None or kept[0] is not transaction:
        kept = session.info[_HELD_LOCKS] = (transaction, set())
    held: set[tuple[str, str]] = kept[1]
    return held


_HELD_LOCKS = "booking.sql held locks"


def _compile(statement: ClauseElement, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    if not isinstance(compiled, SQLCompiler):  # pragma: no cover - every statement here is SQL
        raise TypeError(f"not a SQL statement: {statement!r}")
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError("a hot statement takes plain bound values only (no expanding IN lists)")
    binds = {name: _single(compiled._bind_processors.get(name)) for name in compiled.bind_names.values()}
    fixed = {
        name: _apply(binds.get(name), bind.effective_value)
        for bind, name in compiled.bind_names.items()
        if not bind.required
    }
    positional = compiled.positional
    names = tuple(compiled.positiontup or ()) if positional else tuple(binds)
    results = tuple(entry.type._cached_result_processor(dialect, None) for entry in compiled._result_columns)
    return _Compiled(
        sql=compiled.string,
        names=names,
        positional=positional,
        steps=tuple((name, name in fixed, fixed.get(name), binds.get(name)) for name in names),
        results=results,
    )


def _single(processor: Any) -> Processor:
    if processor is not None and not callable(processor):  # pragma: no cover - tuple-typed binds only
        raise ValueError("a hot statement takes no tuple-typed parameters")
    return cast("Processor", processor)


def _apply(processor: Processor, value: Any) -> Any:
    return value if processor is None or value is None else processor(value)


def _converted(compiled: _Compiled, raw: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The driver's rows, each value read back through its column's type."""
    results = compiled.results
    if not any(results):
        return [tuple(row) for row in raw]
    return [
        tuple(value if read is None else read(value) for read, value in zip(results, row, strict=True))
        for row in raw
    ]


def _bound(compiled: _Compiled, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
    values = []
    for name, is_fixed, constant, processor in compiled.steps:
        if is_fixed:
            values.append(constant)
            continue
        value = params[name]
        values.append(value if processor is None or value is None else processor(value))
    return tuple(values) if compiled.positional else dict(zip(compiled.names, values, strict=True))
