"""Repositories for the core's ports, over one SQLAlchemy connection per transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import InterfaceError, OperationalError

from assistant.ports import Unavailable
from assistant.sealing import Sealer
from storage.repositories.after_session import SqlAttendance, SqlEvaluations, SqlFollowUps
from storage.repositories.cases import SqlCases
from storage.repositories.conversations import SqlConversations, SqlProcessedEvents
from storage.repositories.curriculum import (
    SqlInvitations,
    SqlLibrary,
    SqlPolls,
    SqlSeriesAlerts,
    SqlSuggestions,
)
from storage.repositories.networks import SqlNetworks, text_hash
from storage.repositories.outbox import SqlAudit, SqlDownloads, SqlOutbox
from storage.repositories.people import SqlConsents, SqlMemberships, SqlPeople
from storage.repositories.sessions import (
    SqlEnrolments,
    SqlReminderPreferences,
    SqlRsvps,
    SqlSchedule,
)


class SqlUnitOfWork:
    def __init__(self, conn: object, sealer: Sealer | None = None) -> None:
        from sqlalchemy import Connection

        assert isinstance(conn, Connection)
        self.processed = SqlProcessedEvents(conn)
        self.conversations = SqlConversations(conn, sealer)
        self.people = SqlPeople(conn)
        self.networks = SqlNetworks(conn)
        self.memberships = SqlMemberships(conn)
        self.consents = SqlConsents(conn)
        self.outbox = SqlOutbox(conn, sealer)
        self.audit = SqlAudit(conn)
        self.schedule = SqlSchedule(conn)
        self.enrolments = SqlEnrolments(conn)
        self.rsvps = SqlRsvps(conn)
        self.reminder_preferences = SqlReminderPreferences(conn)
        self.downloads = SqlDownloads(conn)
        self.cases = SqlCases(conn, sealer)
        self.attendance = SqlAttendance(conn)
        self.follow_ups = SqlFollowUps(conn, sealer)
        self.evaluations = SqlEvaluations(conn, sealer)
        self.library = SqlLibrary(conn)
        self.series_alerts = SqlSeriesAlerts(conn)
        self.suggestions = SqlSuggestions(conn, sealer)
        self.polls = SqlPolls(conn)
        self.invitations = SqlInvitations(conn)


class SqlStore:
    def __init__(self, engine: Engine, sealer: Sealer | None = None) -> None:
        self.engine = engine
        self._sealer = sealer
        # SQLite has one writer at a time. Taking turns in-process is fair and prompt, where
        # SQLite's busy handler sleeps in growing steps (measured: p99 waits over 100 ms with
        # seven threads); other processes still wait on the busy timeout.
        self._one_writer: AbstractContextManager[Any] = (
            threading.RLock() if engine.dialect.name == "sqlite" else nullcontext())

    @contextmanager
    def transaction(self) -> Iterator[SqlUnitOfWork]:
        with self._one_writer:
            try:
                connection = self.engine.connect()
            except OperationalError as down:
                raise Unavailable(type(down.orig).__name__) from down
            try:
                with connection, connection.begin():
                    yield SqlUnitOfWork(connection, self._sealer)
            except (OperationalError, InterfaceError) as lost:
                if not _unavailable(lost):
                    raise  # a mistake in a statement is a bug, not an outage
                # The server went away (or SQLite stayed locked) mid-transaction: nothing
                # was committed, so the caller may say "try again later" and lose nothing.
                raise Unavailable(type(lost.orig).__name__) from lost

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except OperationalError:
            return False


def _unavailable(error: OperationalError | InterfaceError) -> bool:
    # A full disk or a read-only file (SQLITE_FULL, SQLITE_READONLY) takes no write until
    # someone makes room or fixes the permissions: like an outage, nothing was committed.
    message = str(error.orig).lower()
    return (isinstance(error, InterfaceError) or error.connection_invalidated
            or any(sign in message for sign in ("locked", "terminating connection",
                                                 "server closed", "connection", "disk i/o",
                                                 "disk is full", "readonly database")))


__all__ = ["SqlStore", "SqlUnitOfWork", "text_hash"]
