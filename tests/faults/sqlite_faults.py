"""SQLite refusing writes as a full disk or a read-only file does, for the storage fault tests
(tests/faults/test_sqlite_storage_faults.py), in this process or in a `spoke` subprocess:

    python -c "from tests.faults.sqlite_faults import every_engine_faulty; ..."

Light on imports, so the subprocess starts as fast as `spoke` does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

FILLER = "spoke_test_disk_filler"
# Tables the first write of a turn (processed_event), a queued message, an audit record or an
# operator's new network goes to: with a full disk, each of these inserts fails.
GROWING = ("processed_event", "outbox", "audit_log", "network")


def storage_fault(kind: str) -> Callable[[Any, Any], None]:
    """A SQLAlchemy `connect` listener that makes every SQLite connection opened after it
    meet a full disk ("disk_full") or a read-only file ("read_only"), as SQLite reports them:
    SQLITE_FULL "database or disk is full", SQLITE_READONLY "attempt to write a readonly
    database" (chmod would not stop root, who runs CI).

    A full disk is `PRAGMA max_page_count` at the file's present size: a write that needs a
    new page fails, and SQLite rolls its transaction back. So that the first write of every
    turn needs one, whatever room is left in the pages, a temporary trigger adds a blob
    larger than the free pages to a table of the test's own after each insert into GROWING.
    """

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if kind == "read_only":
                cursor.execute("PRAGMA query_only = 1")
                return
            assert kind == "disk_full", kind
            cursor.execute(f"CREATE TABLE IF NOT EXISTS main.{FILLER} (filler BLOB)")
            pages, free, size = (cursor.execute(f"PRAGMA {name}").fetchone()[0]
                                 for name in ("page_count", "freelist_count", "page_size"))
            cursor.execute(f"PRAGMA max_page_count = {pages}")
            filler = f"INSERT INTO {FILLER} VALUES (randomblob({(free + 2) * size}))"  # noqa: S608 - our names
            for table_name in GROWING:
                cursor.execute(f"CREATE TEMP TRIGGER IF NOT EXISTS fill_after_{table_name} "
                               f"AFTER INSERT ON main.{table_name} BEGIN {filler}; END")
        finally:
            cursor.close()

    return on_connect


def every_engine_faulty(kind: str) -> None:
    """`storage_fault` for every engine this process makes (for a `spoke` subprocess)."""
    event.listen(Engine, "connect", storage_fault(kind))


def integrity(database: Path) -> str:
    """`PRAGMA integrity_check` of the SQLite file, on a connection of its own."""
    connection = sqlite3.connect(database)
    try:
        return "\n".join(str(row[0]) for row in connection.execute("PRAGMA integrity_check"))
    finally:
        connection.close()


class Fault:
    """The fault for one engine's connections while on (also `with Fault(...):`). The pooled
    connections are closed when it goes on, so every transaction meets it, and when it goes
    off, so none keeps it."""

    def __init__(self, engine: Engine, kind: str) -> None:
        self._engine = engine
        self._listener = storage_fault(kind)

    def on(self) -> None:
        event.listen(self._engine, "connect", self._listener)
        self._engine.dispose()

    def off(self) -> None:
        event.remove(self._engine, "connect", self._listener)
        self._engine.dispose()

    def __enter__(self) -> Fault:
        self.on()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.off()
