"""Shared fixtures: a migrated store on SQLite and (when the server is there) PostgreSQL,
a fake clock, and a chat harness over the real turn handler."""

from __future__ import annotations

import copy
import io
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

import storage.tables  # noqa: F401 - registers the tables on SQLModel.metadata
from assistant.clock import FakeClock
from assistant.logs import JsonFormatter, PrivacyFilter
from assistant.sealing import Sealer
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.repositories import SqlStore
from storage.scratch import scratch_database
from tests.slack_fixtures import slack_api, spoke  # noqa: F401  (fixtures for the Slack tests)
from tests.teams_fixtures import teams  # noqa: F401  (the fixture for the Teams tests)

POSTGRES_URL = os.environ.get("SPOKE_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("SPOKE_REQUIRE_POSTGRES") == "1"
# The engine of the tests that are about behaviour rather than the engine (`suite_store`
# and the Slack and Teams servers): SQLite, or PostgreSQL in the suite's second CI pass
# (`SPOKE_TEST_ENGINE=postgresql`), so every test also runs against the real server.
SUITE_ENGINE = os.environ.get("SPOKE_TEST_ENGINE", "sqlite")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The tests a second pass on PostgreSQL has to run again: those on the suite's engine.
    for item in items:
        if "suite_store" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.suite_engine)
    if POSTGRES_URL:
        return
    if REQUIRE_POSTGRES or SUITE_ENGINE != "sqlite":
        raise pytest.UsageError("SPOKE_REQUIRE_POSTGRES=1 or SPOKE_TEST_ENGINE=postgresql, but "
                                "SPOKE_TEST_POSTGRES_URL is not set")
    skip = pytest.mark.skip(reason="PostgreSQL not available: set SPOKE_TEST_POSTGRES_URL "
                                   "(bash .ci/run starts a server and sets it)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def database_url(engine: str, tmp_path: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'spoke.db'}"
    else:
        with scratch_database(POSTGRES_URL) as url:
            yield url


# Every test store seals what people type, as production does.
TEST_SEALER = Sealer(["a key for the tests"])

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each engine (for the migration tests)."""
    yield from database_url(request.param, tmp_path)


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A database at the latest revision on each engine, migrated once for the whole run
    (migrating takes a second on PostgreSQL): each SQLite store starts as a copy of the file,
    and the PostgreSQL one is emptied before each test that uses it."""
    sqlite_file = tmp_path_factory.mktemp("migrated") / "spoke.db"
    upgrade(f"sqlite:///{sqlite_file}")
    databases = {"sqlite": str(sqlite_file)}
    if not POSTGRES_URL:
        yield databases
        return
    with scratch_database(POSTGRES_URL, prefix="spoke_suite") as url:
        upgrade(url)
        databases["postgresql"] = url
        yield databases


def migrated_copy(engine: str, databases: dict[str, str], tmp_path: Path) -> Iterator[str]:
    if engine == "sqlite":
        target = tmp_path / "spoke.db"
        shutil.copyfile(databases["sqlite"], target)
        yield f"sqlite:///{target}"
        return
    if "postgresql" not in databases:
        pytest.skip("PostgreSQL not available: set SPOKE_TEST_POSTGRES_URL")
    _empty(databases["postgresql"])
    yield databases["postgresql"]


def _empty(url: str) -> None:
    """Every row gone and every id counting from 1 again, schema kept: 20 ms, where copying a
    template database takes 130 and migrating 600."""
    tables = [table.name for table in reversed(SQLModel.metadata.sorted_tables)]
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            sequences = connection.execute(text(
                "select sequencename from pg_sequences where schemaname = current_schema()")
            ).scalars().all()
            connection.execute(text(";".join(
                [f'DELETE FROM "{table}"' for table in tables]  # noqa: S608 - our own tables
                + [f'ALTER SEQUENCE "{sequence}" RESTART' for sequence in sequences])))
    finally:
        engine.dispose()


def url_of(store: SqlStore) -> str:
    """The database URL of a test's store, for what opens it again (the command line, a
    restarted server)."""
    return store.engine.url.render_as_string(hide_password=False)


@pytest.fixture(params=ENGINES)
def store_on(request: pytest.FixtureRequest, migrated: dict[str, str],
             tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated store on each engine."""
    for url in migrated_copy(request.param, migrated, tmp_path):
        store = SqlStore(make_engine(url), TEST_SEALER)
        yield store
        store.close()


@pytest.fixture
def suite_store(migrated: dict[str, str], tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated store on the suite's engine, for tests about behaviour rather than the
    engine."""
    for url in migrated_copy(SUITE_ENGINE, migrated, tmp_path):
        store = SqlStore(make_engine(url), TEST_SEALER)
        yield store
        store.close()


@pytest.fixture
def sqlite_store(migrated: dict[str, str], tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated SQLite store, for tests about SQLite itself (its file, its locking)."""
    for url in migrated_copy("sqlite", migrated, tmp_path):
        store = SqlStore(make_engine(url), TEST_SEALER)
        yield store
        store.close()


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Every log line, as `spoke` writes it (JSON, through the privacy filter), at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PrivacyFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at="2025-06-02T09:00:00Z")  # a Monday morning in London (BST)


@pytest.fixture(autouse=True)
def _every_message_is_translated(caplog: pytest.LogCaptureFixture,
                                 request: pytest.FixtureRequest) -> Iterator[None]:
    """A message id missing from a catalogue shows the reader a raw id: fail the test."""
    yield
    if request.node.get_closest_marker("toy_dialog"):
        return
    # caplog.records holds only the current phase (teardown): read setup and call too.
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    missing = [getattr(r, "message_id", "?") for r in records
               if getattr(r, "event", None) == "i18n.missing"]
    assert not missing, f"missing translations: {missing}"


# What must never reach a log line, whatever the test: the test secrets, tokens, a health
# number, and words people type in the tests about cases and follow-ups.
NEVER_LOGGED = ("8f742231b10e8888abcd99yyyzzz85a5", "xoxb-test", "spoke-test-app-password",
                "a key for the tests", "Bearer ey", "999 765 4323", "9997654323",
                "Breathless at night", "breathlessness at night", "Opioid conversion")


@pytest.fixture(autouse=True)
def _logs_hold_no_secrets(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every log record of every test, at INFO and above, with its structured fields: none
    may hold a secret or what someone typed (issue #9: logs are scanned, not trusted)."""
    caplog.set_level(logging.INFO)
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    leaks = []
    for record in records:
        written = _as_spoke_writes(record)
        leaks += [(record.name, canary) for canary in NEVER_LOGGED if canary in written]
    assert not leaks, f"logged: {leaks}"


def _as_spoke_writes(record: logging.LogRecord) -> str:
    """The line `spoke` would write for this record: through its privacy filter and JSON
    formatter (on a copy: other checks read the record as it was)."""
    written = copy.copy(record)
    PrivacyFilter().filter(written)
    try:
        return JsonFormatter().format(written)
    except (TypeError, ValueError):
        # A library's own record whose arguments do not fit its format (fontTools does this):
        # logging itself would print "--- Logging error ---" for it; read its parts instead.
        return f"{record.msg} {record.args} {vars(written)}"
