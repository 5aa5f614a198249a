"""Small helpers the repositories share."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


def insert_ignoring_duplicates(conn: Connection, table: Table, values: dict[str, Any],
                               key: str) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True if a row went in.

    Asks for the key back rather than trusting rowcount: psycopg reports -1 for this
    statement whether or not a row went in, which would make every redelivery look new."""
    statement = _insert_or_ignore(conn.dialect.name, table, key)
    return conn.execute(statement, values).first() is not None


@functools.cache
def _insert_or_ignore(dialect: str, table: Table, key: str) -> Insert:
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return builder(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])
