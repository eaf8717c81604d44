"""Test databases: a migrated SQLite file, or a fresh PostgreSQL database on 127.0.0.1:5432."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.services import PG_URL
from web.db import make_engine
from web.migrate import upgrade

PG_ADMIN_URL = PG_URL
BACKENDS = ("sqlite", "postgresql")


def postgres_reachable() -> str | None:
    """None if the test PostgreSQL server answers, else why not."""
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except sa.exc.SQLAlchemyError as exc:
        return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return None


@contextmanager
def migrated_database(backend: str, directory: Path, *, pool_size: int = 20) -> Iterator[Engine]:
    """A new, migrated database of the backend; dropped afterwards."""
    name = f"fablab_test_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{directory / (name + '.db')}", pool_size=pool_size)
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name)
    engine = make_engine(url.render_as_string(hide_password=False), pool_size=pool_size)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
