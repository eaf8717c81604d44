"""SQLite's write-ahead log is copied back by the engine's own thread, not inside a request's COMMIT."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

from web import db
from web.db import make_engine


def _eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _fill(engine: Engine, rows: int) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body TEXT)")
        connection.exec_driver_sql(
            "INSERT INTO filler (body) VALUES " + ",".join(["('" + "x" * 1000 + "')"] * rows)
        )


def _checkpointers(path: Path) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"sqlite-checkpoint {path.name}"]


def test_a_commit_checkpoints_only_past_the_bound(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bound.db'}")
    try:
        with engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    finally:
        engine.dispose()

    assert pages == db.AUTOCHECKPOINT_PAGES


def test_the_engines_thread_copies_the_log_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "copied.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        _fill(engine, 2000)  # about 2 MB, well under the bound: no commit checkpoints it

        assert _eventually(lambda: path.stat().st_size > 2_000_000)
    finally:
        engine.dispose()


def test_the_thread_ends_with_its_engine(tmp_path: Path) -> None:
    path = tmp_path / "ends.db"
    engine = make_engine(f"sqlite:///{path}")
    _fill(engine, 1)
    assert len(_checkpointers(path)) == 1

    engine.dispose()

    assert _eventually(lambda: not _checkpointers(path))
