"""SIGKILL `spoke serve` in the middle of a 500-reminder fan-out: every participant still gets
exactly one reminder.

Real `spoke serve` processes send to the local Slack mock on the real clock. 500 people are
registered for a session starting in 50 minutes, so each has one "hour" reminder due at once
(the "day" one has passed). A replica is killed while the mock is still answering some of its
chat.postMessage calls: those messages reach Slack but the outbox never hears so. Their rows stay
leased (SPOKE_OUTBOX_LEASE_SECONDS=10, not 60), another sender retakes them, finds the row id in
the DM's `conversations.history` metadata and does not post again (STYLE §6).

- SQLite: one replica, killed, then a new one on the same file.
- PostgreSQL: two replicas; one is killed, the other finishes alone.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from assistant.clock import SystemClock
from assistant.i18n import translate
from assistant.model import Series, Session
from assistant.services.schedule import add_session
from storage.engine import make_engine
from storage.repositories import SqlUnitOfWork
from storage.scratch import scratch_database
from storage.tables import RsvpRow
from tests.community import OPERATOR
from tests.faults.support import (
    InFlightSlackApi,
    Kill,
    Participant,
    Replica,
    add_participants,
    check_exactly_once,
    kill_mid_fanout,
    prepare,
    start_fanout_api,
    start_replica,
    start_replicas,
    stop_all,
    table,
    user_id,
    wait_until_all_sent,
)

pytestmark = pytest.mark.slow

FANOUT = 500
KILL_AFTER = 100         # posted before the kill: the fan-out is well under way
TOPIC = "Pain at the end of life"


@pytest.fixture
async def slack_api() -> AsyncIterator[InFlightSlackApi]:
    """Replaces the shared `slack_api` here: this one knows the 500 people's DMs, tells the
    replicas apart and answers chat.postMessage after a delay."""
    api = await start_fanout_api([user_id(n) for n in range(FANOUT)])
    yield api
    await api.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'spoke.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with scratch_database(os.environ["SPOKE_TEST_POSTGRES_URL"]) as url:
        yield url


# ---------------------------------------------------------------------------------- the tests


async def test_a_killed_server_restarted_sends_every_reminder_exactly_once(
        sqlite_url: str, slack_api: InFlightSlackApi, tmp_path: Path) -> None:
    fanout = prepare(sqlite_url)
    replicas: list[Replica] = []
    try:
        replicas.append(await start_replica("first", sqlite_url, slack_api, tmp_path))
        people, session_id = schedule_fanout(sqlite_url, fanout)
        kill = await kill_mid_fanout(replicas, slack_api, FANOUT, KILL_AFTER)
        replicas.append(await start_replica("second", sqlite_url, slack_api, tmp_path))
        await wait_until_all_sent(sqlite_url, f"session:{session_id}", slack_api, FANOUT)
    finally:
        errors = await stop_all(replicas)
    check_reminders(sqlite_url, session_id, people, fanout, slack_api, kill)
    assert errors["second"] == "" and replicas[1].process.returncode == 0, errors["second"]


@pytest.mark.postgres
async def test_two_replicas_one_killed_every_reminder_goes_exactly_once(
        postgres_url: str, slack_api: InFlightSlackApi, tmp_path: Path) -> None:
    fanout = prepare(postgres_url)
    replicas: list[Replica] = []
    try:
        await start_replicas(["a", "b"], postgres_url, slack_api, tmp_path, replicas)
        people, session_id = schedule_fanout(postgres_url, fanout)
        kill = await kill_mid_fanout(replicas, slack_api, FANOUT, KILL_AFTER, both_sending=True)
        await wait_until_all_sent(postgres_url, f"session:{session_id}", slack_api, FANOUT)
    finally:
        errors = await stop_all(replicas)
    check_reminders(postgres_url, session_id, people, fanout, slack_api, kill)
    survivor = next(r for r in replicas if r is not kill.replica)
    assert errors[survivor.name] == "" and survivor.process.returncode == 0, errors[survivor.name]
    assert slack_api.posted_by[survivor.token] > 0


# ---------------------------------------------------------------------------------- the data


def schedule_fanout(url: str, fanout: Series) -> tuple[list[Participant], int]:
    """500 registered Slack users and a session of theirs starting in 50 minutes, in one
    transaction, so a running sender sees all of it or none. Everyone answered "going": their
    hour reminder then goes whatever their quiet hours and work days, so the test does not
    depend on the hour or weekday it runs."""
    now = SystemClock().now()
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            made = add_session(SqlUnitOfWork(connection), OPERATOR, fanout, now + timedelta(minutes=50),
                               60, now, {"topic": TOPIC, "expert": "Dr Rao"})
            assert isinstance(made, Session), made
            people = add_participants(connection, fanout, FANOUT, now)
            connection.execute(insert(table(RsvpRow)), [
                {"session_id": made.id, "person_id": p.person_id, "answer": "going", "at": now}
                for p in people])
    finally:
        engine.dispose()
    return people, made.id


# ---------------------------------------------------------------------------------- the checks


def check_reminders(url: str, session_id: int, people: list[Participant], fanout: Series,
                    slack_api: InFlightSlackApi, kill: Kill) -> None:
    messages = check_exactly_once(url, f"session:{session_id}", people, slack_api, kill)
    assert kill.posted >= KILL_AFTER
    title = f"{fanout.title}: {TOPIC}"
    for person in people:
        assert translate("sessions.heading.hour", person.language, title=title) in (
            messages[person.person_id]["text"])
