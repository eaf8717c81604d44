"""`fablab backup FILE` and `fablab restore FILE`: a center's data survives a lost disk.

SQLite: the online backup API copies the database while the center runs, as one consistent
snapshot (every transaction committed before the copy began, none half-written). PostgreSQL:
`pg_dump --format=custom` does the same from one snapshot, and `pg_restore` brings it back; both
come with PostgreSQL's client tools.

A restore replaces what the database holds: stop the center first (`fablab serve`, `fablab bridge`),
and say `--yes` when the database already has data.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import sqlalchemy as sa


class BackupError(Exception):
    """Why a backup or a restore could not be made, in one line for the operator."""


def _sqlite_file(url: sa.engine.URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory database has nothing to back up")
    return Path(url.database)


def _libpq(url: sa.engine.URL) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: it comes with PostgreSQL's client tools (postgresql-client)"
        )
    return found


def backup(database_url: str, target: Path) -> None:
    """Copy the database, while it is in use, into `target` (which must not exist yet)."""
    if target.exists():
        raise BackupError(f"{target} exists already; give a new file name")
    url = sa.engine.make_url(database_url)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    if url.get_backend_name() == "sqlite":
        source_file = _sqlite_file(url)
        if not source_file.exists():
            raise BackupError(f"there is no database at {source_file}")
        with (
            sqlite3.connect(f"file:{source_file}?mode=ro", uri=True) as source,
            sqlite3.connect(partial) as copy,
        ):
            source.backup(copy)  # all pages in one step: one consistent snapshot
        with sqlite3.connect(partial) as copy:
            _check_sqlite(copy, partial)
    elif url.get_backend_name() == "postgresql":
        result = subprocess.run(  # noqa: S603 - pg_dump from PATH, arguments from the settings
            [_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}", _libpq(url)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise BackupError(
                f"pg_dump failed: {result.stderr.strip().splitlines()[-1:] or result.returncode}"
            )
    else:
        raise BackupError(f"no backup for a {url.get_backend_name()} database")
    os.replace(partial, target)


def restore(database_url: str, source: Path, *, replace: bool) -> None:
    """Bring the backup in `source` back into the database (which must be empty unless `replace`)."""
    if not source.is_file():
        raise BackupError(f"there is no backup at {source}")
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        target_file = _sqlite_file(url)
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as backup_copy:
            _check_sqlite(backup_copy, source)
            if _has_data(database_url) and not replace:
                raise BackupError(f"{target_file} holds data; stop the center and say --yes to replace it")
            target_file.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(target_file) as target:
                backup_copy.backup(target)
    elif url.get_backend_name() == "postgresql":
        if _has_data(database_url) and not replace:
            raise BackupError("the database holds data; stop the center and say --yes to replace it")
        result = subprocess.run(  # noqa: S603 - pg_restore from PATH, arguments from the settings
            [
                _tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                f"--dbname={_libpq(url)}",
                str(source),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BackupError(
                f"pg_restore failed: {result.stderr.strip().splitlines()[-1:] or result.returncode}"
            )
    else:
        raise BackupError(f"no restore for a {url.get_backend_name()} database")


def _check_sqlite(connection: sqlite3.Connection, path: Path) -> None:
    verdict = connection.execute("PRAGMA integrity_check").fetchone()
    if verdict is None or verdict[0] != "ok":
        raise BackupError(f"{path} is damaged: {verdict[0] if verdict else 'no answer'}")
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "alembic_version" not in tables:
        raise BackupError(f"{path} is not a FabLab Hub database")


def _has_data(database_url: str) -> bool:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("member"):
                return False
            return bool(connection.execute(sa.text("SELECT count(*) FROM member")).scalar())
    finally:
        engine.dispose()
