"""Engines for the two supported databases, with the settings each needs under load.

SQLite: WAL, a 5 s busy timeout and `BEGIN IMMEDIATE` for every transaction, because two
deferred writers fail with "database is locked" even with a busy timeout. PostgreSQL: a
small pool with pre-ping, so a restarted server is noticed rather than fatal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool


def make_engine(url: str, *, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, in_memory=parsed.database in (None, "", ":memory:"), echo=echo)
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, echo=echo)


def _sqlite_engine(url: str, *, in_memory: bool, echo: bool) -> Engine:
    if not in_memory:
        database = make_url(url).database
        assert database is not None
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 5}}
    if in_memory:
        options["poolclass"] = StaticPool  # one shared connection, or each sees an empty db
    engine = create_engine(url, echo=echo, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would issue a deferred BEGIN; take control.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
