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


def test_a_series_is_read_through_its_index_which_holds_only_bookings_of_a_series(
    backend: str, tmp_path: Path
) -> None:
    with migrated_database(backend, tmp_path) as engine, engine.connect() as connection:
        if backend == "sqlite":
            definition = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_booking_series_id'"
            ).scalar_one()
            plan = connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM booking WHERE series_id = ?", ("s1",)
            ).all()
        else:
            definition = connection.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_booking_series_id'"
            ).scalar_one()
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = connection.exec_driver_sql(
                "EXPLAIN SELECT id FROM booking WHERE series_id = %(id)s", {"id": "s1"}
            ).all()
        assert "series_id IS NOT NULL" in definition
        assert "ix_booking_series_id" in " ".join(str(row) for row in plan)
