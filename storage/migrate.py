"""Alembic, driven from code: `spoke db upgrade` and the tests call these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Percent signs in a URL (encoded passwords) would be read as interpolation.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Fails when the tables and the migrations disagree (run by `make lint` and a test)."""
    command.check(alembic_config(url))


@dataclass(frozen=True)
class DatabaseStatus:
    """What `spoke doctor` reports about the database."""

    error: str | None  # why it could not be reached (an exception's class name), or None
    current: str | None = None  # the revision the database is at
    head: str | None = None  # the newest revision this code knows
    server_now: datetime | None = None  # PostgreSQL's clock (SQLite has none of its own)


def status(url: str) -> DatabaseStatus:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from storage.engine import make_engine

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            server_now = (connection.execute(text("SELECT now()")).scalar()
                          if engine.dialect.name == "postgresql" else None)
    except SQLAlchemyError as down:
        return DatabaseStatus(type(getattr(down, "orig", None) or down).__name__, head=head)
    finally:
        engine.dispose()
    return DatabaseStatus(None, current, head,
                          server_now if isinstance(server_now, datetime) else None)
