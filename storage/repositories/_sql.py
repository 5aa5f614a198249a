"""Small helpers the repositories share."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


def insert_ignoring_duplicates(conn: Connection, table: Table, values: dict[str, Any],
                               key: str) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True if a row went in."""
    statement: Insert
    if conn.dialect.name == "postgresql":
        statement = postgresql.insert(table).values(values).on_conflict_do_nothing(index_elements=[key])
    else:
        statement = sqlite.insert(table).values(values).on_conflict_do_nothing(index_elements=[key])
    return bool(conn.execute(statement).rowcount)
