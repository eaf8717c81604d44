"""Alembic environment: migrations run on the connection `web.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import booking.models
import devices.models  # noqa: F401 - registers the machines' tables

target_metadata = SQLModel.metadata
_ = booking.models


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
