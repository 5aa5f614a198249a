"""Migrations on SQLite and PostgreSQL: from empty to head they build exactly the tables the
models describe, and every revision can be applied and undone one step at a time."""

from __future__ import annotations

from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel

import storage.tables  # noqa: F401 - registers the tables on SQLModel.metadata
from storage.engine import make_engine
from storage.migrate import alembic_config, check, downgrade, upgrade

APPLICATION_TABLES = set(SQLModel.metadata.tables)
Schema = dict[str, Any]


def schema_of(url: str) -> Schema:
    """Tables with their columns, indexes and unique constraints (alembic's own table aside)."""
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        return {
            table: {
                "columns": sorted((c["name"], c["nullable"]) for c in inspector.get_columns(table)),
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                  for i in inspector.get_indexes(table)),
                "unique": sorted(tuple(u["column_names"])
                                 for u in inspector.get_unique_constraints(table)),
            }
            for table in inspector.get_table_names() if table != "alembic_version"
        }
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def revisions_oldest_first(url: str) -> list[Script]:
    script = ScriptDirectory.from_config(alembic_config(url))
    return list(reversed(list(script.walk_revisions("base", "heads"))))


def test_the_migrations_have_a_single_head(db_url):
    assert len(ScriptDirectory.from_config(alembic_config(db_url)).get_heads()) == 1


def test_upgrading_an_empty_database_builds_what_the_models_describe(db_url):
    assert schema_of(db_url) == {}
    upgrade(db_url)
    assert set(schema_of(db_url)) == APPLICATION_TABLES
    assert current_revision(db_url) == revisions_oldest_first(db_url)[-1].revision
    check(db_url)  # raises if a model changed without a migration


def test_downgrading_to_base_removes_every_table_and_upgrading_again_works(db_url):
    upgrade(db_url)
    at_head = schema_of(db_url)
    downgrade(db_url, "base")
    assert schema_of(db_url) == {}
    assert current_revision(db_url) is None
    upgrade(db_url)
    assert schema_of(db_url) == at_head
    check(db_url)


def test_every_revision_steps_up_and_back_down_one_at_a_time(db_url):
    revisions = revisions_oldest_first(db_url)
    assert revisions, "no migrations found"
    schemas: dict[str | None, Schema] = {None: schema_of(db_url)}

    for script in revisions:
        upgrade(db_url, script.revision)
        assert current_revision(db_url) == script.revision
        schemas[script.revision] = schema_of(db_url)
        # Undo this step and redo it: the downgrade restores the previous schema exactly.
        previous = script.down_revision
        assert previous is None or isinstance(previous, str), "merge revisions need their own test"
        downgrade(db_url, previous or "base")
        assert current_revision(db_url) == previous
        assert schema_of(db_url) == schemas[previous], f"downgrade of {script.revision}"
        upgrade(db_url, script.revision)
        assert schema_of(db_url) == schemas[script.revision], f"re-upgrade to {script.revision}"

    check(db_url)

    for script in reversed(revisions):
        downgrade(db_url, "-1")
        assert current_revision(db_url) == script.down_revision
        assert schema_of(db_url) == schemas[script.down_revision]
    assert schema_of(db_url) == {}
