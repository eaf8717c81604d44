"""Alembic builds exactly the models' schema, on SQLite and PostgreSQL, and can go down and up again."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from tests.databases import migrated_database
from web.migrate import alembic_config, current_revision, upgrade


class TestMigrations:
    def test_schema_matches_the_models(self, backend: str, tmp_path: Path) -> None:
        with migrated_database(backend, tmp_path) as engine, engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, SQLModel.metadata) == []

    def test_down_and_up_again(self, backend: str, tmp_path: Path) -> None:
        with migrated_database(backend, tmp_path) as engine:
            config = alembic_config()
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.downgrade(config, "base")
            assert current_revision(engine) is None
            upgrade(engine)
            assert current_revision(engine) is not None
